"""Recorded RIHS01 type hashes of the message types we publish.

The hashes come from the field declarations alone, so our generated vision_msgs must hash
exactly like the real vision_msgs 4.x. A change of any definition (ours or the fallback
vision_msgs in interfaces/) fails here: update the record only for an intended change.
"""

import json
import os
from pathlib import Path
import sys

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (run `make env`)")

RECORDED = {
    "vision_msgs/msg/BoundingBox2D": "RIHS01_008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f",
    "vision_msgs/msg/Classification": "RIHS01_f74db28d0eaef3afb78f48bf2161cd709a1383a0309d3454383b25be11345143",
    "vision_msgs/msg/Detection2D": "RIHS01_0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea",
    "vision_msgs/msg/Detection2DArray": "RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "vision_msgs/msg/LabelInfo": "RIHS01_3d37df4015cdf660cc851c51897f2acd957e1ca6205ba0a99aebffb9406b0783",
    "vision_msgs/msg/ObjectHypothesis": "RIHS01_51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90",
    "vision_msgs/msg/ObjectHypothesisWithPose": "RIHS01_41c12344c0396c48b81df12467c192d99b2a0eb1463c5c37194e4223251c80bc",
    "vision_msgs/msg/Point2D": "RIHS01_eab0e83f44ab4de92ceaf76dd7d0e7638f2bdd1d16ffbe16c7a136c48e407247",
    "vision_msgs/msg/Pose2D": "RIHS01_b0b5d1d7b4c20dd4fcde3ed1d4b289a919290572007d67a97043814db25d3648",
    "vision_msgs/msg/VisionClass": "RIHS01_1e4a11f0fed50b5623cb8ff26ca0e37952a48a9c074d16f804b44e9164c2037a",
    "surg_perception/msg/SurgicalScene": "RIHS01_936b650a309607bc419444c161792f94b620c5fd33bc459e63e516c6d585ab2f",
    "surg_perception/msg/Instrument": "RIHS01_7314a13826897c18afa877285650f3f4e368f9422f2005bd93129e102d1900b0",
    "surg_perception/msg/InstrumentArray": "RIHS01_f99aa9012962ce1ffb115d063925c7eed146d7f10a63a84e9482386e444edc93",
}


def installed_type_hash(type_name: str) -> str:
    pkg, _, name = type_name.split("/")
    # The first prefix of AMENT_PREFIX_PATH holding it (a private build overlays the venv).
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    found = [p / "share" / pkg / "msg" / f"{name}.json" for p in [*prefixes, Path(sys.prefix)]]
    path = next((p for p in found if p.exists()), found[-1])
    if not path.exists():
        pytest.skip(f"{path} not found (a real vision_msgs from apt keeps it elsewhere)")
    hashes = json.loads(path.read_text())["type_hashes"]
    return next(h["hash_string"] for h in hashes if h["type_name"] == type_name)


@pytest.mark.parametrize("type_name", sorted(RECORDED))
def test_recorded_type_hash(type_name):
    assert installed_type_hash(type_name) == RECORDED[type_name]


def test_runtime_type_hash_matches_record():
    """The hash DDS peers exchange (graph info) equals the recorded one."""
    from vision_msgs.msg import Detection2DArray

    rclpy.init()
    try:
        node = rclpy.create_node("type_hash_probe")
        node.create_publisher(Detection2DArray, "type_hash_probe/detections", 1)
        (info,) = node.get_publishers_info_by_topic("type_hash_probe/detections")
        assert str(info.topic_type_hash) == RECORDED["vision_msgs/msg/Detection2DArray"]
        node.destroy_node()
    finally:
        rclpy.shutdown()
