"""Tissue: a textured plane 5-18 cm in front of the endoscope, seen through a homography.

The texture (albedo RGB + a wet-glint channel) is made once per sequence from value noise
whose random grids have fixed sizes, so a scene looks the same at every output size: palette
blend, fat patches, vessels, bump shading and sparse glints. Per frame the plane is warped into
the eye (``cv2.warpPerspective``), pulled or pushed where an instrument holds it
(``cv2.remap`` around the contact point) and lit by the endoscope: irradiance ``cos^3(theta) *
(z_ref / d)^2`` for a plane at distance d (1/z is affine over a plane's image), with wet
highlights strongest where the plane faces the lens.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np

from surg_perception.data.synth_camera import Camera

PALETTES = (  # (dark, mid, light, fat) RGB 0..255
    ((105, 30, 38), (190, 80, 80), (240, 150, 140), (230, 195, 120)),
    ((70, 15, 18), (145, 42, 36), (205, 92, 76), (215, 170, 100)),
    ((130, 50, 60), (215, 120, 115), (250, 185, 170), (240, 215, 150)),
    ((120, 55, 40), (200, 135, 90), (240, 200, 140), (250, 230, 170)),
    ((85, 12, 18), (170, 44, 44), (225, 105, 95), (225, 180, 110)),
)
Z_REF = 0.10
TEXEL = 0.6  # texture detail relative to the image at the plane's distance


@dataclasses.dataclass(frozen=True)
class Plane:
    """Tissue plane: a point, unit normal towards the camera, in-plane unit axes."""

    origin: np.ndarray
    normal: np.ndarray
    e1: np.ndarray
    e2: np.ndarray

    def intersect(self, start: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """Where the ray start + s * direction meets the plane."""
        s = np.dot(self.origin - start, self.normal) / np.dot(direction, self.normal)
        return start + s * direction

    def height(self, point: np.ndarray) -> float:
        """Signed distance of ``point`` above the plane (towards the camera)."""
        return float(np.dot(point - self.origin, self.normal))

    def foot(self, point: np.ndarray) -> np.ndarray:
        """Closest plane point to ``point``."""
        return point - self.height(point) * self.normal


def make_plane(distance: float, tilt: tuple[float, float]) -> Plane:
    """Plane through (0, 0, distance) whose normal is tilted by (about x, about y) radians."""
    ax, ay = tilt
    normal = np.array([np.sin(ay), -np.sin(ax) * np.cos(ay), -np.cos(ax) * np.cos(ay)])
    e1 = np.cross([0.0, 1.0, 0.0], normal)
    e1 /= np.linalg.norm(e1)
    return Plane(np.array([0.0, 0.0, distance]), normal, e1, np.cross(normal, e1))


@dataclasses.dataclass(frozen=True)
class Tissue:
    plane: Plane
    half_extent: tuple[float, float]  # metres covered by the texture around the origin
    texture: np.ndarray  # uint8 [Th, Tw, 4]: RGB albedo + glint

    def homography(self, cam: Camera, centre: np.ndarray) -> np.ndarray:
        """Texture pixel -> image pixel of ``cam`` at camera centre ``centre``."""
        th, tw = self.texture.shape[:2]
        hu, hv = self.half_extent
        su, sv = 2 * hu / tw, 2 * hv / th
        to_plane = np.array([[su, 0, -hu + su / 2], [0, sv, -hv + sv / 2], [0, 0, 1]])
        eye_origin = cam.to_eye(self.plane.origin, centre)
        return cam.k() @ np.column_stack([self.plane.e1, self.plane.e2, eye_origin]) @ to_plane


def _noise(rng: np.random.Generator, grid: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Value noise in [0, 1] from a fixed ``grid`` (rows, cols), resized to ``size`` (W, H)."""
    coarse = rng.random(grid, dtype=np.float32)
    return cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _vessels(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Branching dark lines (float32 [H, W] in 0..1) from smooth random walks."""
    w, h = size
    canvas = np.zeros((h, w), np.uint8)
    scale = max(w, h)
    for _ in range(int(rng.integers(4, 9))):
        pos, heading = rng.random(2), rng.uniform(0, 2 * np.pi)
        width = rng.uniform(0.003, 0.008)
        for branch in range(3):  # a trunk and two thinner branches off it
            points, turn = [pos.copy()], rng.normal(0, 0.05)
            for _ in range(int(rng.integers(20, 45))):
                turn = 0.8 * turn + rng.normal(0, 0.06)
                heading += turn
                points.append(points[-1] + 0.01 * np.array([np.cos(heading), np.sin(heading)]))
            pts = np.round(np.array(points) * [w, h] * 16).astype(np.int32)
            cv2.polylines(canvas, [pts], False, 255, max(1, int(width * scale)),
                          cv2.LINE_AA, 4)
            pos = points[int(rng.integers(0, len(points)))]
            heading += rng.choice([-1, 1]) * rng.uniform(0.5, 1.2)
            width *= 0.6
    return cv2.GaussianBlur(canvas, (0, 0), max(0.7, scale * 0.0025)).astype(np.float32) / 255


def _sparkles(rng: np.random.Generator, size: tuple[int, int], count: int) -> np.ndarray:
    """Small soft specular spots and streaks, float32 [H, W] in 0..1."""
    w, h = size
    canvas = np.zeros((h, w), np.float32)
    scale = max(w, h)
    centres = np.round(rng.random((count, 2)) * [w, h] * 16).astype(int)
    radii = rng.uniform(0.0006, 0.0022, count) * scale
    stretch, angles, values = rng.uniform(1, 3.5, count), rng.uniform(0, 180, count), \
        rng.uniform(0.5, 1.0, count)
    for (x, y), r, k, a, v in zip(centres, radii, stretch, angles, values):
        axes = (max(1, int(r * k * 16)), max(1, int(r * 16)))
        cv2.ellipse(canvas, (int(x), int(y)), axes, float(a), 0, 360, float(v), -1,
                    cv2.LINE_AA, 4)
    return cv2.GaussianBlur(canvas, (0, 0), max(0.5, scale * 0.0006))


def make_tissue(rng: np.random.Generator, plane: Plane, cam: Camera, palette: int) -> Tissue:
    """Texture for ``plane`` at the detail ``cam`` needs; ``palette`` indexes PALETTES."""
    dist = float(plane.origin[2])
    # Wide enough for the endoscope's look-away moves (synth_path: up to 9.5 cm sideways).
    hu, hv = 1.3 * dist * cam.cx / cam.fx + 0.11, 1.3 * dist * cam.cy / cam.fy + 0.09
    size = (max(32, int(2 * hu * TEXEL * cam.fx / dist)),
            max(32, int(2 * hv * TEXEL * cam.fy / dist)))
    dark, mid, light, fat_rgb = (np.float32(c) * rng.uniform(0.92, 1.08, 3).astype(np.float32)
                                 for c in PALETTES[palette])
    base = (0.55 * _noise(rng, (7, 8), size) + 0.3 * _noise(rng, (24, 28), size)
            + 0.15 * _noise(rng, (80, 90), size))[:, :, None]
    image = np.where(base < 0.5, dark + (mid - dark) * (base * 2),
                     mid + (light - mid) * (base * 2 - 1))
    fine = _noise(rng, (130, 150), size)
    fat = np.clip((_noise(rng, (6, 7), size) - rng.uniform(0.66, 0.8)) * 4, 0, 1)[:, :, None]
    lobules = (0.8 + 0.4 * _noise(rng, (40, 46), size))[:, :, None]  # fat is lumpy
    image += (fat_rgb * lobules - image) * (fat * 0.75)
    vessel_rgb = np.float32([rng.uniform(90, 140), 12, rng.uniform(30, 70)])
    vessels = _vessels(rng, size)[:, :, None] * np.float32(rng.uniform(0.3, 0.6))
    image += (vessel_rgb - image) * (vessels * (1 - fat))
    height = _noise(rng, (12, 14), size) + 0.25 * _noise(rng, (40, 46), size) + 0.06 * fine
    gy, gx = np.gradient(height * np.float32(size[0]))  # slope per texture width
    relief = np.clip(1.0 - 0.006 * (0.4 * gx + 0.7 * gy), 0.75, 1.25)[:, :, None]
    # Wet glints: sparse sharp sparkles where the tissue is wet, plus a faint broad sheen.
    wet = np.clip((_noise(rng, (10, 12), size) - 0.45) * 3, 0, 1)
    glint = _sparkles(rng, size, 700) * wet + 0.15 * np.clip(height - 0.85, 0, 1)
    texture = np.dstack([np.clip(image * relief, 0, 255), np.clip(glint * 255, 0, 255)])
    return Tissue(plane, (hu, hv), texture.astype(np.uint8))


@functools.lru_cache(maxsize=8)
def _ray_grids(cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rays (z = 1) through a quarter-resolution grid: x (1, w), y (h, 1), vignette / |ray|."""
    w, h = max(8, cam.width // 4), max(8, cam.height // 4)
    rx = ((np.linspace(0, cam.width - 1, w, dtype=np.float32) - cam.cx) / cam.fx)[None, :]
    ry = ((np.linspace(0, cam.height - 1, h, dtype=np.float32) - cam.cy) / cam.fy)[:, None]
    r2 = (rx / rx.max()) ** 2 + (ry / ry.max()) ** 2
    vignette = np.clip(1.0 - 0.22 * r2, 0.3, 1.0)
    return rx, ry, (vignette / np.sqrt(1 + rx ** 2 + ry ** 2)).astype(np.float32)


def exposure(tissue: Tissue, cam: Camera, centre: np.ndarray, gain: float) -> float:
    """Auto-exposure: the factor that lights the tissue at the image centre with ``gain``."""
    n = tissue.plane.normal
    dist = abs(float(np.dot(cam.to_eye(tissue.plane.origin, centre), n)))
    centre_light = abs(n[2]) ** 3 * (Z_REF / dist) ** 2
    return gain / float(np.clip(centre_light, 0.25, 4.0))


def irradiance(tissue: Tissue, cam: Camera, centre: np.ndarray, scale: float) -> np.ndarray:
    """Light reaching the plane per pixel times ``scale``, float32 [H, W] (1 when facing the
    lens at Z_REF). Smooth, so it is computed on a quarter-size grid and resized."""
    rx, ry, vig_over_r = _ray_grids(cam)
    n = tissue.plane.normal
    dist = abs(float(np.dot(cam.to_eye(tissue.plane.origin, centre), n)))
    cos = np.abs(n[0] * rx + n[1] * ry + n[2]) * vig_over_r
    small = np.clip(cos ** 3 * (scale * (Z_REF / dist) ** 2), 0.06, 2.5).astype(np.float32)
    return cv2.resize(small, (cam.width, cam.height), interpolation=cv2.INTER_LINEAR)


def highlight_weight(tissue: Tissue, cam: Camera, centre: np.ndarray) -> np.ndarray:
    """Where wet glints shine (near the plane's point nearest to the lens), float32 [H, W]."""
    eye_origin = cam.to_eye(tissue.plane.origin, centre)
    foot = np.dot(eye_origin, tissue.plane.normal) * tissue.plane.normal
    fx, fy = cam.project(foot) if foot[2] > 0 else (cam.cx, cam.cy)
    sx, sy = 0.4 * cam.width, 0.4 * cam.height
    gx = np.exp(-((np.arange(cam.width, dtype=np.float32) - fx) / sx) ** 2)[None, :]
    gy = np.exp(-((np.arange(cam.height, dtype=np.float32) - fy) / sy) ** 2)[:, None]
    return (0.2 + 0.8 * gx * gy).astype(np.float32)


def warp_tissue(tissue: Tissue, cam: Camera, centre: np.ndarray) -> np.ndarray:
    """The textured plane as seen by ``cam``: uint8 [H, W, 4] (RGB albedo + glint)."""
    return cv2.warpPerspective(tissue.texture, tissue.homography(cam, centre),
                               (cam.width, cam.height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)


def _tent(gx: np.ndarray, gy: np.ndarray, anchor: np.ndarray, target: np.ndarray,
          radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Lifted-tissue tent from ``anchor`` (base) to ``target`` (jaws): body and ridge weights."""
    seg = target - anchor
    length2 = max(float(seg @ seg), 1e-6)
    s = np.clip(((gx - anchor[0]) * seg[0] + (gy - anchor[1]) * seg[1]) / length2, 0, 1)
    dist = np.hypot(gx - anchor[0] - s * seg[0], gy - anchor[1] - s * seg[1])
    width = radius * (1.0 - 0.7 * s)
    body = np.clip(1.0 - dist / width, 0, 1) ** 0.7
    return body, body * np.exp(-(dist / (0.3 * width)) ** 2)


def deform(image: np.ndarray, anchor: np.ndarray, target: np.ndarray, radius: float,
           lift: float) -> None:
    """Drag the tissue at pixel ``anchor`` to ``target`` (Gaussian falloff ``radius`` px),
    in place. ``lift`` > 0: the tissue is lifted into a tent towards the jaws (brighter, with
    a bright ridge and a darker fold round its base); < 0: a pressed, darker dent."""
    h, w = image.shape[:2]
    move = target - anchor
    reach = 2.5 * radius + np.abs(move).max()
    x0, y0 = np.maximum(np.floor(np.minimum(anchor, target) - reach).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(np.maximum(anchor, target) + reach).astype(int) + 1, [w, h])
    if x1 - x0 < 2 or y1 - y0 < 2 or radius < 0.5:
        return
    gx = np.arange(x0, x1, dtype=np.float32)[None, :]
    gy = np.arange(y0, y1, dtype=np.float32)[:, None]
    weight = np.exp(-((gx - target[0]) ** 2 + (gy - target[1]) ** 2) / (2 * radius ** 2))
    map_x = (gx - move[0] * weight).astype(np.float32)
    map_y = (gy - move[1] * weight).astype(np.float32)
    roi = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if lift > 0:
        body, ridge = _tent(gx, gy, anchor, target, radius)
        base = np.hypot(gx - anchor[0], gy - anchor[1]) / radius
        fold = np.exp(-((base - 1.0) / 0.3) ** 2) * (1 - body)
        shade = 1.0 + lift * (1.2 * body + 1.5 * ridge - 1.0 * fold)
    else:
        shade = 1.0 + lift * weight
    roi = roi.astype(np.float32)
    roi[:, :, :3] *= shade[:, :, None]
    image[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)
