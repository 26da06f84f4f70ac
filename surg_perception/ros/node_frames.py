"""The node's frame path: subscription callbacks -> newest-frame slot -> worker -> publish.

A mixin of :class:`~surg_perception.ros.node.ApmtlNode` (it uses the node's ``_settings``,
``_processor``, ``_pubs``, ``_stats``, ``_slot`` and ``_subs``, set by the transitions). The
callbacks only validate headers (O(1)) and store the newest frame; the worker thread runs
:meth:`_process`: convert -> infer -> build -> publish (:class:`FrameProcessor`).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
import torch

from surg_perception.errors import ImageFormatError
from surg_perception.image_msgs import check_compressed, check_image, rejection_reason
from surg_perception.ros import messages
from surg_perception.ros.worker import PendingFrame

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
        self._stats.count("received")
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
            outputs = processor.process(frame, settings, self._stats.fps())
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
        for name, msg in outputs.messages.items():
            pub = self._pubs.get(name)
            if pub is not None:
                pub.publish(msg)
        self._stats.frame_done(outputs.latency_ms, outputs.inference_ms, outputs.memory_reset)

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
        stats = {**self._stats.snapshot(), **processor.status(),
                 "threads": threading.active_count(), "subscriptions": len(self._subs)}
        level = "warn" if stats["rejected"] or stats["dropped"] else "ok"
        self._hint_drops(stats)
        msg = messages.diagnostics_msg(self.get_clock().now().to_msg(),
                                       self.get_fully_qualified_name(), stats, self._device,
                                       level, "processing")
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
