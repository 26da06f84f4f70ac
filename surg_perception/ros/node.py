"""``apmtl_node``: the lifecycle node running the shared Predictor on a camera stream.

Transitions map 1:1 to resources: configure loads the model and creates the publishers,
activate subscribes and starts the worker, deactivate stops them, cleanup releases the
model (and cached GPU memory). The subscription callbacks only validate headers (O(1))
and store the newest frame; a worker thread runs convert -> infer -> build -> publish.
Run: ``ros2 run surg_perception apmtl_node --ros-args -p model.checkpoint:=model.pt
-p autostart:=true -r image:=/jhu_daVinci/left/image_raw`` (or ``python -m
surg_perception.ros.node``).
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from typing import Any

import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import InvalidHandle
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import LabelInfo

from surg_perception.errors import ConfigError, ImageFormatError, SurgPerceptionError
from surg_perception.image_msgs import check_compressed, check_image, rejection_reason
from surg_perception.malloc_tuning import set_malloc_tuning
from surg_perception.ros import messages
from surg_perception.ros.interfaces import message_class
from surg_perception.ros.params import (
    SPECS,
    NodeSettings,
    check_update,
    declare_parameters,
    latched_qos,
    qos_profile,
    read_settings,
    settings_from_values,
)
from surg_perception.ros.pipeline import FrameProcessor, load_predictor, resolve_postprocess
from surg_perception.ros.stats import NodeStats
from surg_perception.ros.worker import FrameWorker, LatestFrameSlot, PendingFrame
from surg_perception.topics import (
    DIAGNOSTICS_TOPIC,
    HEADS,
    LABEL_INFO_TOPIC,
    NODE_NAME,
    OUTPUT_TOPICS,
)

WARN_THROTTLE_S = 5.0

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


class ApmtlNode(LifecycleNode):
    """Lifecycle node; see the module docstring and ``config/apmtl.yaml`` for parameters."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._timer_group = MutuallyExclusiveCallbackGroup()
        self._stats = NodeStats()
        self._slot = LatestFrameSlot()
        self._settings: NodeSettings | None = None
        self._processor: FrameProcessor | None = None
        self._pubs: dict[str, Any] = {}
        self._subs: list[Any] = []
        self._worker: FrameWorker | None = None
        self._timer = None
        self._device = ""
        self.add_on_set_parameters_callback(self._check_parameters)
        # Humble's rclpy has no post-set callback: there the check applies accepted values.
        self._post_set = hasattr(self, "add_post_set_parameters_callback")
        if self._post_set:
            self.add_post_set_parameters_callback(
                lambda params: self._apply_parameters(read_settings(self), params))

    # ------------------------------------------------------------------ transitions
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            settings = read_settings(self)
            predictor = load_predictor(settings)
        except (SurgPerceptionError, RuntimeError, OSError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return FAILURE
        self._settings = settings
        self._processor = FrameProcessor(predictor)
        self._device = str(predictor.device)
        self._create_publishers(settings)
        self.get_logger().info(
            f"configured: {settings.model_checkpoint} on {self._device} ({settings.model_dtype}),"
            f" outputs QoS {settings.output_qos} depth {settings.output_qos_depth}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = self._settings
        self._stats.reset()
        self._processor.restart()
        qos = qos_profile(settings.input_qos, settings.input_qos_depth)
        if settings.input_image_topic:
            self._subs.append(self.create_subscription(
                Image, settings.input_image_topic, self._on_image, qos,
                callback_group=self._input_group))
        if settings.input_compressed_topic:
            self._subs.append(self.create_subscription(
                CompressedImage, settings.input_compressed_topic, self._on_compressed, qos,
                callback_group=self._input_group))
        self._worker = FrameWorker(self._slot, self._process, self._on_worker_error)
        self._worker.start()
        self._timer = self.create_timer(1.0, self._publish_diagnostics,
                                        callback_group=self._timer_group)
        result = super().on_activate(state)
        self._publish_label_infos()
        topics = ", ".join(sub.topic_name for sub in self._subs)
        self.get_logger().info(f"active: inputs {topics} (QoS {settings.input_qos} depth "
                               f"{settings.input_qos_depth})")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_model()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error while leaving {state.label}: releasing everything")
        self.release()
        return SUCCESS

    def release(self) -> None:
        """Stop processing and free the model and publishers (any state; idempotent)."""
        self._stop_processing()
        self._release_model()

    def _stop_processing(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        if self._worker is not None and not self._worker.stop():
            self.get_logger().warning("worker did not stop within 10 s (a frame is still running)")
        self._worker = None

    def _release_model(self) -> None:
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        self._processor = None
        gc.collect()
        if torch.cuda.is_available() and self._device.startswith("cuda"):
            torch.cuda.empty_cache()

    def _create_publishers(self, settings: NodeSettings) -> None:
        qos = qos_profile(settings.output_qos, settings.output_qos_depth)
        for name, (topic, msgtype) in OUTPUT_TOPICS.items():
            if settings.publishes(name):
                self._pubs[name] = self.create_lifecycle_publisher(
                    message_class(msgtype), topic, qos)
        for head in HEADS:
            self._pubs[f"label_info/{head}"] = self.create_lifecycle_publisher(
                LabelInfo, LABEL_INFO_TOPIC.format(head=head), latched_qos())
        self._pubs["diagnostics"] = self.create_lifecycle_publisher(
            DiagnosticArray, DIAGNOSTICS_TOPIC, 10)

    # ------------------------------------------------------------------ data path
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
        self._stats.reject(rejection_reason(exc))
        self.get_logger().warning(f"rejected input frame: {exc}",
                                  throttle_duration_sec=WARN_THROTTLE_S)

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
            return
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
        header = Header(stamp=self.get_clock().now().to_msg())
        for head, msg in self._processor.label_infos(header, self._settings).items():
            self._pubs[f"label_info/{head}"].publish(msg)

    def _publish_diagnostics(self) -> None:
        processor = self._processor
        if processor is None:
            return
        stats = {**self._stats.snapshot(), **processor.status(),
                 "threads": threading.active_count(), "subscriptions": len(self._subs)}
        level = "warn" if stats["rejected"] or stats["dropped"] else "ok"
        msg = messages.diagnostics_msg(self.get_clock().now().to_msg(),
                                       self.get_fully_qualified_name(), stats, self._device,
                                       level, "processing")
        self._pubs["diagnostics"].publish(msg)

    # ------------------------------------------------------------------ parameters
    def _check_parameters(self, params: list) -> SetParametersResult:
        current = {name: self.get_parameter(name).value for name in SPECS}
        updates = {p.name: p.value for p in params}
        reason = check_update(current, updates, self._state_machine.current_state[1])
        if not reason and not self._post_set:
            self._apply_parameters(settings_from_values({**current, **updates}), params)
        return SetParametersResult(successful=not reason, reason=reason)

    def _apply_parameters(self, settings: NodeSettings, params: list) -> None:
        """Live parameters take effect on the next frame (configure-time ones at configure)."""
        processor = self._processor
        if self._settings is None or processor is None:
            return
        self._settings = settings
        predictor = processor.predictor
        try:  # from the checkpoint's values each time: an unset parameter restores them
            predictor.postprocess = resolve_postprocess(predictor.spec.postprocess, settings)
        except ConfigError as exc:  # e.g. box fill impossible for this model's classes
            self.get_logger().error(f"post-processing unchanged: {exc}")
        if any(p.name == "detection.score_threshold" for p in params) and self._subs:
            self._publish_label_infos()  # LabelInfo.threshold follows the live value


def spin(executor: MultiThreadedExecutor) -> None:
    """``executor.spin()`` that survives a subscription destroyed mid-wait.

    Why: deactivate/cleanup destroy subscriptions from a transition callback while another
    executor thread may be waiting on them; rclpy then raises InvalidHandle out of spin
    (ros2/rclpy#1206). The reliability suite saw it kill the node once in 100 cycles.
    """
    while rclpy.ok():
        try:
            executor.spin()
        except InvalidHandle:
            continue


def main(args: list[str] | None = None) -> int:
    """Spin the node on a multi-threaded executor until SIGINT/SIGTERM."""
    # Keep camera-sized message buffers in the heap between frames (see malloc_tuning).
    set_malloc_tuning(True)
    rclpy.init(args=args)
    node = ApmtlNode()
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        if node.get_parameter("autostart").value:
            if node.trigger_configure() == SUCCESS:
                node.trigger_activate()
        spin(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        # Not the node's logger: after a signal its rosout publisher is already invalid.
        rclpy.logging.get_logger("surg_perception").info(f"{node.get_name()}: shutting down")
        node.release()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
