"""The node's frame path: subscription callbacks -> newest-frame slot -> worker -> publish.

A mixin of :class:`~surg_perception.ros.lifecycle_node.ApmtlNode` (it uses the node's
``_settings``, ``_processor``, ``_pubs``, ``_stats``, ``_slot``, ``_subs`` and ``_qos_watch``,
set by the node). The callbacks only validate headers (O(1)) and store the newest frame; the
worker thread runs :meth:`_process`: convert -> infer -> build -> publish
(:class:`FrameProcessor`), building only the outputs someone subscribes to (``output.lazy``).
The QoS event callbacks of the node's subscriptions and publishers come from here too
(:mod:`.qos_diagnosis`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
import torch

from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.image_msgs import check_compressed, check_image, rejection_reason
from surg_perception.ros import messages
from surg_perception.ros.instruments_out import mark_stale
from surg_perception.ros.params import OUTPUTS
from surg_perception.ros.stereo_input import StereoPairer, rig_from_infos
from surg_perception.ros.worker import PendingFrame
from surg_perception.topics import STEREO_INPUTS

WARN_THROTTLE_S = 5.0


class FramePath:
    """Input callbacks, the worker's frame, LabelInfo and /diagnostics publishing."""

    def _on_image(self, msg: Image) -> None:
        self._receive(msg, compressed=False)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._receive(msg, compressed=True)

    def _receive(self, msg: Any, compressed: bool) -> None:
        """Validate the header in O(1) and keep the newest frame; nothing else."""
        received = time.monotonic()
        stamp = msg.header.stamp
        self._stats.receive(stamp.sec * 10**9 + stamp.nanosec)
        try:
            if compressed:
                check_compressed(msg)
            else:
                check_image(msg, self._settings.input_max_image_pixels)
        except ImageFormatError as exc:
            self._reject(exc)
            return
        if self._slot.put(PendingFrame(msg, compressed, received)):
            self._stats.count("dropped")

    # ------------------------------------------------------------------ stereo input
    def _subscribe_stereo(self, qos: Any) -> None:
        """left/right image_raw + camera_info (node-relative, remappable) and the pairer."""
        settings = self._settings
        self._pairer = StereoPairer(settings.stereo_slop_s, settings.stereo_max_wait_s)
        self._infos: dict[str, Any] = {}
        callbacks = {"left_image": self._on_left, "right_image": self._on_right,
                     "left_info": lambda m: self._on_info("left", m),
                     "right_info": lambda m: self._on_info("right", m)}
        for name, topic in STEREO_INPUTS.items():
            msgtype = CameraInfo if name.endswith("info") else Image
            self._subs.append(self.create_subscription(
                msgtype, topic, callbacks[name], qos, callback_group=self._input_group,
                event_callbacks=self._subscription_events(topic)))
        # Same group as the callbacks: the pairer is never used by two threads at once.
        self._stereo_timer = self.create_timer(max(settings.stereo_max_wait_s / 2, 0.005),
                                               self._release_pairs,
                                               callback_group=self._input_group)

    def _stop_stereo(self) -> None:
        timer, self._stereo_timer = getattr(self, "_stereo_timer", None), None
        if timer is not None:
            self.destroy_timer(timer)

    def _on_left(self, msg: Image) -> None:
        received = time.monotonic()
        stamp = msg.header.stamp
        self._stats.receive(stamp.sec * 10**9 + stamp.nanosec)
        if self._checked(msg):
            self._pairer.put_left(msg, received)
            self._release_pairs()

    def _on_right(self, msg: Image) -> None:
        if self._checked(msg):
            self._pairer.put_right(msg)
            self._release_pairs()

    def _checked(self, msg: Image) -> bool:
        try:
            check_image(msg, self._settings.input_max_image_pixels)
        except ImageFormatError as exc:
            self._reject(exc)
            return False
        return True

    def _release_pairs(self) -> None:
        ready, given_up = self._pairer.release(time.monotonic())
        for _ in range(given_up):
            self._stats.count("dropped")
        for frame in ready:
            if self._slot.put(frame):
                self._stats.count("dropped")

    def _on_info(self, eye: str, msg: CameraInfo) -> None:
        """Keep both eyes' camera_info; (re)build the rig when a projection changes."""
        previous = self._infos.get(eye)
        self._infos[eye] = msg
        processor = self._processor
        if (processor is None or len(self._infos) < 2
                or (previous is not None and list(previous.p) == list(msg.p))):
            return
        try:
            rig = rig_from_infos(self._infos["left"], self._infos["right"])
        except ConfigError as exc:
            rig = None
            self.get_logger().warning(f"stereo camera_info unusable, no 3D tips: {exc}",
                                      throttle_duration_sec=WARN_THROTTLE_S)
        processor.instruments.set_rig(rig)

    def _reject(self, exc: ImageFormatError) -> None:
        reason = rejection_reason(exc)
        self._stats.reject(reason)
        suppressed = self._warnings.allow(reason)  # throttled per reason, not per call site
        if suppressed is not None:
            more = f" ({suppressed} more '{reason}' since the last warning)" if suppressed else ""
            self.get_logger().warning(f"rejected input frame ({reason}): {exc}{more}")

    def _process(self, frame: PendingFrame) -> None:
        processor, settings = self._processor, self._settings
        if processor is None:
            return
        try:
            outputs = processor.process(frame, settings, self._stats.fps(), self._subscribed())
        except ImageFormatError as exc:
            self._reject(exc)
            return
        if outputs is None:
            self._stats.count("dropped")  # duplicate of the previous frame (raw + compressed)
            self._stats.count("duplicates")
            return
        if frame.msg.header.frame_id != self._label_frame_id:  # LabelInfo names the camera
            self._label_frame_id = frame.msg.header.frame_id
            self._publish_label_infos()
        found = outputs.messages.get("instruments")
        if found is not None:  # the watchdog, on the node clock right before publishing
            stamp = found.header.stamp
            age_ns = self.get_clock().now().nanoseconds - (stamp.sec * 10**9 + stamp.nanosec)
            mark_stale(found, age_ns / 1e9, settings.instruments_stale_after_s)
        for name, msg in outputs.messages.items():
            pub = self._pubs.get(name)
            if pub is not None:
                pub.publish(msg)
        self._stats.frame_done(outputs.latency_ms, outputs.inference_ms, outputs.memory_reset)
        if outputs.messages:
            self._count_published(frame, outputs)

    def _subscribed(self) -> list[str] | None:
        """Outputs with a subscriber now (lazy outputs), None to build every enabled one.

        ``get_subscription_count`` asks the middleware's matched-reader list: microseconds
        per output, against a camera-sized image rendered and copied per unwatched output.
        """
        if not self._settings.output_lazy:
            return None
        pubs = self._pubs
        return [name for name in OUTPUTS
                if name in pubs and pubs[name].get_subscription_count() > 0]

    def _count_published(self, frame: PendingFrame, outputs: Any) -> None:
        """The frame's two delays at its last publish and the outputs built / skipped."""
        done = time.monotonic()
        stamp = frame.msg.header.stamp
        age_ns = self.get_clock().now().nanoseconds - (stamp.sec * 10**9 + stamp.nanosec)
        self._stats.published((done - frame.received) * 1e3, age_ns / 1e6,
                              outputs.messages.keys(), outputs.skipped)

    # ------------------------------------------------------------------ QoS events
    def _subscription_events(self, topic: str) -> Any:
        """Incompatible-QoS callbacks for an image subscription on ``topic``."""
        return self._qos_watch.subscription_events(self.resolve_topic_name(topic), "input.qos",
                                                   self._settings.input_qos)

    def _publisher_events(self, name: str, topic: str) -> Any:
        """Incompatible-QoS callbacks for the publisher of output ``name`` on ``topic``."""
        resolved = self.resolve_topic_name(topic)
        if name in OUTPUTS:
            return self._qos_watch.publisher_events(resolved, "output.qos",
                                                    self._settings.output_qos)
        return self._qos_watch.publisher_events(resolved)  # LabelInfo, diagnostics: fixed QoS

    def _on_worker_error(self, exc: BaseException) -> None:
        self._stats.reject("internal")
        self.get_logger().error(f"frame failed: {type(exc).__name__}: {exc}",
                                throttle_duration_sec=WARN_THROTTLE_S)

    def _publish_label_infos(self) -> None:
        # the camera's frame_id: the last one seen (empty only until the first frame)
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self._label_frame_id)
        for head, msg in self._processor.label_infos(header, self._settings).items():
            self._pubs[f"label_info/{head}"].publish(msg)

    def _publish_diagnostics(self) -> None:
        processor = self._processor
        if processor is None:
            return
        stats = {**self._stats.snapshot(), **processor.status(), **self._qos_watch.counts(),
                 "threads": threading.active_count(), "subscriptions": len(self._subs)}
        level = "warn" if stats["rejected"] or stats["dropped"] else "ok"
        message = "processing"
        if stats["qos_incompatible"]:
            level, message = "warn", "incompatible QoS on a topic (see the node's log)"
        self._hint_drops(stats)
        msg = messages.diagnostics_msg(self.get_clock().now().to_msg(),
                                       self.get_fully_qualified_name(), stats, self._device,
                                       level, message)
        self._pubs["diagnostics"].publish(msg)

    def _hint_drops(self, stats: dict) -> None:
        """Say why and what to do when a large share of the frames was dropped lately."""
        copies = stats["duplicates"]  # not lost: the other copy of the frame was processed
        window = self._drops.update(stats["received"] - copies, stats["dropped"] - copies)
        if window is None:
            return
        dropped, received = window
        inference = stats.get("inference_ms.p50")
        took = f"inference p50 {inference:.0f} ms per frame; " if inference is not None else ""
        self.get_logger().warning(
            f"dropped {dropped} of {received} frame(s) lately ({100 * dropped / received:.0f} %):"
            f" the camera is faster than the model ({took}torch threads "
            f"{torch.get_num_threads()}). Lower the camera rate, use a GPU (model.device), "
            "or set threads.torch; the newest frame is always the one processed",
            throttle_duration_sec=30.0)
