"""AP-MTL box-fill: confident detections relabel the instrument pixels inside their box.

The segmentation decoder finds instruments well but confuses their types; the detector's
boxes carry the type. For every detection with ``score >= threshold``, the pixels inside
its box that the segmentation marks as instrument (class id != 0) take the box's class.
Where boxes overlap, the higher-scoring box wins.

Class mapping: detection label ``i`` (1-based, ``det_classes[i - 1]``) becomes the
segmentation class with the same name. Names are compared exactly first, then ignoring
case, spaces, ``_`` and ``-`` ("Bipolar Forceps" == "bipolar_forceps"). A detection class
with no segmentation counterpart is a :class:`ConfigError` (e.g. EndoVis18 part labels
against EndoVis17 instrument types): turn box-fill off for such models.
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import math
from typing import NamedTuple

import torch
from torch import Tensor

from surg_perception.errors import ConfigError


def _canonical(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " _-")


@functools.lru_cache(maxsize=32)
def det_to_seg_map(det_classes: tuple[str, ...], seg_classes: tuple[str, ...]) -> tuple[int, ...]:
    """Segmentation class id for each detection label: ``result[i - 1]`` for label ``i``.

    Raises:
        ConfigError: a detection class has no segmentation class of the same name.
    """
    exact = {name: index for index, name in enumerate(seg_classes)}
    loose = {_canonical(name): index for index, name in enumerate(seg_classes)}
    mapping, missing = [], []
    for name in det_classes:
        index = exact.get(name, loose.get(_canonical(name)))
        if index is None or index == 0:
            missing.append(name)
        mapping.append(index)
    if missing:
        raise ConfigError(
            f"box-fill: detection class(es) {missing} have no segmentation class of the same "
            f"name among {list(seg_classes[1:])}; rename the classes to match or set "
            "postprocess.box_fill: false"
        )
    return tuple(mapping)


def _pixel_span(start: float, end: float, size: int) -> tuple[int, int]:
    """Pixels whose centres lie in ``[start, end)``: ``j`` with ``start <= j + 0.5 < end``."""
    first = min(max(math.ceil(start - 0.5), 0), size)
    stop = min(max(math.ceil(end - 0.5), 0), size)
    return first, stop


def box_fill(
    mask: Tensor,
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    det_to_seg: Sequence[int],
    threshold: float,
) -> Tensor:
    """Relabel instrument pixels inside confident boxes (returns a new mask).

    Args:
        mask: ``[H, W]`` uint8 class ids (0 = background), any device.
        boxes: ``[N, 4]`` xyxy in the mask's pixel coordinates (pixel ``(i, j)`` covers
            ``[j, j + 1) x [i, i + 1)``; a pixel is inside a box if its centre is).
        scores: ``[N]`` detection confidences.
        labels: ``[N]`` int64 detection labels in ``1..K``.
        det_to_seg: segmentation class of each label (see :func:`det_to_seg_map`).
        threshold: boxes with ``score >= threshold`` fill their pixels.

    Returns:
        ``[H, W]`` uint8 on the mask's device.
    """
    height, width = mask.shape
    keep = scores >= threshold
    # Lowest score first, so higher-scoring boxes paint over overlaps last.
    order = torch.argsort(scores[keep], stable=True)
    # Integer pixel bounds are needed to slice: one small download for all boxes.
    chosen = list(zip(boxes[keep][order].tolist(), labels[keep][order].tolist()))
    filled = mask.clone()
    for (x0, y0, x1, y1), label in chosen:
        c0, c1 = _pixel_span(x0, x1, width)
        r0, r1 = _pixel_span(y0, y1, height)
        if c0 >= c1 or r0 >= r1:
            continue
        instrument = mask[r0:r1, c0:c1] != 0
        # masked_fill_ on the view, not boolean indexing, which would sync to count pixels.
        filled[r0:r1, c0:c1].masked_fill_(instrument, det_to_seg[label - 1])
    return filled


class BoxFillEffect(NamedTuple):
    """Masks without and with box-fill, to measure what it changes (e.g. type Dice)."""

    before: Tensor  # [H, W] uint8
    after: Tensor  # [H, W] uint8
    changed_pixels: int


def box_fill_effect(
    mask: Tensor,
    boxes: Tensor,
    scores: Tensor,
    labels: Tensor,
    det_to_seg: Sequence[int],
    threshold: float,
) -> BoxFillEffect:
    """Run :func:`box_fill` and return both masks plus the number of relabelled pixels."""
    after = box_fill(mask, boxes, scores, labels, det_to_seg, threshold)
    return BoxFillEffect(mask, after, int((after != mask).sum()))
