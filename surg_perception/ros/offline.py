"""The node's frame pipeline without DDS: recorded CDR bytes in, the node's messages out.

``surg-perception process-bag`` (``surg_perception/ros/process_bag.py``) uses this module so
that a processed bag holds exactly what :class:`~surg_perception.ros.lifecycle_node.ApmtlNode`
would publish: the same :class:`~surg_perception.ros.pipeline.FrameProcessor` (conversion,
memory reset rules, predictor, message builders), the same topic names and types, serialised
with rclpy. One :class:`OfflineStream` per image topic keeps its own temporal memory.

Stereo (:class:`OfflineStereo`): the left and right images of a bag are paired by the node's
own :class:`~surg_perception.ros.stereo_input.StereoPairer` (approximate time, ``stereo.slop_s``
and ``stereo.max_wait_s``), its clock being the bag's receive time instead of the wall clock,
and each released left frame (with its right image, or alone: mono) goes through the same
``FrameProcessor.process`` as in the node; ``camera_info`` messages (re)build the rig as the
node's ``_on_info`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
import math
import time
from typing import Any

from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from surg_perception.errors import ConfigError
from surg_perception.predictor import Predictor
from surg_perception.ros.params import NodeSettings, settings_from_values
from surg_perception.ros.pipeline import FrameProcessor, load_predictor
from surg_perception.ros.stereo_input import StereoPairer, rig_from_infos
from surg_perception.ros.worker import PendingFrame
from surg_perception.topics import output_topics

# (topic, type name "pkg/msg/Name", CDR bytes)
Record = tuple[str, str, bytes]


def offline_settings(checkpoint: str, device: str = "cpu",
                     overrides: Mapping[str, Any] | None = None) -> NodeSettings:
    """Node parameters for offline use: the node's defaults, no warm-up, ``overrides`` on top."""
    values = {"model.checkpoint": str(checkpoint), "model.device": device,
              "model.warmup_steps": 0, **(overrides or {})}
    return settings_from_values(values)


class OfflineStream:
    """One camera stream: its predictor (own memory) and its output namespace."""

    def __init__(self, predictor: Predictor, settings: NodeSettings, namespace: str) -> None:
        self.processor = FrameProcessor(predictor)
        self.settings = settings
        self.topics = output_topics(namespace)
        self._labels_written = False

    def process(self, raw: bytes, compressed: bool) -> list[Record]:
        """Outputs of one recorded frame (LabelInfo first, once); [] for a duplicate frame.

        Raises:
            ImageFormatError: the frame cannot be read as an image.
        """
        msg = deserialize_message(raw, CompressedImage if compressed else Image)
        return self.process_frame(PendingFrame(msg, compressed, time.monotonic()))

    def process_frame(self, frame: PendingFrame) -> list[Record]:
        """:meth:`process` of a deserialised frame (a :class:`StereoFrame`: with its right)."""
        records: list[Record] = []
        if not self._labels_written:
            for head, info in self.processor.label_infos(frame.msg.header,
                                                         self.settings).items():
                records.append(self._record(f"label_info/{head}", info))
            self._labels_written = True
        outputs = self.processor.process(frame, self.settings, fps=None)
        if outputs is None:
            return records
        records.extend(self._record(name, out) for name, out in outputs.messages.items())
        return records

    def _record(self, name: str, msg: Any) -> Record:
        topic, msgtype = self.topics[name]
        return topic, msgtype, serialize_message(msg)


def open_streams(settings: NodeSettings, namespaces: list[str]) -> list[OfflineStream]:
    """Load the checkpoint once; one predictor (own memory, shared weights) per namespace."""
    first = load_predictor(settings)
    streams = []
    for index, namespace in enumerate(namespaces):
        predictor = first
        if index:  # the network is stateless (memory is passed in), so weights are shared
            predictor = first.fork()  # the same backend step and post-processing
        streams.append(OfflineStream(predictor, settings, namespace))
    return streams


class OfflineStereo:
    """A bag's left/right images paired as the node pairs them (module docstring).

    Every ``put_*`` returns the outputs ready by then as ``(bag time of the left frame,
    records)``, oldest first; :meth:`finish` releases what still waits at the bag's end.
    ``given_up``: left frames the pairer gave up on (dropped by the node too).
    """

    def __init__(self, stream: OfflineStream, left_compressed: bool = False) -> None:
        settings = stream.settings
        self.stream = stream
        self.pairer = StereoPairer(settings.stereo_slop_s, settings.stereo_max_wait_s)
        self.left_compressed = left_compressed
        self.given_up = 0
        self.warnings: list[str] = []
        self._infos: dict[str, Any] = {}
        self._times: dict[int, int] = {}  # left header stamp (ns) -> its bag time (ns)

    def put_left(self, raw: bytes, timestamp: int) -> list[tuple[int, list[Record]]]:
        msg = deserialize_message(raw, CompressedImage if self.left_compressed else Image)
        self._times[_stamp_ns(msg)] = timestamp
        self.pairer.put_left(msg, timestamp / 1e9)  # the bag's clock, as `received`
        return self._release(timestamp / 1e9)

    def put_right(self, raw: bytes, timestamp: int) -> list[tuple[int, list[Record]]]:
        self.pairer.put_right(deserialize_message(raw, Image))
        return self._release(timestamp / 1e9)

    def put_info(self, eye: str, raw: bytes) -> None:
        """A ``camera_info`` of ``eye`` ('left'/'right'); a changed projection rebuilds the rig."""
        msg = deserialize_message(raw, CameraInfo)
        previous, self._infos[eye] = self._infos.get(eye), msg
        if len(self._infos) < 2 or (previous is not None and list(previous.p) == list(msg.p)):
            return
        try:
            rig = rig_from_infos(self._infos["left"], self._infos["right"])
        except ConfigError as exc:
            rig = None
            self.warnings.append(f"stereo camera_info unusable, no 3D tips: {exc}")
        self.stream.processor.instruments.set_rig(rig)

    def finish(self) -> list[tuple[int, list[Record]]]:
        return self._release(math.inf)

    def _release(self, now: float) -> list[tuple[int, list[Record]]]:
        ready, given_up = self.pairer.release(now)
        self.given_up += given_up
        done = []
        for frame in ready:
            stamp = _stamp_ns(frame.msg)
            bag_time = self._times.pop(stamp)
            # older lefts still listed were given up on by the pairer: forget them
            self._times = {k: v for k, v in self._times.items() if k > stamp}
            # latency is measured from here, as the mono path does (not from the bag clock)
            frame = dataclasses.replace(frame, compressed=self.left_compressed,
                                        received=time.monotonic())
            done.append((bag_time, self.stream.process_frame(frame)))
        return done


def _stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
