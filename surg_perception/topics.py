"""The node's names on the ROS graph, rclpy-free: one namespace rule for every tool.

The live node (``ros/node.py``), ``process-bag`` (``ros/process_bag.py``), the bag tools
(``bags/``) and ``make demo`` all locate topics through this module, so a recorded or
processed bag and the live graph use the same names. Message types are named by their ROS
type name (``pkg/msg/Name``); the rclpy classes are looked up on the ros side.

One naming scheme, live and offline: the outputs are the node's ``~/`` names under its node
namespace, ``<node namespace>/apmtl_node/<name>``. Launched as ``launch/apmtl.launch.py`` and
the README do it (``namespace`` empty, ``image`` remapped to the camera), that is
``/apmtl_node/mask`` ...; ``process-bag`` writes the same names (``--namespace`` as the
launch argument). A bag of several cameras is processed as one node per camera, each
launched in its camera namespace (``/jhu_daVinci/left/apmtl_node/...``), since one name per
output cannot hold two streams.

Camera namespace: the image topic without its last name (``/jhu_daVinci/left/image_raw``
and its image_transport sub-topic ``.../image_raw/compressed`` -> ``/jhu_daVinci/left``).
The ground truth written by ``endovis2bag`` lies under ``<camera namespace>/ground_truth/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

NODE_NAME = "apmtl_node"
# output name -> (topic relative to the node, message type name)
OUTPUT_TOPICS: dict[str, tuple[str, str]] = {
    "mask": ("~/mask", "sensor_msgs/msg/Image"),
    # Part ids (0 background, 1 shaft, 2 wrist, 3 claspers), mono8; a part-head model only.
    "part_mask": ("~/part_mask", "sensor_msgs/msg/Image"),
    "mask_color": ("~/mask_color", "sensor_msgs/msg/Image"),
    "overlay": ("~/overlay", "sensor_msgs/msg/Image"),
    "detections": ("~/detections", "vision_msgs/msg/Detection2DArray"),
    "activity": ("~/activity", "vision_msgs/msg/Classification"),
    "scene": ("~/scene", "surg_perception/msg/SurgicalScene"),
    # Per-instrument tracks and tool tips for controllers, and their RViz markers.
    "instruments": ("~/instruments", "surg_perception/msg/InstrumentArray"),
    "instrument_markers": ("~/instrument_markers", "visualization_msgs/msg/MarkerArray"),
}
HEADS = ("segmentation", "detection", "activity", "parts")  # parts: ~/part_mask's ids
LABEL_INFO_TOPIC = "~/label_info/{head}"  # one latched LabelInfo per head
LABEL_INFO_TYPE = "vision_msgs/msg/LabelInfo"
DIAGNOSTICS_TOPIC = "/diagnostics"
GROUND_TRUTH_KINDS = ("mask", "detections", "activity")
# Stereo input (``stereo.enabled``), relative to the node namespace and remappable, as the
# dVRK's ``/<rig>/left|right/image_raw`` + ``camera_info``: launch the node in the rig's
# namespace (``/jhu_daVinci``) or remap each name.
STEREO_INPUTS: dict[str, str] = {
    "left_image": "left/image_raw",
    "right_image": "right/image_raw",
    "left_info": "left/camera_info",
    "right_info": "right/camera_info",
}


def camera_namespace(image_topic: str) -> str:
    """``/jhu_daVinci/left/image_raw`` (or ``.../compressed``) -> ``/jhu_daVinci/left``."""
    return image_topic.removesuffix("/compressed").rsplit("/", 1)[0]


def output_namespace(node_namespace: str = "/", node_name: str = NODE_NAME) -> str:
    """Where the node's ``~/`` topics land: ``"/"`` (or ``""``) -> ``/apmtl_node``,
    ``psm_cam`` or ``/psm_cam`` -> ``/psm_cam/apmtl_node`` (ROS resolves a relative
    namespace from the root)."""
    inner = node_namespace.strip("/")
    return f"/{inner}/{node_name}" if inner else f"/{node_name}"


def stream_namespaces(cameras: Sequence[str], node_namespace: str | None = None
                      ) -> dict[str, str]:
    """Camera topic -> output namespace, for processing ``cameras`` offline.

    One camera: the node launched in ``node_namespace`` (default ``/``, as the launch file),
    so the live names. Several cameras: one node per camera in its camera namespace; a
    single ``node_namespace`` would put two streams on one topic, so it is refused.

    Raises:
        ValueError: ``node_namespace`` given for several cameras (callers turn it into their
            typed error).
    """
    if len(cameras) == 1:
        return {cameras[0]: output_namespace(node_namespace or "/")}
    if node_namespace is not None:
        raise ValueError(f"one namespace ({node_namespace!r}) for {len(cameras)} cameras "
                         "would put their outputs on the same topics")
    return {camera: output_namespace(camera_namespace(camera)) for camera in cameras}


def find_output_namespace(camera: str, topics: Iterable[str]) -> str | None:
    """The output namespace of ``camera``'s results among a bag's ``topics``: the camera's own
    namespace (several cameras), else any ``.../apmtl_node`` (one camera); None: no outputs."""
    present = {t.rsplit("/", 1)[0] for t in topics if t.endswith(("/mask", "/overlay", "/scene",
                                                                    "/mask_color", "/detections"))}
    own = output_namespace(camera_namespace(camera))
    if own in present:
        return own
    found = sorted(ns for ns in present if ns.endswith(f"/{NODE_NAME}"))
    return found[0] if found else None


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
