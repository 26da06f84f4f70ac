"""One camera stream's instruments: the right eye's predictor, tracks, 3D tips, skew stats.

:class:`InstrumentStream` is held by :class:`~surg_perception.ros.pipeline.FrameProcessor`
(so the live node and process-bag agree). The right eye is a twin of the left eye's
:class:`~surg_perception.predictor.Predictor` (:meth:`Predictor.fork`: the same network
and weights, its own temporal memory); a stereo pair runs as ONE batched forward of both
eyes (:func:`~surg_perception.predictor.step_streams`), or as one step per eye where the
network takes a batch of 1 (an exported backend; said once in the log and in
/diagnostics ``instruments.stereo_batched``). Tracks live on the left eye and reset with
the memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

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


def eye_twin(predictor: Predictor) -> Predictor:
    """The right eye of ``predictor``: :meth:`Predictor.fork` (same network, own memory and
    pinned upload buffer, so both eyes' uploads can be in flight in one batched step)."""
    return predictor.fork()


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

    def predict_pair(self, left: Eye, right: Eye, want_color_mask: bool = False
                     ) -> tuple[FrameResult, FrameResult]:
        """Both eyes through one batched forward, each with its own temporal memory.

        The right eye decodes with the left's live thresholds; only the left's colour
        mask is made (the outputs show the left eye).
        """
        eyes = [self.predictor, self._right_eye()]
        left_result, right_result = step_streams(eyes, [left[0], right[0]],
                                                 [left[1], right[1]], [want_color_mask, False])
        return left_result, right_result

    def right_step(self, pixels: np.ndarray, order: str) -> FrameResult:
        """The right eye's frame alone (its own step); a pair goes through
        :meth:`predict_pair`, one forward for both eyes."""
        return self._right_eye().step(pixels, color_order=order)

    def _right_eye(self) -> Predictor:
        """The right eye's predictor (made on first use), with the left's live thresholds."""
        if self._right is None:
            self._right = eye_twin(self.predictor)
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
        return EyeMasks(result.mask, None, dets)

    def status(self) -> dict[str, Any]:
        """Counts, the last pair's skew and |skew| since the last call (ms), /diagnostics."""
        skews, self.skews_s = np.abs(np.asarray(self.skews_s)) * 1e3, []
        status: dict[str, Any] = {**self.counts, "stereo_rig": self.rig is not None}
        if self._right is not None:  # both eyes in one forward, or one step each (log says why)
            status["stereo_batched"] = not self.predictor.batch_reason()
        if self.last_skew_s is not None:  # right - left of the last pair, signed
            status["stereo_skew_ms.last"] = self.last_skew_s * 1e3
        if skews.size:
            status["stereo_skew_ms.mean"] = float(skews.mean())
            status["stereo_skew_ms.max"] = float(skews.max())
        return status
