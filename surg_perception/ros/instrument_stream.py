"""One camera stream's instruments: the right eye's predictor, tracks, 3D tips, skew stats.

:class:`InstrumentStream` is held by :class:`~surg_perception.ros.pipeline.FrameProcessor`
(so the live node and process-bag agree). The right eye is a twin of the left eye's
:class:`~surg_perception.predictor.Predictor` (:meth:`Predictor.fork`: the same network
and weights, its own temporal memory); a stereo pair runs as ONE batched forward of both
eyes (:func:`~surg_perception.predictor.step_streams`) or as one step per eye: the node's
``stereo.batch`` chooses (:func:`batch_eyes`), and a network taking a batch of 1 (an
exported backend) steps per eye anyway (said once in the log). /diagnostics
``instruments.stereo_batched`` says which the last pair took. Tracks live on the left eye
and reset with the memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from surg_perception.instruments import (
    BoxDetections,
    EyeMasks,
    InstrumentPipeline,
    InstrumentResult,
    InstrumentsConfig,
    StereoRig,
)
from surg_perception.predictor import FrameResult, Predictor, step_streams

Eye = tuple[np.ndarray, str]  # one eye's frame [H, W, 3] uint8 and its channel order


def batch_eyes(mode: str | bool, device: torch.device) -> bool:
    """``stereo.batch`` (``auto`` | ``true`` | ``false``, or a bool) -> whether a pair runs
    as one batch of 2 on ``device`` (else one step per eye)."""
    choice = str(mode).lower()
    if choice == "auto":
        # Measured (BENCHMARKS.md "Stereo", CPU, 1 thread, network stage of a pair over
        # mono): light 512x640 batched 2.37x vs 1.97x as two steps, tiny 256x320 2.40x vs
        # 2.20x; only the overhead-bound tiny 96x128 gains (1.36x vs 1.94x). One image
        # already keeps a CPU thread busy, so a batch saves just per-call overhead and its
        # doubled working set costs more. A batch of 1 leaves most of a GPU idle: batch there.
        return device.type == "cuda"
    return choice == "true"


def det_to_type_ids(seg_classes: tuple[str, ...], det_classes: tuple[str, ...]) -> np.ndarray:
    """LUT detection label (1..K) -> type-mask id (by class name; 0: not a mask class)."""
    lut = np.zeros(len(det_classes) + 1, np.int64)
    for k, name in enumerate(det_classes, start=1):
        lut[k] = seg_classes.index(name) if name in seg_classes else 0
    return lut


class InstrumentStream:
    """Instruments of one stream (module docstring); used by the worker thread only."""

    def __init__(self, predictor: Predictor, cfg: InstrumentsConfig = InstrumentsConfig()
                 ) -> None:
        self.predictor = predictor
        self.pipeline = InstrumentPipeline(cfg)
        model = predictor.spec.model
        self._lut = det_to_type_ids(tuple(model.seg_classes), tuple(model.det_classes))
        self._right: Predictor | None = None
        self._batched_pairs: bool | None = None  # the last pair's ``batch``; None: no pair yet
        self._first_seen: dict[int, float] = {}
        self.skews_s: list[float] = []  # since the last status() read
        self.last_skew_s: float | None = None
        self.counts = {"stereo_frames": 0, "mono_frames": 0}

    @property
    def rig(self) -> StereoRig | None:
        return self.pipeline.rig

    def set_rig(self, rig: StereoRig | None) -> None:
        self.pipeline.rig = rig

    def reset(self) -> None:
        """With the temporal memory: tracks end (ids go on counting), the right eye's too."""
        self.pipeline.reset()
        self._first_seen.clear()
        if self._right is not None:
            self._right.reset()

    def predict_pair(self, left: Eye, right: Eye, want_color_mask: bool = False,
                     batch: bool = True) -> tuple[FrameResult, FrameResult]:
        """Both eyes, each with its own temporal memory: one batched forward (``batch``)
        or one step per eye (:func:`batch_eyes` says which is faster where).

        The right eye decodes with the left's live thresholds; only the left's colour
        mask is made (the outputs show the left eye).
        """
        eyes = [self.predictor, self._right_eye()]
        self._batched_pairs = batch
        if not batch:
            return (self.predictor.step(left[0], left[1], want_color_mask),
                    eyes[1].step(right[0], right[1]))
        left_result, right_result = step_streams(eyes, [left[0], right[0]],
                                                 [left[1], right[1]], [want_color_mask, False])
        return left_result, right_result

    def right_step(self, pixels: np.ndarray, order: str) -> FrameResult:
        """The right eye's frame alone (its own step); a pair goes through
        :meth:`predict_pair`, one forward for both eyes."""
        return self._right_eye().step(pixels, color_order=order)

    def _right_eye(self) -> Predictor:
        """The right eye's predictor (made on first use), with the left's live thresholds:
        a fork (same network, own memory and pinned upload buffer, so both eyes' uploads can
        be in flight in one batched step)."""
        if self._right is None:
            self._right = self.predictor.fork()
        self._right.postprocess = self.predictor.postprocess
        return self._right

    def step(self, left: FrameResult, right: FrameResult | None, stamp: float,
             skew_s: float = 0.0) -> list[InstrumentResult]:
        """Instances -> tracks -> 3D tips for one (left) frame; ``stamp`` seconds."""
        results = self.pipeline.step(self._masks(left),
                                     None if right is None else self._masks(right), stamp)
        stereo = right is not None and self.rig is not None
        self.counts["stereo_frames" if stereo else "mono_frames"] += 1
        if right is not None:
            self.skews_s.append(skew_s)
            self.last_skew_s = skew_s
        alive = {t.track_id for t in self.pipeline.tracker.state.tracks}  # incl. occluded
        self._first_seen = {k: v for k, v in self._first_seen.items() if k in alive}
        for r in results:
            self._first_seen.setdefault(r.track_id, stamp)
        return results

    def age_s(self, track_id: int, stamp: float) -> float:
        return max(0.0, stamp - self._first_seen.get(track_id, stamp))

    def _masks(self, result: FrameResult) -> EyeMasks:
        labels = np.asarray(result.labels, np.int64)
        types = self._lut[np.clip(labels, 0, len(self._lut) - 1)]
        keep = types > 0
        dets = BoxDetections(np.asarray(result.boxes, np.float64)[keep],
                             np.asarray(result.scores, np.float64)[keep], types[keep])
        # With a part head the claspers give the tip and jaw opening (instruments/shaft.py);
        # without one (part_mask None) the tip is the mask's end along the shaft.
        return EyeMasks(result.mask, result.part_mask, dets)

    def status(self) -> dict[str, Any]:
        """Counts, the last pair's skew and |skew| since the last call (ms), /diagnostics."""
        skews, self.skews_s = np.abs(np.asarray(self.skews_s)) * 1e3, []
        status: dict[str, Any] = {**self.counts, "stereo_rig": self.rig is not None}
        if self._batched_pairs is not None:  # the last pair: one forward, or one step each
            # The network may refuse a batch (exported, batch of 1; the log says why).
            status["stereo_batched"] = self._batched_pairs and not self.predictor.batch_reason()
        if self.last_skew_s is not None:  # right - left of the last pair, signed
            status["stereo_skew_ms.last"] = self.last_skew_s * 1e3
        if skews.size:
            status["stereo_skew_ms.mean"] = float(skews.mean())
            status["stereo_skew_ms.max"] = float(skews.max())
        return status
