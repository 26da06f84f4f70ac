"""Shaft axis, 2D tool tip and jaw opening of one instrument from its pixels (pure NumPy/OpenCV).

Coordinates are pixel centres ``(u, v)`` = (column, row) of the mask, as in ``camera_info``.

Rules (the contract of :class:`~surg_perception.instruments.instances.Instance`):

- **Shaft axis**: a least-squares line (``cv2.fitLine``, L2 = the principal axis) through the
  shaft pixels (part 1) when the part mask gives at least ``min_part_pixels`` of them, else
  through all the instance's pixels. It is oriented towards the tip: with parts, from the
  shaft towards the claspers (or the wrist); without parts, towards the end of the instance
  that lies farther from the image border (the shaft enters the view from outside).
- **2D tip with claspers** (part 3): the jaws are told apart by the gap between them (the
  deepest forward-opening notch of the claspers' outline); the tool tip is midway between
  the two jaw tips (the generator's tool-tip point), each jaw's tip taken along that jaw's
  own line fit, or the distal end of the claspers along the shaft when no gap shows (closed
  jaws, or jaws opening towards the camera). The jaw opening is the image-plane angle
  between the line fits of the two jaws (foreshortened: it under-reads jaws that open out
  of the image plane), 0 without a gap, ``None`` for jawless classes or too few clasper
  pixels. Details: :func:`jaw_tip`.
- **2D tip of a jawless class with a tip part** (the suction tube's part 30 -> 3): the end of
  the tip part on its own axis, :func:`axis_end` (the generator's tip is the tube's end).
- **2D tip without claspers**: the mean of the instance's pixels within ``tip_band_px`` of the
  farthest one along the shaft axis.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

SHAFT, WRIST, CLASPERS = 1, 2, 3  # part classes of the loaders (data/endovis17.py PART_IDS)


@dataclasses.dataclass(frozen=True)
class ShaftAxis:
    """A 2D line through ``point`` along unit ``direction`` (towards the tip), pixels.

    ``line_2d`` is ``(a, b, c)`` with ``a u + b v + c = 0`` and ``a^2 + b^2 = 1``, the form of
    the synthetic ground truth (``synth_gt.jsonl``).
    """

    point: tuple[float, float]
    direction: tuple[float, float]

    @property
    def line_2d(self) -> tuple[float, float, float]:
        (u, v), (du, dv) = self.point, self.direction
        a, b = -dv, du
        return (a, b, -(a * u + b * v))


def pixel_coords(mask: np.ndarray) -> np.ndarray:
    """``[N, 2]`` float (u, v) of the true pixels of a 2D mask."""
    rows, cols = np.nonzero(mask)
    return np.stack([cols, rows], axis=1).astype(np.float64)


def fit_direction(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid and unit direction of the L2 line through ``points`` [N >= 2, 2]."""
    line = cv2.fitLine(points.astype(np.float32), cv2.DIST_L2, 0, 0.01, 0.01).ravel()
    direction = line[:2].astype(np.float64)
    return points.mean(axis=0), direction / np.linalg.norm(direction)


