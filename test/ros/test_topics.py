"""The rclpy-free topic table names real message types, and the namespace rule."""

from surg_perception.ros.interfaces import message_class
from surg_perception.topics import (
    LABEL_INFO_TYPE,
    OUTPUT_TOPICS,
    ground_truth_topics,
    output_namespace,
    output_topics,
)


def test_every_output_type_name_is_an_rclpy_class():
    for _, msgtype in [*OUTPUT_TOPICS.values(), ("", LABEL_INFO_TYPE)]:
        cls = message_class(msgtype)
        assert f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}" == msgtype


def test_namespace_of_raw_and_compressed_topics_is_the_same():
    for topic in ("/jhu_daVinci/left/image_raw", "/jhu_daVinci/left/image_raw/compressed"):
        assert output_namespace(topic) == "/jhu_daVinci/left/apmtl_node"
        assert ground_truth_topics(topic)["mask"] == "/jhu_daVinci/left/ground_truth/mask"
    topics = output_topics("/cam/apmtl_node")
    assert topics["scene"] == ("/cam/apmtl_node/scene", "surg_perception/msg/SurgicalScene")
    assert topics["label_info/detection"][0] == "/cam/apmtl_node/label_info/detection"
