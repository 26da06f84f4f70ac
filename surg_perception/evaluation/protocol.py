"""The published instrument-type protocol: Challenge IoU, IoU, mean class IoU, per-class IoU.

ISINet (MICCAI 2020) and the methods that compare with it (MATIS, SurgicalSAM) report EndoVis
2017/2018 type segmentation with ISINet's evaluation code (``temp_consistency_module/main.py``,
function ``inference``, in BCV-Uniandes/ISINet; SurgicalSAM's ``utils.eval_endovis`` is the same
code). Re-implemented here from that code, on per-frame masks of class ids (0 = background,
classes ``c = 1..C``; values above C are ignored, as there).

Per frame:

- class c is *present* when it occurs in the prediction or in the ground truth; its IoU is
  ``|P_c & G_c| / |P_c | G_c|``, so 0 when it is in only one of them (a missed or a false class);
- frame **IoU** = mean IoU over the present classes. A frame where no class is present (empty
  ground truth and empty prediction) has no value and is skipped;
- frame **Challenge IoU** = mean IoU over the classes of the ground truth only: false classes do
  not lower it, and a frame with empty ground truth has no value (skipped) even when the
  prediction is not empty (such a frame still scores 0 in frame IoU);
- an empty prediction on a non-empty ground truth scores 0 in both and 0 for each class of the
  ground truth (ISINet treats it as a special case; the rules above give the same numbers).

Over a dataset (frames pooled, whatever sequence or fold they come from):

- **Challenge IoU** = mean of the frame Challenge IoUs; **IoU** = mean of the frame IoUs
  ("IoU" in MATIS and SurgicalSAM, "ISI IoU" elsewhere);
- **per-class IoU** of c = mean of c's IoU over the frames where c is present; NaN (n/a) when c
  never is;
- **mcIoU** (mean class IoU) = mean of the per-class IoUs over the classes present at least once
  (ISINet, SurgicalSAM). MATIS's own script counts a never-present class as 0 instead; both
  agree whenever every class occurs in the evaluated frames.

ISINet's code also prints a cumulative ``sum(I) / sum(U)`` ("mIoU") that skips the union of
frames with an empty prediction; no paper reports it, so it is left out.

Part segmentation (a model with ``model.part_classes``; :meth:`ProtocolScores.update_parts`
takes its camera-space part mask, ``FramePrediction.part_mask``): :func:`part_frame_iou` is
the per-frame part IoU of the EndoVis 2017 part results (TernausNet's ``general_jaccard``):
mean IoU over the parts of the ground truth; a frame without ground-truth parts scores 1 when
the prediction has none either, else 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import dataclasses
import math

import numpy as np

from surg_perception.errors import ConfigError, ImageFormatError


@dataclasses.dataclass(frozen=True, eq=False)
class FrameIoU:
    """Scores of one frame: NaN where the frame has no value (see the module docstring)."""

    iou: float
    challenge_iou: float
    class_iou: np.ndarray  # [C] float64, class c at index c - 1, NaN = not present


def _counts(pred: np.ndarray, gt: np.ndarray, num_classes: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersection, predicted and ground-truth pixel counts of classes 1..C (``[C]`` each)."""
    if pred.shape != gt.shape:
        raise ImageFormatError(f"prediction {pred.shape} and ground truth {gt.shape} differ in "
                               "shape; compare masks at the same (camera) resolution")
    pred, gt = pred.astype(np.int64).ravel(), gt.astype(np.int64).ravel()
    size = max(num_classes + 1, int(pred.max(initial=0)) + 1, int(gt.max(initial=0)) + 1)
    # One pass: the confusion matrix (rows = ground truth), as metrics.confusion; kept local so
    # this module (and evaluation.pool) needs numpy only.
    matrix = np.bincount(gt * size + pred, minlength=size * size).reshape(size, size)
    chosen = slice(1, num_classes + 1)
    return (np.diag(matrix)[chosen].astype(np.float64), matrix.sum(0)[chosen].astype(np.float64),
            matrix.sum(1)[chosen].astype(np.float64))


