"""The ``apmtl_node`` lifecycle node: transitions map 1:1 to resources.

Configure loads the model and creates the publishers, activate subscribes and starts the
worker, deactivate stops them, cleanup releases the model (and cached GPU memory). The
subscription callbacks only validate headers (O(1)) and store the newest frame; a worker
thread runs convert -> infer -> build -> publish (:mod:`.node_frames`). Set-parameters
requests are handled by :mod:`.node_params`. The process around it (signals, executor,
autostart, exit) is :mod:`.node`.
"""

from __future__ import annotations

import functools
import gc
import threading
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CompressedImage, Image
import torch
from vision_msgs.msg import LabelInfo

from surg_perception.errors import SurgPerceptionError
from surg_perception.ros.interfaces import message_class
from surg_perception.ros.node_frames import FramePath
from surg_perception.ros.node_params import LiveParameters
from surg_perception.ros.node_startup import (
    available_cpus,
    thread_plan,
    unknown_parameters,
)
from surg_perception.ros.params import (
    SPECS,
    NodeSettings,
    declare_parameters,
    latched_qos,
    qos_profile,
    read_settings,
)
from surg_perception.ros.pipeline import FrameProcessor, load_predictor
from surg_perception.ros.qos_diagnosis import QosWatch
from surg_perception.ros.stats import DropWatch, NodeStats, ReasonThrottle
from surg_perception.ros.worker import FrameWorker, LatestFrameSlot
from surg_perception.topics import (
    DIAGNOSTICS_TOPIC,
    HEADS,
    LABEL_INFO_TOPIC,
    NODE_NAME,
    OUTPUT_TOPICS,
)

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


def serialised(transition):
    """Run a transition under the node's lock, and refuse it once the node is closed.

    Why: transitions run on the executor's pool threads while the main thread may be
    shutting down; without the lock a configure still loading the model could create
    publishers after the release, or the release could free what activate is using.
    """
    @functools.wraps(transition)
    def run(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._transition_lock:
            if self._closed:
                self.get_logger().warning(f"{transition.__name__}: the node is shutting down")
                return FAILURE
            return transition(self, state)
    return run


class ApmtlNode(FramePath, LiveParameters, LifecycleNode):
    """Lifecycle node; see the module docstring and ``config/apmtl.yaml`` for parameters.

    The transitions are here; the frame path and the parameter callbacks are mixins.
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        for warning in unknown_parameters(self._parameter_overrides, self._parameters):
            self.get_logger().warning(warning)
        self._drops = DropWatch()
        self._warnings = ReasonThrottle()
        self._input_group = MutuallyExclusiveCallbackGroup()
        self._timer_group = MutuallyExclusiveCallbackGroup()
        self._stats = NodeStats()
        self._qos_watch = QosWatch(self.get_logger().warning)
        self._slot = LatestFrameSlot()
        self._settings: NodeSettings | None = None
        self._processor: FrameProcessor | None = None
        self._pubs: dict[str, Any] = {}
        self._subs: list[Any] = []
        self._worker: FrameWorker | None = None
        self._timer = None
        self._device = ""
        self._label_frame_id = ""  # the camera's, for LabelInfo headers (node_frames)
        self._transition_lock = threading.RLock()  # on_shutdown/on_error call release()
        self._closed = False
        self.add_on_set_parameters_callback(self._check_parameters)
        # Humble's rclpy has no post-set callback: there the check applies accepted values.
        self._post_set = hasattr(self, "add_post_set_parameters_callback")
        if self._post_set:
            self.add_post_set_parameters_callback(
                lambda params: self._apply_parameters(read_settings(self), params))

    # ------------------------------------------------------------------ transitions
    @serialised
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().info("configuring: loading "
                               f"{self.get_parameter('model.checkpoint').value}")
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
        cpus = available_cpus()
        threads, executor = thread_plan(cpus, settings.threads_torch, settings.threads_executor)
        torch.set_num_threads(threads)
        self.get_logger().info(
            f"configured: {settings.model_checkpoint} on {self._device} ({settings.model_dtype}),"
            f" outputs QoS {settings.output_qos} depth {settings.output_qos_depth}; threads: "
            f"torch {threads}, executor {executor} on {cpus} CPU(s) (threads.torch, "
            "threads.executor)")
        return super().on_configure(state)

    @serialised
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        settings = self._settings
        self._stats.reset()
        self._processor.restart()
        qos = qos_profile(settings.input_qos, settings.input_qos_depth)
        if settings.stereo_enabled:  # left/ + right/ image_raw and camera_info instead
            self._subscribe_stereo(qos)
        elif settings.input_image_topic:
            self._subs.append(self.create_subscription(
                Image, settings.input_image_topic, self._on_image, qos,
                callback_group=self._input_group,
                event_callbacks=self._subscription_events(settings.input_image_topic)))
        if settings.input_compressed_topic and not settings.stereo_enabled:
            topic = self._compressed_topic(settings)
            self._subs.append(self.create_subscription(
                CompressedImage, topic, self._on_compressed, qos,
                callback_group=self._input_group,
                event_callbacks=self._subscription_events(topic)))
        self._drops.reset()
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

    def _compressed_topic(self, settings: NodeSettings) -> str:
        """``<image topic>/compressed`` (image_transport's name) while the compressed topic is
        the default: remapping ``image`` then moves both inputs. An explicit value or remap of
        ``image/compressed`` wins."""
        name = settings.input_compressed_topic
        default = SPECS["input.compressed_topic"].default
        if name != default or not settings.input_image_topic:
            return name
        if self.resolve_topic_name(name) != self.resolve_topic_name(name, only_expand=True):
            return self.resolve_topic_name(name)  # remapped on its own
        return self.resolve_topic_name(settings.input_image_topic) + "/compressed"

    @serialised
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_processing()
        return super().on_deactivate(state)

    @serialised
    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release_model()
        return super().on_cleanup(state)

    @serialised
    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return SUCCESS

    @serialised
    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error while leaving {state.label}: releasing everything")
        self.release()
        return SUCCESS

    def release(self) -> None:
        """Stop processing and free the model and publishers (any state; idempotent)."""
        with self._transition_lock:
            self._stop_processing()
            self._release_model()

    def close(self) -> None:
        """The final release: after the transition in progress; later ones are refused."""
        with self._transition_lock:
            self._closed = True
            self.release()

    def _stop_processing(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._stop_stereo()
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
        absent = self._processor.absent_outputs
        for name, why in absent.items():
            if settings.publishes(name):
                self.get_logger().info(f"{OUTPUT_TOPICS[name][0]} is not published: {why}")
        for name, (topic, msgtype) in OUTPUT_TOPICS.items():
            if settings.publishes(name) and name not in absent:
                self._pubs[name] = self.create_lifecycle_publisher(
                    message_class(msgtype), topic, qos,
                    event_callbacks=self._publisher_events(name, topic))
        for head in HEADS:
            topic = LABEL_INFO_TOPIC.format(head=head)
            self._pubs[f"label_info/{head}"] = self.create_lifecycle_publisher(
                LabelInfo, topic, latched_qos(),
                event_callbacks=self._publisher_events(f"label_info/{head}", topic))
        self._pubs["diagnostics"] = self.create_lifecycle_publisher(
            DiagnosticArray, DIAGNOSTICS_TOPIC, 10,
            event_callbacks=self._publisher_events("diagnostics", DIAGNOSTICS_TOPIC))