def _border_distance(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    return np.minimum.reduce([points[:, 0], points[:, 1], w - 1 - points[:, 0],
                              h - 1 - points[:, 1]])


def orient_by_border(points: np.ndarray, centre: np.ndarray, direction: np.ndarray,
                     shape: tuple[int, int]) -> np.ndarray:
    """``direction`` or its opposite: towards the axis end that lies farther from the border."""
    s = (points - centre) @ direction
    ends = points[[int(np.argmax(s)), int(np.argmin(s))]]
    far, near = _border_distance(ends, shape)
    return direction if far >= near else -direction


def shaft_axis(points: np.ndarray, parts: np.ndarray | None, shape: tuple[int, int],
               min_part_pixels: int) -> ShaftAxis:
    """The instance's shaft axis (module docstring); ``parts`` = part class per point or None."""
    use = points
    if parts is not None and np.count_nonzero(parts == SHAFT) >= min_part_pixels:
        use = points[parts == SHAFT]
    centre, direction = fit_direction(use)
    distal = None
    if parts is not None:
        for part in (CLASPERS, WRIST):
            if np.count_nonzero(parts == part) >= min_part_pixels:
                distal = points[parts == part].mean(axis=0)
                break
    if distal is not None and np.linalg.norm(distal - centre) > 1.0:
        direction = direction if (distal - centre) @ direction >= 0 else -direction
    else:
        direction = orient_by_border(points, centre, direction, shape)
    return ShaftAxis((float(centre[0]), float(centre[1])),
                     (float(direction[0]), float(direction[1])))


def _notch(claspers: np.ndarray, min_depth: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The gap between the jaws: the deepest convexity defect of the claspers' outline, if at
    least ``min_depth`` pixels deep, as (its deepest point, the middle of the hull edge that
    spans it); None for closed-looking jaws."""
    lo = claspers.min(axis=0).astype(int)
    size = claspers.max(axis=0).astype(int) - lo + 1
    crop = np.zeros((size[1] + 2, size[0] + 2), np.uint8)
    p = claspers.astype(int) - lo + 1
    crop[p[:, 1], p[:, 0]] = 1
    contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=len)
    if len(outline) < 4:
        return None
    hull = cv2.convexHull(outline, returnPoints=False)
    try:
        defects = cv2.convexityDefects(outline, hull)
    except cv2.error:  # self-intersecting hull order on tiny outlines
        return None
    if defects is None or not len(defects):
        return None
    defects = defects.reshape(-1, 4)
    best = defects[int(np.argmax(defects[:, 3]))]
    if best[3] / 256.0 < min_depth:
        return None
    ring = outline.reshape(-1, 2).astype(np.float64) + lo - 1
    return ring[best[2]], (ring[best[0]] + ring[best[1]]) / 2


def axis_end(points: np.ndarray, direction: np.ndarray, band: float) -> np.ndarray:
    """The distal end of a part on its centre line: the farthest position along unit
    ``direction``, at the mean across-position of the points within ``band`` (pixels) of it.

    The suction tube's tip is the end of its hemispherical cap on the axis: the band's mean
    along the axis sits inside the cap (4.1 -> 1.4 px median on the development seed), and
    the across-position at the middle of the end keeps it off the cap's corner. Jaws use the
    band's mean instead (:func:`jaw_tip`).
    """
    normal = np.array([-direction[1], direction[0]])
    along, across = points @ direction, points @ normal
    reach = along.max()
    return reach * direction + float(across[along >= reach - band].mean()) * normal


def part_direction(points: np.ndarray, forward: np.ndarray, max_turn_deg: float = 60.0
                   ) -> np.ndarray:
    """The principal axis of ``points`` oriented along ``forward``, or ``forward`` itself when
    the points are too few or their axis turns by more than ``max_turn_deg`` (a part seen
    end-on or wider than long has no reliable axis of its own)."""
    if len(points) < 3:
        return forward
    direction = fit_direction(points)[1]
    cosine = float(direction @ forward)
    if abs(cosine) < np.cos(np.radians(max_turn_deg)):
        return forward
    return direction if cosine >= 0 else -direction


def jaw_tip(claspers: np.ndarray, shaft_dir: np.ndarray,
            band: float = 0.05) -> tuple[np.ndarray, float]:
    """Tool tip (u, v) and image-plane jaw opening (rad) from clasper pixels [N, 2].

    When the outline has a notch (:func:`_notch`, at least 8 % of the claspers' length deep,
    opening forwards), the line from its deepest point to the middle of the hull edge across
    it splits the pixels into the two jaws; each jaw's tip is taken along
    its own line fit (the mean of its pixels within ``band`` (fraction of the claspers' length)
    of its farthest one along that fit), the tool tip is midway between them and the
    opening is the angle between the two jaws' line fits. Without a notch the jaws count as
    one: the tip is the mean of the pixels within ``band`` of the farthest along the shaft
    (not the extreme: stacked closed jaws put the tool tip behind the silhouette's end), the
    opening 0.
    """
    along = claspers @ shaft_dir
    length = float(along.max() - along.min())
    found = _notch(claspers, 0.08 * length) if length >= 4 else None
    cross = np.zeros(0)
    if found is not None:
        pivot, mouth = found
        ray = (mouth - pivot) / max(float(np.linalg.norm(mouth - pivot)), 1e-9)
        if ray @ shaft_dir > 0.5:  # a gap that opens forwards (not a step on one side)
            cross = (claspers - pivot) @ np.array([-ray[1], ray[0]])
    if not ((cross > 0).any() and (cross < 0).any()):
        return claspers[along >= along.max() - band * length].mean(axis=0), 0.0
    tips, arms = [], []
    for side in (cross > 0, cross < 0):
        arm = part_direction(claspers[side], ray, 90.0)
        arms.append(arm)
        reach = claspers[side] @ arm
        tips.append(claspers[side][reach >= reach.max() - band * length].mean(axis=0))
    cosine = float(np.clip(arms[0] @ arms[1], -1.0, 1.0))
    return (tips[0] + tips[1]) / 2, float(np.arccos(cosine))


def distal_tip(points: np.ndarray, axis: ShaftAxis, band_px: float) -> np.ndarray:
    """Mean of the points within ``band_px`` of the farthest one along the axis."""
    s = (points - np.asarray(axis.point)) @ np.asarray(axis.direction)
    return points[s >= s.max() - band_px].mean(axis=0)
