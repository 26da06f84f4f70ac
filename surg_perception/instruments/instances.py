"""One instance per instrument from a type mask (+ optional part mask, + optional detections).

Pieces are the connected components (8-connectivity) of each instrument type's pixels, at
least ``min_area`` pixels. Then, per type:

1. **Split by detections.** A confident box (``score >= detection_score``, same class) claims
   a piece when it holds at least ``claim_cover`` of the piece's pixels. A piece claimed by two
   or more boxes is split between them: a pixel inside exactly one of the boxes goes to that
   box, any other pixel to the nearest such pixel (Euclidean distance transform). So two
   crossing instruments of one type stay two.
2. **Merge by detections.** Pieces claimed by the same single box form one instance (an
   instrument cut in two by another one passing in front of it).
3. **Merge by the axis** (pieces no box claims): two pieces of one type whose line fits agree
   in direction (``merge_angle_deg``) and pass within ``merge_offset`` (fraction of the image
   diagonal) of each other's centroid form one instance - unless both hold claspers (two
   instruments of one type side by side).

Each instance then gets its shaft axis, 2D tip and jaw opening by the rules of
:mod:`surg_perception.instruments.shaft`. Boxes are ``(x0, y0, x1, y1)`` pixel edges (a pixel
``(u, v)`` covers ``[u, u + 1) x [v, v + 1)``); the score is the best claiming box's, or
``mask_score`` for instances no box claims (a class-id mask carries no confidence).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import cv2
import numpy as np
from scipy import ndimage

from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.instruments.shaft import (
    CLASPERS,
    ShaftAxis,
    axis_end,
    distal_tip,
    fit_direction,
    jaw_tip,
    part_direction,
    shaft_axis,
)


@dataclasses.dataclass(frozen=True)
class InstanceConfig:
    """How pieces become instances and how their geometry is measured (pixels)."""

    min_area: int = 64
    min_part_pixels: int = 16
    tip_band_px: float = 2.0
    detection_score: float = 0.5
    claim_cover: float = 0.3
    merge_angle_deg: float = 12.0
    merge_offset: float = 0.03
    mask_score: float = 1.0
    jawless_classes: tuple[int, ...] = (7,)  # EndoVis 2017 "Other" (suction tube)

    def __post_init__(self) -> None:
        if self.min_area < 2 or self.min_part_pixels < 2:
            raise ConfigError("min_area and min_part_pixels must be >= 2 (a line needs 2)")
        if not 0.0 < self.claim_cover <= 1.0:
            raise ConfigError(f"claim_cover must be in (0, 1], got {self.claim_cover}")


class BoxDetections(NamedTuple):
    """Detections of one frame in the mask's pixels and class ids (numpy)."""

    boxes: np.ndarray  # [N, 4] float xyxy pixel edges
    scores: np.ndarray  # [N]
    labels: np.ndarray  # [N] int class ids of the type mask


@dataclasses.dataclass(frozen=True, eq=False)
class Instance:
    """One instrument in one frame (module docstring for the rules)."""

    mask: np.ndarray  # bool [H, W]
    class_id: int
    score: float
    box: tuple[float, float, float, float]
    shaft_axis: ShaftAxis
    tip_2d: tuple[float, float]
    jaw_opening: float | None
    area: int


def _pieces(type_mask: np.ndarray, cfg: InstanceConfig) -> dict[int, list[np.ndarray]]:
    """class id -> sorted flat pixel indices of each connected component of >= min_area."""
    out: dict[int, list[np.ndarray]] = {}
    width = type_mask.shape[1]
    counts = cv2.calcHist([type_mask], [0], None, [256], [0, 256]).ravel()  # << bincount
    for cls in np.flatnonzero(counts[1:] >= cfg.min_area) + 1:
        # Label only the class's bounding box: the full-frame labelling was most of the cost.
        same = (type_mask == cls).view(np.uint8)
        x0, y0, bw, bh = cv2.boundingRect(same)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            same[y0:y0 + bh, x0:x0 + bw], None, 8)
        groups = []
        for k in range(1, count):
            x, y, w, h, area = stats[k]
            if area >= cfg.min_area:
                rows, cols = np.nonzero(labels[y:y + h, x:x + w] == k)
                groups.append((rows + y + y0) * width + cols + x + x0)
        out[int(cls)] = groups
    return out


