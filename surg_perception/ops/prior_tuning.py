"""Choose extra prior shapes for a dataset's boxes: greedy set cover over (map, shape) pairs.

The SSD shapes of a config are kept; shapes are added one at a time, each time the
(feature map, (w, h)) pair that most raises the number of boxes holding ``min_positives``
priors of IoU >= 0.5, summed over every input size the model must serve. It stops when each
input size reaches ``target`` (share of boxes with ``min_positives``), when no pair helps, or
after ``max_shapes``. Ties go to the pair with fewer priors (a coarser map). Candidate
shapes span the boxes' own widths and heights (a geometric grid between their 2nd and 98th
percentiles), so re-running on new data re-derives the geometry from that data's statistics.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch
from torch import Tensor

from surg_perception.config import DetectionConfig
from surg_perception.ops.prior_coverage import box_prior_stats
from surg_perception.ops.priors import Shape, grid_priors, make_priors


class Layout(NamedTuple):
    """One input size a model must serve and its detection map sizes there."""

    image_size: tuple[int, int]  # (H, W)
    feature_sizes: list[tuple[int, int]]


def box_shapes(gt_boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """``[G, 2]`` (w, h) of normalised xyxy boxes as fractions of the shorter side."""
    height, width = image_size
    short = min(height, width)
    scale = gt_boxes.new_tensor([width / short, height / short])
    return (gt_boxes[:, 2:] - gt_boxes[:, :2]) * scale


def candidate_shapes(gt_boxes: Tensor, image_size: tuple[int, int], steps: int = 12,
                     max_ratio: float = 6.0) -> list[Shape]:
    """(w, h) pairs on a geometric grid spanning the boxes' widths and heights."""
    wh = box_shapes(gt_boxes.double(), image_size).clamp(min=1e-3)
    quantiles = torch.tensor([0.01, 1.0], dtype=torch.float64)
    grids = []
    for column in wh.T:
        low, high = column.quantile(quantiles).log()
        grids.append(torch.linspace(low, high, steps, dtype=torch.float64).exp().tolist())
    return [(round(w, 3), round(h, 3)) for w in grids[0] for h in grids[1]
            if max(w / h, h / w) <= max_ratio]


def _positives(cfg: DetectionConfig, gt_boxes: Tensor, layouts: list[Layout], map_index: int,
               shape: Shape) -> list[Tensor]:
    """Per layout, the positives per box that one shape on one map adds."""
    out = []
    for layout in layouts:
        priors = grid_priors([shape], layout.feature_sizes[map_index], layout.image_size)
        if cfg.clip_priors:
            priors = priors.clamp(0.0, 1.0)
        out.append(box_prior_stats(gt_boxes, priors)[0])
    return out


def _done(counts: list[Tensor], min_positives: int, target: float) -> bool:
    return all(float((c >= min_positives).float().mean()) >= target for c in counts)


def _gain(counts: list[Tensor], added: list[Tensor], min_positives: int) -> int:
    """Positives gained towards ``min_positives`` per box, summed over boxes and layouts."""
    return sum(int((torch.clamp(c + a, max=min_positives) - torch.clamp(c, max=min_positives))
                   .sum()) for c, a in zip(counts, added))


def suggest_geometry(cfg: DetectionConfig, gt_boxes: Tensor, layouts: list[Layout],
                     target: float = 0.99, min_positives: int = 4,
                     max_shapes: int = 24) -> DetectionConfig:
    """``cfg`` with ``extra_shapes`` chosen greedily to cover ``gt_boxes`` at every layout.

    Args:
        cfg: the SSD geometry to extend (its own ``extra_shapes`` are discarded first, so a
            re-run does not stack suggestions).
        gt_boxes: ``[G, 4]`` xyxy normalised boxes of the data (all frames).
        layouts: the input sizes to cover (e.g. 256x320 and 512x640 for one model).
        target: share of boxes that must hold ``min_positives`` positives at every layout.
        min_positives: positives (IoU >= 0.5) wanted per box; 4 leaves a margin for boxes
            not in the tuning data.
        max_shapes: most shapes added in all.

    Shapes are in fractions of the shorter side; with ``scale_reference`` != 1 they are
    written in that unit, like the scales.
    """
    base = dataclasses.replace(cfg, extra_shapes=())
    maps = range(len(base.min_scales))
    counts = [box_prior_stats(gt_boxes, make_priors(base, lay.feature_sizes, lay.image_size))[0]
              for lay in layouts]
    table = {(k, shape): _positives(base, gt_boxes, layouts, k, shape)
             for k in maps for shape in candidate_shapes(gt_boxes, layouts[0].image_size)}
    cells = [sum(h * w for h, w in (lay.feature_sizes[k] for lay in layouts)) for k in maps]
    chosen: list[list[Shape]] = [[] for _ in maps]
    for _ in range(max_shapes):
        if not table or _done(counts, min_positives, target):
            break
        # Most boxes helped first; among equals the map with fewer cells (fewer priors).
        scored = {key: (_gain(counts, added, min_positives), -cells[key[0]])
                  for key, added in table.items()}
        best = max(scored, key=scored.__getitem__)
        if scored[best][0] == 0:
            break
        chosen[best[0]].append(best[1])
        counts = [c + a for c, a in zip(counts, table.pop(best))]
    unit = cfg.scale_reference
    extra = tuple(tuple((w * unit, h * unit) for w, h in shapes) for shapes in chosen)
    return dataclasses.replace(base, extra_shapes=extra if any(extra) else ())
