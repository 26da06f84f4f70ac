"""What the worker does with one frame: convert -> (reset?) -> predict -> build messages.

No node and no DDS here: :class:`FrameProcessor` returns the messages to publish, so the
node stays a thin shell and this logic is tested without a ROS graph.
"""

from __future__ import annotations

from collections.abc import Collection
import dataclasses
import time
from typing import Any

import numpy as np
import torch

from surg_perception.config import ModelSpec, PostprocessConfig
from surg_perception.errors import ConfigError
from surg_perception.image_msgs import compressed_to_numpy, image_to_numpy, to_bgr
from surg_perception.predictor import FrameResult, Predictor, resolve_device
from surg_perception.processing.overlay import OverlayOptions, render_overlay
from surg_perception.ros import messages
from surg_perception.ros.instrument_stream import InstrumentStream, batch_eyes
from surg_perception.ros.instruments_out import instruments_msg, markers_msg
from surg_perception.ros.params import OUTPUTS, UNSET, UNSET_FLAG, NodeSettings
from surg_perception.ros.worker import FrameKey, PendingFrame, is_duplicate, reset_reason


def resolve_postprocess(checkpoint: PostprocessConfig,
                        settings: NodeSettings) -> PostprocessConfig:
    """The checkpoint's post-processing with the ``detection.*`` parameters the user set.

    A parameter at its sentinel (``params.UNSET`` / ``UNSET_FLAG``, the defaults) keeps the
    checkpoint's value, so the node, process-bag and ``evaluate`` decode alike by default.
    """
    changes: dict[str, Any] = {}
    if settings.detection_score_threshold != UNSET:
        changes["score_threshold"] = settings.detection_score_threshold
    if settings.detection_nms_threshold != UNSET:
        changes["nms_threshold"] = settings.detection_nms_threshold
    if settings.detection_box_fill != UNSET_FLAG:
        changes["box_fill"] = bool(settings.detection_box_fill)
    if settings.detection_instance_boxes != UNSET_FLAG:
        changes["instance_boxes"] = bool(settings.detection_instance_boxes)
    return dataclasses.replace(checkpoint, **changes)


def load_predictor(settings: NodeSettings) -> Predictor:
    """Load the checkpoint, apply memory overrides and set thresholds, warm up."""
    from surg_perception.backends.factory import make_network
    from surg_perception.checkpoint import load_model, rebuild

    if not settings.model_checkpoint:
        raise ConfigError("model.checkpoint is empty; set it to a checkpoint file "
                          "(e.g. --ros-args -p model.checkpoint:=/path/model.pt)")
    device = resolve_device(settings.model_device)
    model, spec = load_model(settings.model_checkpoint, device=device)
    if settings.memory_override and spec.model.memory.enabled:
        spec = _with_memory(spec, settings)
        model = rebuild(spec.model, model.state_dict(), settings.model_checkpoint)
    network = make_network(settings.model_backend, model, spec, device, settings.model_dtype,
                           checkpoint=settings.model_checkpoint)
    predictor = Predictor(model, spec, device=device, dtype=settings.model_dtype,
                          network=network)
    predictor.postprocess = resolve_postprocess(spec.postprocess, settings)
    if settings.model_warmup_steps:
        predictor.warmup(*spec.preprocess.input_size, steps=settings.model_warmup_steps)
        if settings.stereo_enabled and batch_eyes(settings.stereo_batch, device):
            # the pair's batch of 2 has its own shapes to warm
            predictor.warmup(*spec.preprocess.input_size, settings.model_warmup_steps, 2)
    return predictor


def _with_memory(spec: ModelSpec, settings: NodeSettings) -> ModelSpec:
    memory = dataclasses.replace(spec.model.memory, tau=settings.memory_tau, n=settings.memory_n,
                                 alpha=settings.memory_alpha, beta=settings.memory_beta)
    if memory.n > memory.capacity:
        raise ConfigError(f"memory.n={memory.n} exceeds the checkpoint's memory capacity "
                          f"{memory.capacity}; lower memory.n")
    return dataclasses.replace(spec, model=dataclasses.replace(spec.model, memory=memory))


