"""The node's frame pipeline without DDS: recorded CDR bytes in, the node's messages out.

``surg-perception process-bag`` (``surg_perception/ros/process_bag.py``) uses this module so
that a processed bag holds exactly what :class:`~surg_perception.ros.lifecycle_node.ApmtlNode`
would publish: the same :class:`~surg_perception.ros.pipeline.FrameProcessor` (conversion,
memory reset rules, predictor, message builders), the same topic names and types, serialised
with rclpy. One :class:`OfflineStream` per image topic keeps its own temporal memory.
"""

from __future__ import annotations

from collections.abc import Mapping
import time
from typing import Any

from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image

from surg_perception.predictor import Predictor
from surg_perception.ros.params import NodeSettings, settings_from_values
from surg_perception.ros.pipeline import FrameProcessor, load_predictor
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
        records: list[Record] = []
        if not self._labels_written:
            for head, info in self.processor.label_infos(msg.header, self.settings).items():
                records.append(self._record(f"label_info/{head}", info))
            self._labels_written = True
        outputs = self.processor.process(PendingFrame(msg, compressed, time.monotonic()),
                                         self.settings, fps=None)
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
