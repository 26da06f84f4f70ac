"""Render one planned frame for one eye: tissue, blood and marks, instruments, smoke, noise.

Order: the tissue plane is warped into the eye and deformed where instruments pull or push
it; pools and marks are painted on it; the endoscope light shades it (falloff with distance,
wet glints); a fast camera pan smears it (motion blur); instruments are drawn far to near
(pairwise depth where two of them overlap, so crossings occlude correctly), each smeared by
its own image motion; cautery smoke goes over everything; last, sensor noise.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from surg_perception.data.synth_camera import Z_NEAR, Camera
from surg_perception.data.synth_effects import apply_smoke, draw_ground, smoke_density
from surg_perception.data.synth_geometry import ToolGeometry, build_tool
from surg_perception.data.synth_plan import Plan, stream
from surg_perception.data.synth_raster import composite, motion_kernel, render_tool
from surg_perception.data.synth_tissue import (
    Tissue,
    deform,
    exposure,
    highlight_weight,
    irradiance,
    make_tissue,
    warp_tissue,
)
from surg_perception.data.synth_tools import SPECS

NOISE_SIGMA = 1.6  # sensor noise, grey levels
NOISE_PAD = 32
EXPOSURE = 0.5  # fraction of the frame interval the shutter is open (motion blur length)
MAX_SMEAR = 0.02


@dataclasses.dataclass(frozen=True)
class Assets:
    """What one sequence needs at one render size, made once."""

    plan: Plan
    tissue: Tissue
    noise: np.ndarray  # float32 [H + pad, W + pad, 3]
    smoke_noise: np.ndarray  # float32 [H / 4, W / 4]
    offsets: np.ndarray  # int [frames, 2 eyes, 2] noise tile offsets


def make_assets(plan: Plan, cam: Camera, seed: int, index: int) -> Assets:
    """Tissue texture, sensor-noise tile and smoke noise of sequence ``index`` for ``cam``."""
    tissue = make_tissue(stream(seed, index, 2), plan.plane, cam, plan.palette)
    rng = stream(seed, index, 3)
    small = (max(4, cam.width // 4), max(4, cam.height // 4))
    smoke = cv2.resize(rng.random((12, 14), dtype=np.float32), small,  # same at every size
                       interpolation=cv2.INTER_CUBIC).clip(0, 1)
    noise = rng.normal(0, NOISE_SIGMA, (cam.height + NOISE_PAD, cam.width + NOISE_PAD, 3))
    offsets = stream(seed, index, 5).integers(0, NOISE_PAD, (len(plan.frames), 2, 2))
    return Assets(plan, tissue, noise.astype(np.float32), smoke, offsets)


@dataclasses.dataclass(frozen=True)
class Rendered:
    image: np.ndarray  # uint8 [H, W, 3] RGB
    instance: np.ndarray  # uint8 [H, W]: 0 none, k + 1 instrument k (after occlusion)
    part: np.ndarray  # uint8 [H, W]: 0 / 10 / 20 / 30
    geometry: list[ToolGeometry]

    def mask(self, k: int) -> np.ndarray:
        """Part mask of instrument ``k`` as written to ground_truth (visible pixels only)."""
        return np.where(self.instance == k + 1, self.part, 0).astype(np.uint8)


@functools.lru_cache(maxsize=64)
def _geometry(plan: Plan, t: int) -> list[ToolGeometry]:
    frame = plan.frames[t]
    return [build_tool(SPECS[i.type_id], s, i.remote)
            for i, s in zip(plan.instruments, frame.tools)]


def _px(cam: Camera, centre: np.ndarray, point: np.ndarray) -> np.ndarray:
    return cam.project(cam.to_eye(point, centre))


def _smear(flow: np.ndarray, cam: Camera) -> np.ndarray:
    """Motion-blur vector (px) of an image motion ``flow`` per frame: the exposure's share,
    at most MAX_SMEAR of the frame width (a faster pan would be a grey streak)."""
    length = float(np.hypot(*flow)) * EXPOSURE
    return flow * EXPOSURE * min(1.0, MAX_SMEAR * cam.width / max(length, 1e-9))


def _tissue_image(assets: Assets, t: int, cam: Camera) -> np.ndarray:
    plan, frame = assets.plan, assets.plan.frames[t]
    ground = warp_tissue(assets.tissue, cam, frame.centre)
    for pull in frame.pulls:
        depth = cam.to_eye(pull.anchor, frame.centre)[2]
        deform(ground, _px(cam, frame.centre, pull.anchor), _px(cam, frame.centre, pull.target),
               pull.radius * cam.fx / max(depth, Z_NEAR), pull.lift)
    draw_ground(ground, list(plan.pools), list(plan.marks), t, plan.plane, cam, frame.centre)
    light = irradiance(assets.tissue, cam, frame.centre,
                       exposure(assets.tissue, cam, frame.centre, plan.gain))
    glint = cv2.multiply(highlight_weight(assets.tissue, cam, frame.centre), light, scale=0.9)
    rgb, shine = cv2.cvtColor(ground, cv2.COLOR_RGBA2RGB), np.ascontiguousarray(ground[:, :, 3])
    image = cv2.multiply(rgb, cv2.merge([light, light, light]), dtype=cv2.CV_32F)
    shine = cv2.multiply(shine, glint, dtype=cv2.CV_32F)
    cv2.add(image, cv2.merge([shine, shine, shine]), dst=image)
    prev = plan.frames[max(t - 1, 0)].centre
    flow = (_px(cam, frame.centre, plan.plane.origin) - _px(cam, prev, plan.plane.origin))
    smear = _smear(flow, cam)
    kernel = motion_kernel(smear) if np.hypot(*smear) >= 2 else None
    if kernel is not None:  # the endoscope pans fast: the whole view smears
        image = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)
    return image


def _depth_order(geoms: list[ToolGeometry], cam: Camera, centre: np.ndarray) -> list[int]:
    """Instrument indices far to near; where two overlap in the image, the nearer at the
    closest pair of axis points wins."""
    samples = []
    for g in geoms:
        pts = cam.to_eye(g.tip - g.axis * np.linspace(0, 0.12, 16)[:, None], centre)
        pts = pts[pts[:, 2] > Z_NEAR]
        samples.append((cam.project(pts), pts[:, 2]) if len(pts) else None)

    def nearer(a: int, b: int) -> int:  # > 0 when a is nearer than b (drawn later)
        if samples[a] is None or samples[b] is None:
            return 0
        (pa, za), (pb, zb) = samples[a], samples[b]
        d = np.linalg.norm(pa[:, None] - pb[None], axis=2)
        i, j = np.unravel_index(np.argmin(d), d.shape)
        return int(np.sign(zb[j] - za[i]))

    return sorted(range(len(geoms)), key=functools.cmp_to_key(nearer))


def render_frame(assets: Assets, t: int, cam: Camera, eye: int = 0) -> Rendered:
    """Frame ``t`` seen by ``cam`` (eye 0 left, 1 right)."""
    plan, frame = assets.plan, assets.plan.frames[t]
    image = _tissue_image(assets, t, cam)
    h, w = image.shape[:2]
    instance, part = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    geoms = _geometry(plan, t)
    prev_geoms = _geometry(plan, max(t - 1, 0))
    prev_centre = plan.frames[max(t - 1, 0)].centre
    gain = exposure(assets.tissue, cam, frame.centre, plan.gain)
    for k in _depth_order(geoms, cam, frame.centre):
        motion = _smear(_px(cam, frame.centre, geoms[k].tip)
                        - _px(cam, prev_centre, prev_geoms[k].tip), cam)
        layer = render_tool(geoms[k], cam, frame.centre, motion, gain)
        if layer is None:
            continue
        composite(image, layer)
        lh, lw = layer.part.shape
        hit = layer.part > 0
        instance[layer.y0:layer.y0 + lh, layer.x0:layer.x0 + lw][hit] = k + 1
        part[layer.y0:layer.y0 + lh, layer.x0:layer.x0 + lw][hit] = layer.part[hit]
    density = smoke_density(list(plan.smokes), t, cam, frame.centre, assets.smoke_noise)
    if density is not None:
        apply_smoke(image, density)
    ox, oy = assets.offsets[t, eye]
    cv2.add(image, assets.noise[oy:oy + h, ox:ox + w], dst=image)
    return Rendered(cv2.convertScaleAbs(np.maximum(image, 0, out=image)), instance, part, geoms)
