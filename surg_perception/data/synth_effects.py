"""Scene events drawn over the tissue: blood pools, char and cut marks, cautery smoke.

Events live in the world (metres) with their own timing, so both eyes and every frame see the
same pool, mark or plume. Pools and marks are painted on the tissue albedo before lighting
(they get the endoscope's falloff, pools keep a wet highlight); smoke is drawn last, over the
instruments, at a quarter of the resolution and resized.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from surg_perception.data.synth_camera import Z_NEAR, Camera
from surg_perception.data.synth_tissue import Plane

BLOOD = np.array([72, 3, 6], np.float32)
CHAR = np.array([45, 28, 22], np.float32)
CUT = np.array([95, 5, 10], np.float32)
SMOKE_LIFE = 7  # frames a puff stays visible
_ANGLES = np.linspace(0, 2 * np.pi, 28, endpoint=False)


@dataclasses.dataclass(frozen=True)
class Pool:
    """Blood pool: grows from ``appear`` to ``full``, shrinks to nothing from ``suck`` to
    ``gone`` (suction) or stays."""

    centre: np.ndarray
    radius: float
    appear: int
    full: int
    shape: np.ndarray  # [len(_ANGLES)] radial factors
    suck: int | None = None
    gone: int | None = None

    def radius_at(self, t: int) -> float:
        if t < self.appear:
            return 0.0
        grow = min(1.0, (t - self.appear + 1) / max(1, self.full - self.appear + 1))
        if self.suck is not None and t >= self.suck:
            grow *= max(0.0, 1.0 - (t - self.suck + 1) / max(1, self.gone - self.suck + 1))
        return self.radius * np.sqrt(grow)


@dataclasses.dataclass(frozen=True)
class Mark:
    """Char spot (``start`` == ``end``) or incision line, drawn from t0 to t1, then kept."""

    kind: str  # 'char' or 'cut'
    start: np.ndarray
    end: np.ndarray
    size: float  # radius / half width (m)
    t0: int
    t1: int


@dataclasses.dataclass(frozen=True)
class Smoke:
    """Cautery plume emitted at ``origin`` from frame t0 to t1 (inclusive)."""

    origin: np.ndarray
    t0: int
    t1: int
    strength: float


def pool_shape(rng: np.random.Generator) -> np.ndarray:
    """Smooth random outline: radial factors over _ANGLES from a few low harmonics."""
    shape = np.ones_like(_ANGLES)
    for k in (2, 3, 5):
        shape += rng.uniform(0.03, 0.16) / k ** 0.5 * np.cos(k * _ANGLES + rng.uniform(0, 6.3))
    return shape


def bleeding(rng: np.random.Generator, plane: Plane, cam: Camera, frames: int) -> list[Pool]:
    """Now and then (35 % of sequences) a pool of blood appears in view and stays; not tied
    to any activity. ``cam`` at the world origin picks where."""
    if rng.random() >= 0.35:
        return []
    q = plane.intersect(np.zeros(3), cam.ray(rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75)))
    appear = int(rng.integers(0, frames))
    return [Pool(q, rng.uniform(0.004, 0.009), appear, appear + 6, pool_shape(rng))]


def _project(cam: Camera, centre: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    eye = cam.to_eye(points, centre)
    return None if (eye[..., 2] < Z_NEAR).any() else cam.project(eye)


def _blend(image: np.ndarray, polygon: np.ndarray, rgb: np.ndarray, alpha: float,
           glint: float | None = None) -> None:
    """Blend an anti-aliased polygon (px) into the uint8 RGB+glint ``image`` in place."""
    h, w = image.shape[:2]
    x0, y0 = np.maximum(np.floor(polygon.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(polygon.max(0)).astype(int) + 3, [w, h])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    pts = np.round((polygon - [x0, y0]) * 16).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA, 4)
    a = (mask.astype(np.float32) * (alpha / 255))[:, :, None]
    roi = image[y0:y1, x0:x1].astype(np.float32)
    roi[:, :, :3] += (rgb - roi[:, :, :3]) * a
    if glint is not None:
        roi[:, :, 3:] += (glint - roi[:, :, 3:]) * a
    image[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)


def draw_ground(image: np.ndarray, pools: list[Pool], marks: list[Mark], t: int,
                plane: Plane, cam: Camera, centre: np.ndarray) -> None:
    """Paint marks and pools present at frame ``t`` onto the warped tissue (uint8, 4 ch)."""
    ring = np.cos(_ANGLES)[:, None] * plane.e1 + np.sin(_ANGLES)[:, None] * plane.e2
    for mark in marks:
        if t < mark.t0:
            continue
        grow = min(1.0, (t - mark.t0 + 1) / (mark.t1 - mark.t0 + 1))
        if mark.kind == "char":
            poly = _project(cam, centre, mark.start + ring * mark.size * np.sqrt(grow))
            if poly is not None:
                _blend(image, poly, CHAR, 0.85, glint=0.0)
            continue
        end = mark.start + (mark.end - mark.start) * grow
        along = (end - mark.start) / max(np.linalg.norm(end - mark.start), 1e-9)
        across = np.cross(plane.normal, along) * mark.size
        quad = np.stack([mark.start + across, end + across * 0.3, end - across * 0.3,
                         mark.start - across])
        poly = _project(cam, centre, quad)
        if poly is not None:
            _blend(image, poly, CUT, 0.9, glint=90.0)
    for pool in pools:
        r = pool.radius_at(t)
        if r < 2e-4:
            continue
        poly = _project(cam, centre, pool.centre + ring * (r * pool.shape)[:, None])
        shine = _project(cam, centre, pool.centre + ring * 0.18 * r - plane.e2 * 0.35 * r)
        if poly is not None:
            _blend(image, poly, BLOOD, 0.92, glint=20.0)
            _blend(image, shine, BLOOD * 1.5, 0.4, glint=255.0)


def smoke_density(smokes: list[Smoke], t: int, cam: Camera, centre: np.ndarray,
                  noise: np.ndarray) -> np.ndarray | None:
    """Smoke opacity at a quarter of the size (float32 [H/4, W/4]) or None without smoke.

    ``noise`` is a per-sequence value-noise image of that size; it scrolls up with the plume.
    """
    h, w = noise.shape
    canvas = np.zeros((h, w), np.float32)
    gx = np.arange(w, dtype=np.float32)[None, :]
    gy = np.arange(h, dtype=np.float32)[:, None]
    any_puff = False
    for smoke in smokes:
        px = _project(cam, centre, smoke.origin[None])
        if px is None:
            continue
        ox, oy = px[0] / 4
        for emitted in range(max(smoke.t0, t - SMOKE_LIFE), min(t, smoke.t1) + 1):
            age = t - emitted  # puffs rise, drift and spread as they age
            x, y = ox + age * 0.008 * w, oy - age * 0.05 * h
            sigma = (0.02 + 0.018 * age) * w
            strength = smoke.strength * np.exp(-age / SMOKE_LIFE * 1.8) * min(1.0, 0.4 + age)
            canvas += strength * np.exp(-((gx - x) ** 2 + (gy - y) ** 2) / (2 * sigma ** 2))
            any_puff = True
    if not any_puff:
        return None
    shift = np.float32([[1, 0, 0], [0, 1, (t * 0.03 * h) % h]])
    scrolled = cv2.warpAffine(noise, shift, (w, h), borderMode=cv2.BORDER_WRAP)
    return np.clip(canvas * (1.6 * scrolled - 0.2), 0, 0.8)


def apply_smoke(image: np.ndarray, density: np.ndarray) -> None:
    """Blend grey-white smoke of quarter-size ``density`` over float RGB ``image``."""
    h, w = image.shape[:2]
    alpha = cv2.resize(density, (w, h), interpolation=cv2.INTER_LINEAR)[:, :, None]
    image *= 1.0 - alpha
    image += alpha * np.array([215, 212, 205], np.float32)
