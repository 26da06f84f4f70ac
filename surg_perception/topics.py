"""The node's names on the ROS graph, rclpy-free: one namespace rule for every tool.

The live node (``ros/node.py``), ``process-bag`` (``ros/process_bag.py``), the bag tools
(``bags/``) and ``make demo`` all locate topics through this module, so a recorded or
processed bag and the live graph use the same names. Message types are named by their ROS
type name (``pkg/msg/Name``); the rclpy classes are looked up on the ros side.

Camera namespace: the image topic without its last name (``/jhu_daVinci/left/image_raw``
and its image_transport sub-topic ``.../image_raw/compressed`` -> ``/jhu_daVinci/left``).
The node launched there publishes under ``<camera namespace>/apmtl_node/``; the ground truth
written by ``endovis2bag`` lies under ``<camera namespace>/ground_truth/``.
"""

from __future__ import annotations

NODE_NAME = "apmtl_node"
# output name -> (topic relative to the node, message type name)
OUTPUT_TOPICS: dict[str, tuple[str, str]] = {
    "mask": ("~/mask", "sensor_msgs/msg/Image"),
    "mask_color": ("~/mask_color", "sensor_msgs/msg/Image"),
    "overlay": ("~/overlay", "sensor_msgs/msg/Image"),
    "detections": ("~/detections", "vision_msgs/msg/Detection2DArray"),
    "activity": ("~/activity", "vision_msgs/msg/Classification"),
    "scene": ("~/scene", "surg_perception/msg/SurgicalScene"),
}
HEADS = ("segmentation", "detection", "activity")
LABEL_INFO_TOPIC = "~/label_info/{head}"  # one latched LabelInfo per head
LABEL_INFO_TYPE = "vision_msgs/msg/LabelInfo"
DIAGNOSTICS_TOPIC = "/diagnostics"
GROUND_TRUTH_KINDS = ("mask", "detections", "activity")


def camera_namespace(image_topic: str) -> str:
    """``/jhu_daVinci/left/image_raw`` (or ``.../compressed``) -> ``/jhu_daVinci/left``."""
    return image_topic.removesuffix("/compressed").rsplit("/", 1)[0]


def output_namespace(image_topic: str, node_name: str = NODE_NAME) -> str:
    """Where the node's ``~/`` topics land when it runs next to ``image_topic``.

    ``/jhu_daVinci/left/image_raw`` -> ``/jhu_daVinci/left/apmtl_node``: the node launched
    in the camera's namespace.
    """
    return f"{camera_namespace(image_topic)}/{node_name}"


def output_topics(namespace: str) -> dict[str, tuple[str, str]]:
    """Output name -> (topic, type name) as the node publishes them under ``namespace``.

    ``label_info/<head>`` entries are included, one per head of :data:`HEADS`.
    """
    topics = {name: (namespace + topic[1:], msgtype)
              for name, (topic, msgtype) in OUTPUT_TOPICS.items()}
    for head in HEADS:
        topics[f"label_info/{head}"] = (namespace + LABEL_INFO_TOPIC.format(head=head)[1:],
                                        LABEL_INFO_TYPE)
    return topics


def ground_truth_topics(image_topic: str) -> dict[str, str]:
    """Ground-truth topics next to ``image_topic``: ``{"mask", "detections", "activity"}``."""
    ns = camera_namespace(image_topic)
    return {kind: f"{ns}/ground_truth/{kind}" for kind in GROUND_TRUTH_KINDS}