def frame_scores(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> FrameIoU:
    """ISINet's frame IoU, Challenge IoU and per-class IoU of one ``[H, W]`` class-id mask pair."""
    inter, pred_n, gt_n = _counts(pred, gt, num_classes)
    union = pred_n + gt_n - inter
    present = union > 0
    class_iou = np.full(num_classes, math.nan)
    class_iou[present] = inter[present] / union[present]
    in_gt = gt_n > 0
    iou = float(class_iou[present].mean()) if present.any() else math.nan
    challenge = float(class_iou[in_gt].mean()) if in_gt.any() else math.nan
    return FrameIoU(iou, challenge, class_iou)


def part_frame_iou(pred: np.ndarray, gt: np.ndarray, num_parts: int = 3) -> float:
    """Part IoU of one frame (TernausNet): mean over the GT's parts; 1 or 0 when it has none."""
    inter, pred_n, gt_n = _counts(pred, gt, num_parts)
    if not gt_n.any():
        return 0.0 if pred_n.any() else 1.0
    in_gt = gt_n > 0
    return float((inter[in_gt] / (pred_n + gt_n - inter)[in_gt]).mean())


class ProtocolAccumulator:
    """Sums of the frame scores; :meth:`summary` gives the dataset numbers, :meth:`merge` pools.

    The state is sums and counts only, so reports of several folds pool exactly
    (``evaluation.pool``).
    """

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.frames = 0
        self.iou_sum = self.challenge_sum = 0.0
        self.iou_frames = self.challenge_frames = 0
        self.class_sum = np.zeros(num_classes)
        self.class_frames = np.zeros(num_classes, np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> FrameIoU:
        """Add one frame; returns its scores."""
        scores = frame_scores(pred, gt, self.num_classes)
        self.frames += 1
        if not math.isnan(scores.iou):
            self.iou_sum += scores.iou
            self.iou_frames += 1
        if not math.isnan(scores.challenge_iou):
            self.challenge_sum += scores.challenge_iou
            self.challenge_frames += 1
        present = ~np.isnan(scores.class_iou)
        self.class_sum[present] += scores.class_iou[present]
        self.class_frames += present
        return scores

    def class_iou(self) -> np.ndarray:
        """Per-class IoU ``[C]`` (NaN for a class never present)."""
        out = np.full(self.num_classes, math.nan)
        seen = self.class_frames > 0
        out[seen] = self.class_sum[seen] / self.class_frames[seen]
        return out

    def summary(self, class_names: Sequence[str]) -> dict:
        """Challenge IoU, IoU, mcIoU (fractions, NaN = no frame), per-class IoU and the state."""
        per_class = self.class_iou()
        seen = ~np.isnan(per_class)
        return {
            "challenge_iou": _ratio(self.challenge_sum, self.challenge_frames),
            "iou": _ratio(self.iou_sum, self.iou_frames),
            "mc_iou": float(per_class[seen].mean()) if seen.any() else math.nan,
            "class_iou": dict(zip(class_names, per_class.tolist())),
            "state": self.state(),
        }

    def state(self) -> dict:
        return {"frames": self.frames, "iou_sum": self.iou_sum, "iou_frames": self.iou_frames,
                "challenge_sum": self.challenge_sum, "challenge_frames": self.challenge_frames,
                "class_sum": self.class_sum.tolist(), "class_frames": self.class_frames.tolist()}

    @classmethod
    def from_state(cls, state: Mapping) -> ProtocolAccumulator:
        acc = cls(len(state["class_sum"]))
        acc.merge_state(state)
        return acc

    def merge_state(self, state: Mapping) -> None:
        """Add another accumulator's :meth:`state` (same classes)."""
        if len(state["class_sum"]) != self.num_classes:
            raise ConfigError(f"cannot pool protocol scores of {len(state['class_sum'])} "
                              f"classes with {self.num_classes}; pool reports of one model")
        self.frames += int(state["frames"])
        self.iou_sum += float(state["iou_sum"])
        self.iou_frames += int(state["iou_frames"])
        self.challenge_sum += float(state["challenge_sum"])
        self.challenge_frames += int(state["challenge_frames"])
        self.class_sum += np.asarray(state["class_sum"], np.float64)
        self.class_frames += np.asarray(state["class_frames"], np.int64)


def _ratio(total: float, count: int) -> float:
    return total / count if count else math.nan


class ProtocolScores:
    """The protocol for one group of frames: one accumulator per mask row, plus parts.

    ``classes`` is the segmentation vocabulary (index 0 = background); without classes (the
    default of callers that do not know them) nothing is scored and the summary is empty.
    """

    def __init__(self, classes: Sequence[str]) -> None:
        self.classes = tuple(classes)
        self.rows: dict[str, ProtocolAccumulator] = {}
        self.part_ious: list[float] = []

    def update(self, masks: Mapping[str, np.ndarray], gt: np.ndarray) -> None:
        """One frame: ``masks`` row name (e.g. box-fill off/on) -> predicted class-id mask."""
        if len(self.classes) < 2:
            return
        for row, pred in masks.items():
            acc = self.rows.setdefault(row, ProtocolAccumulator(len(self.classes) - 1))
            acc.update(pred, gt)

    def update_parts(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """One frame of a part head: part masks 0..3 (background/shaft/wrist/claspers)."""
        self.part_ious.append(part_frame_iou(pred, gt))

    def summary(self) -> dict:
        out = {row: acc.summary(self.classes[1:]) for row, acc in self.rows.items()}
        if self.part_ious:
            out["part_iou"] = float(np.mean(self.part_ious))
        return out