def _inside(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Pixels whose centre lies in the box (as in box-fill)."""
    u, v = points[:, 0] + 0.5, points[:, 1] + 0.5
    return (u >= box[0]) & (u <= box[2]) & (v >= box[1]) & (v <= box[3])


def _split(idx: np.ndarray, points: np.ndarray, boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Share one piece between the boxes that claim it (module docstring, rule 1)."""
    inside = np.stack([_inside(points, b) for b in boxes])
    own = inside & (inside.sum(axis=0) == 1)
    keep = [k for k in range(len(boxes)) if own[k].any()]
    if len(keep) < 2:
        return [idx]
    lo = points.min(axis=0).astype(int)
    shape = tuple((points.max(axis=0).astype(int) - lo + 1)[::-1])
    seeds = np.zeros(shape, np.int32)
    for label, k in enumerate(keep, start=1):
        p = points[own[k]].astype(int) - lo
        seeds[p[:, 1], p[:, 0]] = label
    _, (rows, cols) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    p = points.astype(int) - lo
    owner = seeds[rows[p[:, 1], p[:, 0]], cols[p[:, 1], p[:, 0]]]
    return [idx[owner == label] for label in range(1, len(keep) + 1)]


def _collinear(a: np.ndarray, b: np.ndarray, cfg: InstanceConfig, diagonal: float) -> bool:
    (ca, da), (cb, db) = fit_direction(a), fit_direction(b)
    if abs(float(da @ db)) < np.cos(np.radians(cfg.merge_angle_deg)):
        return False
    limit = cfg.merge_offset * diagonal
    return all(abs(float((c2 - c1) @ np.array([-d[1], d[0]]))) <= limit
               for c1, d, c2 in ((ca, da, cb), (cb, db, ca)))


class _Groups:
    """Union-find over piece numbers."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


def _group(pieces, width, parts, boxes, scores, cfg, diagonal):
    """Rules 1-3 for the pieces of one class -> [(flat indices, score)]."""
    split, owner = [], []
    for idx in pieces:
        points = np.stack([idx % width, idx // width], axis=1).astype(np.float64)
        claims = [k for k, b in enumerate(boxes) if _inside(points, b).mean() >= cfg.claim_cover]
        shares = _split(idx, points, [boxes[k] for k in claims]) if len(claims) > 1 else [idx]
        for n, share in enumerate(shares):
            split.append(share)
            owner.append(claims[n] if len(shares) > 1 else (claims[0] if claims else None))
    groups = _Groups(len(split))
    coords = [np.stack([s % width, s // width], axis=1).astype(np.float64) for s in split]
    jaws = [parts is not None and np.count_nonzero(parts.ravel()[s] == CLASPERS)
            >= cfg.min_part_pixels for s in split]
    for i in range(len(split)):
        for j in range(i + 1, len(split)):
            same_box = owner[i] is not None and owner[i] == owner[j]
            if same_box or (owner[i] is None and owner[j] is None and not (jaws[i] and jaws[j])
                            and _collinear(coords[i], coords[j], cfg, diagonal)):
                groups.union(i, j)
    merged: dict[int, list[int]] = {}
    for i in range(len(split)):
        merged.setdefault(groups.find(i), []).append(i)
    out = []
    for members in merged.values():
        claimed = [scores[owner[i]] for i in members if owner[i] is not None]
        # One piece's indices are already row-major sorted; merged ones need sorting.
        idx = (split[members[0]] if len(members) == 1
               else np.sort(np.concatenate([split[i] for i in members])))
        out.append((idx,
                    float(max(claimed)) if claimed else cfg.mask_score))
    return out


def _instance(idx, shape, class_id, score, parts, cfg) -> Instance:
    mask = np.zeros(shape, bool)
    mask.ravel()[idx] = True
    rows, cols = np.divmod(idx, shape[1])
    points = np.stack([cols, rows], axis=1).astype(np.float64)
    labels = None if parts is None else parts.ravel()[idx]
    axis = shaft_axis(points, labels, shape, cfg.min_part_pixels)
    opening = None
    jawless = class_id in cfg.jawless_classes
    if jawless and labels is not None and np.count_nonzero(labels == CLASPERS) >= 2:
        end = points[labels == CLASPERS]  # the tube's tip part: its end is the tip
        tip = axis_end(end, part_direction(end, np.asarray(axis.direction)), cfg.tip_band_px)
    elif labels is not None and np.count_nonzero(labels == CLASPERS) >= cfg.min_part_pixels:
        tip, angle = jaw_tip(points[labels == CLASPERS], np.asarray(axis.direction))
        opening = None if jawless else angle
    else:
        tip = distal_tip(points, axis, cfg.tip_band_px)
    # Per-column reductions of int vectors: [N, 2].min(axis=0) is several times slower.
    box = (float(cols.min()), float(rows[0]), float(cols.max() + 1), float(rows[-1] + 1))
    return Instance(mask, class_id, score, box, axis,
                    (float(tip[0]), float(tip[1])), opening, len(points))


def extract_instances(type_mask: np.ndarray, part_mask: np.ndarray | None = None,
                      detections: BoxDetections | None = None,
                      cfg: InstanceConfig = InstanceConfig()) -> list[Instance]:
    """Instances of one frame: ``type_mask`` uint8 [H, W] class ids (0 = background),
    ``part_mask`` uint8 [H, W] 0 / 1 shaft / 2 wrist / 3 claspers; sorted by class, then area
    (largest first)."""
    if type_mask.ndim != 2 or type_mask.dtype != np.uint8:
        raise ImageFormatError(f"type mask must be uint8 [H, W], got {type_mask.dtype} "
                               f"{type_mask.shape}")
    if part_mask is not None and part_mask.shape != type_mask.shape:
        raise ImageFormatError(f"part mask {part_mask.shape} != type mask {type_mask.shape}")
    h, w = type_mask.shape
    diagonal = float(np.hypot(h, w))
    instances = []
    for cls, pieces in _pieces(type_mask, cfg).items():
        boxes, scores = [], []
        if detections is not None:
            keep = (np.asarray(detections.labels) == cls) & (
                np.asarray(detections.scores) >= cfg.detection_score)
            boxes = list(np.asarray(detections.boxes, np.float64)[keep])
            scores = list(np.asarray(detections.scores, np.float64)[keep])
        found = _group(pieces, w, part_mask, boxes, scores, cfg, diagonal)
        for idx, score in sorted(found, key=lambda item: -item[0].size):
            instances.append(_instance(idx, (h, w), cls, score, part_mask, cfg))
    return instances
