"""Instance-level typing: each predicted instrument gets ONE type instead of a per-pixel patchwork.

The segmentation decides types pixel by pixel, so one instrument often comes out as a
patchwork of types. Here an instrument is a connected component (8-connectivity) of the
pixels whose class is an instrument type, and the rule is:

1. majority: the component takes the type most of its pixels have (ties: the lower class id);
2. detections refine it: a confident detection (``score >= threshold``) whose box holds at
   least ``cover`` of the component's pixels decides the type instead - the highest-scoring
   such box when several do (a pixel is inside a box if its centre is, as in box-fill).

Pixels of other classes (background, tissue, thread, ...) are never changed. Two touching
instruments form one component and get one type here; box-fill, which runs after this step
in :func:`~surg_perception.processing.postprocess.postprocess_batch`, then repaints the pixels
inside each confident box with the box's type and so splits them again. The vote is not
weighted by the softmax confidence: only the class-id mask reaches camera resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import math
from typing import NamedTuple

import cv2
import numpy as np
import torch
from torch import Tensor

from surg_perception.classes import ENDOVIS17_INSTRUMENT_TYPES


def _canonical(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " _-")


class TypingClasses(NamedTuple):
    """Which segmentation classes are instrument types, and each detection label's class."""

    type_ids: tuple[int, ...]  # segmentation class ids that are instrument types
    det_to_seg: tuple[int | None, ...]  # label i -> class id (det_to_seg[i - 1]); None: no match


@functools.lru_cache(maxsize=32)
def typing_classes(seg_classes: tuple[str, ...], det_classes: tuple[str, ...]) -> TypingClasses:
    """Instrument-type classes: those named like an EndoVis17 type or like a detection class.

    Names compare ignoring case, spaces, ``_`` and ``-``. A vocabulary without instrument
    types (EndoVis18 parts and organs) gives no type ids, so instance typing leaves its
    masks alone.
    """
    known = {_canonical(n) for n in (*ENDOVIS17_INSTRUMENT_TYPES[1:], *det_classes)}
    index = {_canonical(name): i for i, name in enumerate(seg_classes) if i > 0}
    type_ids = tuple(i for name, i in index.items() if name in known)
    det_to_seg = tuple(index.get(_canonical(name)) for name in det_classes)
    return TypingClasses(tuple(sorted(type_ids)), det_to_seg)


def _span(start: float, end: float, size: int) -> tuple[int, int]:
    """Pixels whose centres lie in ``[start, end)`` (box-fill's convention)."""
    return (min(max(math.ceil(start - 0.5), 0), size), min(max(math.ceil(end - 0.5), 0), size))


class Components(NamedTuple):
    """The instruments of one class-id mask: the connected components (8-connectivity) of
    its instrument-type pixels. Computed once per frame for instance typing and boxes."""

    count: int  # components + 1 (id 0 is "no component")
    ids: np.ndarray  # [H, W] int32 component id per pixel
    stats: np.ndarray  # [count, 5] OpenCV stats rows (x, y, width, height, area)
    votes: np.ndarray  # [count, 256] pixels of each class id per component (row 0: none)


def instrument_components(host: np.ndarray, type_ids: Sequence[int]) -> Components:
    """:class:`Components` of ``host`` ``[H, W]`` uint8 class ids (a host array)."""
    is_type = np.zeros(256, np.uint8)
    is_type[list(type_ids)] = 1
    count, ids, stats, _ = cv2.connectedComponentsWithStats(is_type[host], connectivity=8,
                                                            ltype=cv2.CV_32S)
    foreground = np.flatnonzero(ids)
    members = ids.ravel()[foreground].astype(np.int64)
    types = host.ravel()[foreground].astype(np.int64)
    votes = np.bincount(members * 256 + types, minlength=count * 256).reshape(count, 256)
    return Components(count, ids, stats, votes)


def _box_decisions(components: np.ndarray, sizes: np.ndarray, boxes: np.ndarray,
                   scores: np.ndarray, classes: Sequence[int | None], cover: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per component (``sizes``: its pixel count): the type set by the best covering box,
    and whether one did."""
    count = len(sizes)
    best = np.full(count, -np.inf)
    decided = np.zeros(count, np.int64)
    height, width = components.shape
    for (x0, y0, x1, y1), score, seg_id in zip(boxes.tolist(), scores.tolist(), classes):
        (c0, c1), (r0, r1) = _span(x0, x1, width), _span(y0, y1, height)
        if seg_id is None or c0 >= c1 or r0 >= r1:
            continue
        inside = np.bincount(components[r0:r1, c0:c1].ravel(), minlength=count)
        wins = (inside >= cover * sizes) & (score > best)
        wins[0] = False  # label 0 is "no component"
        decided[wins], best[wins] = seg_id, score
    return decided, np.isfinite(best)


def instance_typing(mask: Tensor, classes: TypingClasses, boxes: Tensor | None = None,
                    scores: Tensor | None = None, labels: Tensor | None = None,
                    threshold: float = 0.5, cover: float = 0.5,
                    components: Components | None = None) -> Tensor:
    """One type per instrument component of ``mask`` (returns a new mask, same device).

    Args:
        mask: ``[H, W]`` uint8 class ids, camera resolution, any device.
        classes: :func:`typing_classes` of the model's vocabularies.
        boxes: ``[N, 4]`` xyxy in the mask's pixels (or None: majority vote only).
        scores: ``[N]`` detection confidences; labels: ``[N]`` int64 in ``1..K``.
        threshold: boxes at or above this score may decide a component's type.
        cover: share of a component's pixels its deciding box must hold.
        components: :func:`instrument_components` of ``mask``, when already computed.
    """
    if not classes.type_ids:
        return mask.clone()
    # Connected components need OpenCV on the host: one download of the uint8 mask.
    host = mask.cpu().numpy()
    found = components or instrument_components(host, classes.type_ids)
    count, ids = found.count, found.ids
    if count <= 1:
        return mask.clone()
    foreground = np.flatnonzero(ids)  # only instrument pixels vote and change
    members = ids.ravel()[foreground]
    types = found.votes.argmax(axis=1)
    if boxes is not None and len(boxes):
        keep = (scores >= threshold).cpu().numpy()
        label_list = labels.cpu().numpy()[keep].tolist()
        seg_ids = [classes.det_to_seg[label - 1] for label in label_list]
        sizes = found.stats[:, cv2.CC_STAT_AREA]
        decided, by_box = _box_decisions(ids, sizes, boxes.cpu().numpy()[keep],
                                         scores.cpu().numpy()[keep], seg_ids, cover)
        types = np.where(by_box, decided, types)
    out = host.copy()
    out.ravel()[foreground] = types.astype(np.uint8)[members]
    return torch.from_numpy(out).to(mask.device)
