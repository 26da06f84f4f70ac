"""The rclpy-free topic table names real message types, and the namespace rule."""

import pytest

from surg_perception.ros.interfaces import message_class
from surg_perception.topics import (
    LABEL_INFO_TYPE,
    OUTPUT_TOPICS,
    camera_namespace,
    find_output_namespace,
    ground_truth_topics,
    output_namespace,
    output_topics,
    stream_namespaces,
)


def test_every_output_type_name_is_an_rclpy_class():
    for _, msgtype in [*OUTPUT_TOPICS.values(), ("", LABEL_INFO_TYPE)]:
        cls = message_class(msgtype)
        assert f"{cls.__module__.split('.')[0]}/msg/{cls.__name__}" == msgtype


def test_namespace_of_raw_and_compressed_topics_is_the_same():
    for topic in ("/jhu_daVinci/left/image_raw", "/jhu_daVinci/left/image_raw/compressed"):
        assert camera_namespace(topic) == "/jhu_daVinci/left"
        assert ground_truth_topics(topic)["mask"] == "/jhu_daVinci/left/ground_truth/mask"
    topics = output_topics("/cam/apmtl_node")
    assert topics["scene"] == ("/cam/apmtl_node/scene", "surg_perception/msg/SurgicalScene")
    assert topics["label_info/detection"][0] == "/cam/apmtl_node/label_info/detection"


def test_outputs_are_the_node_names_under_the_node_namespace():
    assert output_namespace() == output_namespace("") == "/apmtl_node"  # the launch default
    assert output_namespace("psm_cam") == output_namespace("/psm_cam/") == "/psm_cam/apmtl_node"
    left, right = "/jhu_daVinci/left/image_raw", "/jhu_daVinci/right/image_raw"
    assert stream_namespaces([left]) == {left: "/apmtl_node"}
    assert stream_namespaces([left], "psm_cam") == {left: "/psm_cam/apmtl_node"}
    assert stream_namespaces([left, right]) == {left: "/jhu_daVinci/left/apmtl_node",
                                                right: "/jhu_daVinci/right/apmtl_node"}
    with pytest.raises(ValueError, match="same topics"):
        stream_namespaces([left, right], "psm_cam")


def test_render_finds_the_outputs_of_a_camera():
    left, right = "/jhu_daVinci/left/image_raw", "/jhu_daVinci/right/image_raw"
    assert find_output_namespace(left, [left, "/apmtl_node/mask"]) == "/apmtl_node"
    stereo = [left, right, "/jhu_daVinci/left/apmtl_node/mask",
              "/jhu_daVinci/right/apmtl_node/mask"]
    assert find_output_namespace(right, stereo) == "/jhu_daVinci/right/apmtl_node"
    assert find_output_namespace(left, [left, "/jhu_daVinci/left/ground_truth/mask"]) is None