@dataclasses.dataclass(frozen=True)
class FrameOutputs:
    """Messages of one frame by output name (``mask``, ``detections``, ...) + its numbers.

    ``skipped``: the outputs enabled by ``publish.*`` but not built (nobody subscribed).
    """

    messages: dict[str, Any]
    latency_ms: float
    inference_ms: float
    memory_reset: bool
    reset_reason: str
    skipped: frozenset[str] = frozenset()


def wanted_outputs(settings: NodeSettings, subscribed: Collection[str] | None = None,
                   absent: Collection[str] = ()) -> frozenset[str]:
    """The outputs to build: enabled by ``publish.*``, not ``absent`` (outputs the model
    cannot make, :attr:`FrameProcessor.absent_outputs`) and, when ``subscribed`` is given
    (the live node with ``output.lazy``), subscribed. Dependencies are resolved by the
    builders: the scene builds the mask, detections and activity it carries, the overlay its
    colour mask, without publishing them."""
    enabled = frozenset(name for name in OUTPUTS
                        if settings.publishes(name) and name not in absent)
    return enabled if subscribed is None else enabled & frozenset(subscribed)


class FrameProcessor:
    """One stream's processing state around a :class:`Predictor` (used by the worker only)."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.instruments = InstrumentStream(predictor)
        self.restart()

    @property
    def absent_outputs(self) -> dict[str, str]:
        """Output -> why the loaded model cannot make it (``part_mask`` without a part head).
        These get no publisher and count neither as built nor as skipped."""
        if self._has_parts():
            return {}
        return {"part_mask": "the model has no part head (model.part_classes is empty)"}

    def restart(self) -> None:
        """New activation: empty memory and tracks, sequence from 0."""
        self.predictor.reset()
        self.instruments.reset()
        self._prev: FrameKey | None = None
        self._sequence = 0

    def process(self, frame: PendingFrame, settings: NodeSettings, fps: float | None = None,
                subscribed: Collection[str] | None = None) -> FrameOutputs | None:
        """Run one frame; None for a duplicate (same stamp and frame_id as the last frame).

        ``subscribed`` (the live node's lazy outputs): build only these of the enabled
        outputs; None builds every enabled one (process-bag, the recorder's offline twin).
        The model runs either way: its temporal memory needs every frame.

        Raises:
            ImageFormatError: the message cannot be read as an image.
        """
        msg = frame.msg
        max_pixels = settings.input_max_image_pixels
        if frame.compressed:
            pixels, order = compressed_to_numpy(msg, max_pixels)
        else:
            pixels, order = image_to_numpy(msg, max_pixels)
        key = FrameKey(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec,
                       msg.header.frame_id, pixels.shape[:2])
        if is_duplicate(self._prev, key):
            return None
        reason = reset_reason(self._prev, key, settings.memory_reset_gap_s)
        if reason:
            self.predictor.reset()
            self.instruments.reset()  # track ids are per stream and go with the memory
        self._prev = key
        absent = self.absent_outputs
        outputs = wanted_outputs(settings, subscribed, absent)
        want_color = bool(outputs & {"mask_color", "overlay"})
        right = self._right_eye(frame, settings)
        if right is None:
            result, right_result = self.predictor.step(pixels, order, want_color), None
        else:  # both eyes: one batched forward or one step each (stereo.batch)
            batch = batch_eyes(settings.stereo_batch, self.predictor.device)
            result, right_result = self.instruments.predict_pair((pixels, order), right,
                                                                 want_color, batch)
        found = self._instruments(frame, result, right_result, key.stamp_ns / 1e9, settings)
        latency_ms = (time.monotonic() - frame.received) * 1e3
        built = self._build(msg.header, pixels, order, result, settings, latency_ms, reason, fps,
                            outputs, found)
        self._sequence += 1
        return FrameOutputs(built, latency_ms, float(result.timings_ms.get("network", 0.0)),
                            bool(result.memory.get("reset")), reason,
                            wanted_outputs(settings, absent=absent) - outputs)

    @staticmethod
    def _right_eye(frame: PendingFrame, settings: NodeSettings) -> tuple[np.ndarray, str] | None:
        """The paired right image (``StereoFrame.right``) as pixels, when an instrument
        output is enabled (the right eye serves the 3D tips only), else None."""
        right = getattr(frame, "right", None)
        if right is None or not _instruments_enabled(settings):
            return None
        return image_to_numpy(right, settings.input_max_image_pixels)

    def _instruments(self, frame: PendingFrame, result: FrameResult,
                     right_result: FrameResult | None, stamp: float,
                     settings: NodeSettings) -> tuple[list, bool, float] | None:
        """(results, stereo, skew) when an instrument output is enabled (subscribed or not:
        tracks need every frame), else None. ``right_result``: the paired right eye's."""
        if not _instruments_enabled(settings):
            return None
        skew = float(getattr(frame, "skew_s", 0.0))
        found = self.instruments.step(result, right_result, stamp, skew)
        return found, right_result is not None and self.instruments.rig is not None, skew

    def _build(self, header: Any, pixels: np.ndarray, order: str, result: FrameResult,
               settings: NodeSettings, latency_ms: float, reason: str,
               fps: float | None, outputs: frozenset[str],
               found: tuple[list, bool, float] | None = None) -> dict[str, Any]:
        model_cfg = self.predictor.spec.model
        results = [] if found is None else found[0]
        overlay = None
        if "overlay" in outputs:
            options = OverlayOptions(settings.overlay_alpha, settings.overlay_draw_labels,
                                     settings.overlay_show_fps)
            overlay = render_overlay(to_bgr(pixels, order), result.color_mask, result.boxes,
                                     result.scores, result.labels, model_cfg.det_classes,
                                     result.activity_probs, model_cfg.activity_classes, fps,
                                     options, [r.instance.tip_2d for r in results])
        # Without a detection head (EndoARSS) the diagnostics' has_detection=False also says
        # why nothing is published on ~/detections.
        built = messages.build_messages(header, result, outputs, self._sequence, latency_ms,
                                        reason, overlay, self._has("has_detection"))
        if found is not None and "instruments" in outputs:
            stamp = header.stamp.sec + header.stamp.nanosec * 1e-9
            built["instruments"] = instruments_msg(
                header, results, model_cfg.seg_classes,
                lambda track: self.instruments.age_s(track, stamp), found[1], found[2])
        if found is not None and "instrument_markers" in outputs:
            built["instrument_markers"] = markers_msg(header, results, self.instruments.rig)
        return built

    def status(self) -> dict[str, Any]:
        """Memory sizes, device, heads (and allocated GPU memory) for /diagnostics."""
        predictor = self.predictor
        status: dict[str, Any] = {
            **predictor.memory_info(),
            "device": str(predictor.device),
            "has_detection": self._has("has_detection"),
            "has_activity": self._has("has_activity"),
            "has_parts": self._has_parts(),
            **{f"instruments.{k}": v for k, v in self.instruments.status().items()},
        }
        if predictor.device.type == "cuda":
            status["gpu_memory_mb"] = torch.cuda.memory_allocated(predictor.device) / 2**20
        return status

    def _has(self, head: str) -> bool:
        """``model.has_detection`` / ``has_activity`` (the model contract; True if absent)."""
        return bool(getattr(self.predictor.model, head, True))

    def _has_parts(self) -> bool:
        """``model.has_parts``; a model without the attribute (older) has no part head."""
        return bool(getattr(self.predictor.model, "has_parts", False))

    def label_infos(self, header: Any, settings: NodeSettings | None = None) -> dict[str, Any]:
        """LabelInfo of every head: segmentation, detection, activity, parts.

        A head the loaded model lacks (EndoARSS: detection; parts without
        ``model.part_classes``) gets a LabelInfo with an empty
        ``class_map``, which tells subscribers the head is absent rather than late. The
        detection threshold is the one in effect (``predictor.postprocess``: the checkpoint's
        unless a parameter overrides it), so ``settings`` is not needed any more.
        """
        cfg = self.predictor.spec.model
        threshold = self.predictor.postprocess.score_threshold
        det = cfg.det_classes if self._has("has_detection") else ()
        act = cfg.activity_classes if self._has("has_activity") else ()
        parts = cfg.part_classes if self._has_parts() else ()
        infos = messages.label_infos(header, cfg.seg_classes, det, act, threshold, parts)
        infos.setdefault("detection", messages.label_info_msg(header, (), 1, threshold))
        infos.setdefault("activity", messages.label_info_msg(header, ()))
        infos.setdefault("parts", messages.label_info_msg(header, ()))
        return infos


def _instruments_enabled(settings: NodeSettings) -> bool:
    return bool(settings.publish_instruments or settings.publish_instrument_markers)
