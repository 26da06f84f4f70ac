"""Run a checkpoint over a dataset through the shared :class:`Predictor` and score it.

The predictor runs with instance typing and box-fill off; the other rows apply
``processing.instance_typing`` and/or ``processing.box_fill`` to the same camera-space mask
and detections, in the predictor's order (typing, then box-fill). So the rows cost one network
pass and measure what the node publishes with each switch; ``instance_typing_box_fill_on`` is
the default output. Detections likewise: the predictor decodes the SSD's boxes alone and
``map50_instance_boxes`` scores them merged with a box per segmented instrument
(``processing.instance_boxes``, from the same mask); ``map50`` is the one the checkpoint's
``postprocess.instance_boxes`` publishes, ``map50_ssd`` the SSD's alone.
Each sequence is one stream: the memory is reset at its first frame.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import math

import numpy as np
import torch

from surg_perception.data.sample import SequenceDataset
from surg_perception.evaluation.metrics import (
    SEG_KEYS,
    DetectionMAP,
    activity_scores,
    hausdorff_distance,
    nanmean,
    segmentation_scores,
)
from surg_perception.evaluation.protocol import ProtocolScores
from surg_perception.predictor import Predictor
from surg_perception.processing.box_fill import box_fill, det_to_seg_map
from surg_perception.processing.detections import Detections
from surg_perception.processing.instance_boxes import instance_boxes, merge_detections
from surg_perception.processing.instance_typing import instance_typing, typing_classes

FILL_ROWS = ("box_fill_off", "box_fill_on")
TYPING_ROWS = ("instance_typing_on", "instance_typing_box_fill_on")  # typing, then box-fill
ROWS = FILL_ROWS + TYPING_ROWS
BOX_SOURCES = ("ssd", "instance_boxes")  # the SSD's boxes; merged with the instruments' boxes
Transform = Callable[[np.ndarray, int], np.ndarray]  # (image, frame index) -> image


class _Scores:
    """Per-frame scores of a group of frames (a sequence, or all of them).

    ``detection=False`` (a family without a detection head): mAP is NaN (null in JSON,
    "n/a" in Markdown), not the 0.0 that empty predictions against real boxes would score.
    """

    def __init__(self, detection: bool = True, classes: tuple[str, ...] = (),
                 published_boxes: str = "ssd") -> None:
        self.protocol = ProtocolScores(classes)  # ISINet protocol rows (protocol.py)
        self.seg = {row: {k: [] for k in SEG_KEYS} for row in ROWS}
        self.hausdorff: list[float] = []
        self.det = {source: DetectionMAP() for source in BOX_SOURCES} if detection else None
        self.published_boxes = published_boxes
        self.activity_pred: list[int] = []
        self.activity_true: list[int] = []
        self.frames = 0

    def summary(self, num_activities: int) -> dict:
        rows = {row: {k: nanmean(v) for k, v in values.items()}
                for row, values in self.seg.items()}
        for row in rows.values():
            row["hausdorff"] = nanmean(self.hausdorff)
        maps = {f"map50_{k}": math.nan if self.det is None else self.det[k].compute()
                for k in BOX_SOURCES}
        out = {"frames": self.frames, **rows, "map50": maps[f"map50_{self.published_boxes}"],
               **maps, "protocol": self.protocol.summary()}
        if self.activity_pred:
            out.update(activity_scores(self.activity_pred, self.activity_true, num_activities))
        return out


def published_row(post) -> str:
    """The row whose masks the predictor publishes with post-processing config ``post``."""
    if post.instance_typing:
        return "instance_typing_box_fill_on" if post.box_fill else "instance_typing_on"
    return "box_fill_on" if post.box_fill else "box_fill_off"


def _filled(predictor: Predictor, result, mask: np.ndarray) -> np.ndarray:
    """``mask`` as the predictor would publish it with box-fill on."""
    cfg = predictor.spec.model
    if not (cfg.detection.enabled and cfg.det_classes) or len(result.scores) == 0:
        return mask
    mapping = det_to_seg_map(tuple(cfg.det_classes), tuple(cfg.seg_classes))
    filled = box_fill(torch.from_numpy(mask), torch.from_numpy(result.boxes),
                      torch.from_numpy(result.scores), torch.from_numpy(result.labels), mapping,
                      predictor.spec.postprocess.box_fill_threshold)
    return filled.numpy()


def _typed(predictor: Predictor, result) -> np.ndarray:
    """The mask the predictor would publish with instance typing on (box-fill off)."""
    cfg, post = predictor.spec.model, predictor.spec.postprocess
    classes = typing_classes(tuple(cfg.seg_classes), tuple(cfg.det_classes))
    return instance_typing(torch.from_numpy(result.mask), classes,
                           torch.from_numpy(result.boxes), torch.from_numpy(result.scores),
                           torch.from_numpy(result.labels), post.box_fill_threshold,
                           post.instance_cover).numpy()


def _row_masks(predictor: Predictor, result) -> dict[str, np.ndarray]:
    typed = _typed(predictor, result)
    return {"box_fill_off": result.mask, "box_fill_on": _filled(predictor, result, result.mask),
            "instance_typing_on": typed,
            "instance_typing_box_fill_on": _filled(predictor, result, typed)}


def published_detections(predictor: Predictor, result) -> Detections:
    """The detections the node publishes for ``result`` (a step of :func:`evaluate`'s
    predictor, which decodes the SSD's boxes alone), per the checkpoint's
    ``postprocess.instance_boxes``."""
    sources = _box_sources(predictor, result)
    return sources["instance_boxes" if predictor.spec.postprocess.instance_boxes else "ssd"]


def _box_sources(predictor: Predictor, result) -> dict[str, Detections]:
    """The frame's detections per :data:`BOX_SOURCES` (the predictor decoded the SSD's)."""
    post, cfg = predictor.postprocess, predictor.spec.model
    ssd = Detections(*(torch.from_numpy(a) for a in (result.boxes, result.scores,
                                                       result.labels)))
    classes = typing_classes(tuple(cfg.seg_classes), tuple(cfg.det_classes))
    found = instance_boxes(torch.from_numpy(result.mask), classes, post.instance_box_min_area,
                           post.score_threshold)
    return {"ssd": ssd, "instance_boxes": merge_detections(found, ssd, post.nms_threshold,
                                                           post.max_detections)}


def _score_frame(groups: list[_Scores], sample, result, masks: dict[str, np.ndarray],
                 num_classes: int, boxes: dict[str, Detections]) -> None:
    scores = {row: segmentation_scores(m, sample.mask, num_classes) for row, m in masks.items()}
    distance = hausdorff_distance(result.mask > 0, sample.mask > 0)
    for group in groups:
        group.frames += 1
        for row in ROWS:
            for key in SEG_KEYS:
                group.seg[row][key].append(scores[row][key])
        group.hausdorff.append(distance)
        group.protocol.update(masks, sample.mask)
        # part_mask is None without a part head (or data without part labels): no part scores
        if result.part_mask is not None and sample.part_mask is not None:
            group.protocol.update_parts(result.part_mask, sample.part_mask)
        if group.det is not None:
            for source, dets in boxes.items():
                group.det[source].update(dets.boxes.numpy(), dets.scores.numpy(),
                                         dets.labels.numpy(), sample.boxes, sample.labels)
        if result.activity_probs is not None:
            group.activity_pred.append(int(np.argmax(result.activity_probs)))
            group.activity_true.append(int(sample.activity))


def evaluate(predictor: Predictor, dataset: SequenceDataset, transform: Transform | None = None,
             max_frames: int | None = None, warmup: int = 2, progress: bool = False,
             memory: bool = True) -> dict:
    """Score ``predictor`` on every sequence of ``dataset``.

    Args:
        predictor: the shared stream predictor (its typing and box-fill switches are turned
            off here; the rows re-apply them).
        dataset: frames with ground truth (masks at the frame's resolution).
        transform: applied to each RGB frame before inference (e.g. a corruption).
        max_frames: frames per sequence (the first ones); None = all.
        warmup: frames at the start of the run left out of the timing.
        memory: False clears the temporal memory before every frame: the same weights
            judged frame by frame, which measures what the memory contributes.

    Returns:
        ``{"overall": {...}, "sequences": {name: {...}}, "timing": {...}}`` where each
        score dict has ``frames``, rows :data:`ROWS` (Dice, IoU, Hausdorff; box-fill off/on,
        instance typing alone and with box-fill), ``map50`` (NaN without a detection head;
        the published boxes) with ``map50_ssd`` and ``map50_instance_boxes``,
        ``protocol`` (ISINet's Challenge IoU / IoU / mcIoU / per-class IoU per row, see
        ``protocol.py``; ``part_iou`` where the results carry a part mask and the dataset
        part labels: a part head, ``EndoVis17Dataset(parts=True)``) and, with an activity
        head, ``activity_accuracy``/``_f1``.
    """
    from tqdm import tqdm

    predictor.postprocess = dataclasses.replace(predictor.postprocess, box_fill=False,
                                                instance_typing=False, instance_boxes=False)
    published = "instance_boxes" if predictor.spec.postprocess.instance_boxes else "ssd"
    num_classes = len(predictor.spec.model.seg_classes)
    num_activities = max(1, len(predictor.spec.model.activity_classes))
    detection = predictor.model.has_detection
    classes = tuple(predictor.spec.model.seg_classes)
    overall, sequences, timings = _Scores(detection, classes, published), {}, []
    groups = dataset.sequence_indices()
    total = sum(len(v[:max_frames]) for v in groups.values())
    with tqdm(total=total, disable=not progress, desc="evaluate") as bar:
        for name, indices in groups.items():
            predictor.reset()
            sequences[name] = _Scores(detection, classes, published)
            for index in indices[:max_frames]:
                if not memory:
                    predictor.reset()
                sample = dataset[index]
                image = sample.image if transform is None else transform(sample.image, index)
                result = predictor.step(image)
                timings.append(result.timings_ms)
                boxes = _box_sources(predictor, result) if detection else {}
                _score_frame([overall, sequences[name]], sample, result,
                             _row_masks(predictor, result), num_classes, boxes)
                bar.update(1)
    return {"overall": overall.summary(num_activities),
            "sequences": {k: v.summary(num_activities) for k, v in sequences.items()},
            "timing": timing_summary(timings[warmup:] or timings)}


def timing_summary(timings: list[dict[str, float]]) -> dict[str, float]:
    """Mean milliseconds per stage and the frames per second of the whole step."""
    stages = sorted({k for t in timings for k in t})
    means = {f"{k}_ms": float(np.mean([t[k] for t in timings if k in t])) for k in stages}
    total = means.get("total_ms") or sum(means.values())
    means["fps"] = 1000.0 / total if total > 0 else math.nan
    return means
