"""Parameter declarations, defaults file, validation and the set-parameters rules."""

import dataclasses

import pytest
import rclpy
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
import yaml

from surg_perception.config import PostprocessConfig
from surg_perception.errors import ConfigError
from surg_perception.ros.params import (
    CONFIGURE,
    LAUNCH,
    LIVE,
    SPECS,
    UNSET,
    UNSET_FLAG,
    check_update,
    descriptor,
    latched_qos,
    qos_profile,
    settings_from_values,
)
from surg_perception.ros.pipeline import resolve_postprocess

DEFAULTS = {name: spec.default for name, spec in SPECS.items()}


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_yaml_defaults_match_the_declarations(repo_root):
    data = yaml.safe_load((repo_root / "config" / "apmtl.yaml").read_text())
    assert _flatten(data["/**"]["ros__parameters"]) == DEFAULTS


def test_defaults_are_valid_and_flattened():
    settings = settings_from_values({})
    assert settings.model_device == "auto" and settings.input_qos == "sensor_data"
    assert settings.publishes("overlay") and settings.detection_score_threshold == UNSET
    assert settings.detection_nms_threshold == UNSET and settings.detection_box_fill == UNSET_FLAG


def test_unset_detection_parameters_keep_the_checkpoint_values():
    checkpoint = PostprocessConfig(score_threshold=0.05, nms_threshold=0.3, top_k=17,
                                   max_detections=9, box_fill=False, box_fill_threshold=0.7)
    assert resolve_postprocess(checkpoint, settings_from_values({})) == checkpoint
    chosen = settings_from_values({"detection.score_threshold": 0.0,
                                   "detection.nms_threshold": 0.6, "detection.box_fill": True})
    assert resolve_postprocess(checkpoint, chosen) == dataclasses.replace(
        checkpoint, score_threshold=0.0, nms_threshold=0.6, box_fill=True)
    assert resolve_postprocess(checkpoint, settings_from_values(
        {"detection.box_fill": False})).box_fill is False


@pytest.mark.parametrize("name, value", [
    ("detection.score_threshold", -0.5), ("detection.nms_threshold", -2.0),
    ("detection.box_fill", "yes"), ("detection.box_fill", 1),
])
def test_only_the_sentinel_is_accepted_outside_the_range(name, value):
    with pytest.raises(ConfigError, match="checkpoint"):
        settings_from_values({name: value})


@pytest.mark.parametrize("name, value, match", [
    ("input.qos", "fast", "sensor_data"),
    ("model.dtype", "int8", "fp32"),
    ("detection.score_threshold", 1.5, r"\[0.0, 1.0\]"),
    ("memory.tau", 0, "outside"),
    ("stereo.batch", "yes", "auto"), ("stereo.batch", 1, "auto"),
])
def test_invalid_values_are_rejected_with_the_choices(name, value, match):
    with pytest.raises(ConfigError, match=match):
        settings_from_values({name: value})


def test_stereo_batch_takes_its_choices_or_a_bool():
    """``-p stereo.batch:=true`` (and YAML ``true``) arrive as a bool: the same choice."""
    assert settings_from_values({}).stereo_batch == "auto"
    for value in ("auto", "true", "false", True, False):
        assert settings_from_values({"stereo.batch": value}).stereo_batch == value
    assert descriptor(SPECS["stereo.batch"]).dynamic_typing
    assert "one of auto, true, false" in descriptor(SPECS["stereo.batch"]).description
    assert "cleanup" in check_update(DEFAULTS, {"stereo.batch": "true"}, "active")


def test_both_inputs_off_is_rejected():
    with pytest.raises(ConfigError, match="both"):
        settings_from_values({"input.image_topic": "", "input.compressed_topic": ""})


def test_configure_time_parameters_need_an_unconfigured_node():
    update = {"model.checkpoint": "/tmp/other.pt"}
    assert check_update(DEFAULTS, update, "unconfigured") == ""
    reason = check_update(DEFAULTS, update, "active")
    assert "cleanup" in reason and "model.checkpoint" in reason
    assert check_update(DEFAULTS, {"detection.score_threshold": 0.6}, "active") == ""
    assert "outside" in check_update(DEFAULTS, {"overlay.alpha": 2.0}, "active")
    assert check_update(DEFAULTS, {"use_sim_time": True}, "active") == ""


def test_descriptors_state_kind_range_and_read_only():
    kinds = {spec.kind for spec in SPECS.values()}
    assert kinds == {LIVE, CONFIGURE, LAUNCH}
    score = descriptor(SPECS["detection.score_threshold"])
    assert score.description.startswith("[live]") and not score.read_only
    assert score.floating_point_range[0].to_value == 1.0
    assert descriptor(SPECS["input.qos_depth"]).integer_range[0].from_value == 1
    assert descriptor(SPECS["autostart"]).read_only
    assert not descriptor(SPECS["model.checkpoint"]).read_only  # fixable after a failure
    assert "one of" in descriptor(SPECS["input.qos"]).description
    assert score.floating_point_range[0].from_value == UNSET  # ROS lets the sentinel through
    assert descriptor(SPECS["detection.box_fill"]).dynamic_typing  # bool or "checkpoint"


def test_qos_profiles():
    assert qos_profile("sensor_data", 5).reliability == ReliabilityPolicy.BEST_EFFORT
    assert qos_profile("reliable", 3).reliability == ReliabilityPolicy.RELIABLE
    assert qos_profile("reliable", 3).depth == 3
    assert qos_profile("best_effort", 1).reliability == ReliabilityPolicy.BEST_EFFORT
    assert latched_qos().durability == DurabilityPolicy.TRANSIENT_LOCAL
    with pytest.raises(ConfigError):
        qos_profile("fast", 1)


def test_node_declares_and_guards_parameters():
    """In-process node (unconfigured): overrides apply, bad values are refused with reasons."""
    from surg_perception.ros.node import ApmtlNode

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = ApmtlNode(context=context, parameter_overrides=[
            Parameter("detection.score_threshold", value=0.25),
            Parameter("detection.box_fill", value=False),
            Parameter("stereo.batch", value=True)])
        try:
            assert node.get_parameter("detection.score_threshold").value == 0.25
            assert node.get_parameter("detection.box_fill").value is False
            assert node.get_parameter("stereo.batch").value is True  # as from -p x:=true
            for name, value, ok in (("detection.box_fill", UNSET_FLAG, True),
                                    ("detection.box_fill", True, True),
                                    ("detection.box_fill", "on", False),
                                    ("detection.score_threshold", UNSET, True),
                                    ("detection.score_threshold", -0.5, False),
                                    ("stereo.batch", "false", True),
                                    ("stereo.batch", "sometimes", False)):
                result = node.set_parameters([Parameter(name, value=value)])[0]
                assert result.successful == ok, (name, value, result.reason)
            assert node.describe_parameter("memory.tau").integer_range[0].to_value == 64
            results = node.set_parameters([Parameter("input.qos", value="fast")])
            assert not results[0].successful and "sensor_data" in results[0].reason
            results = node.set_parameters([Parameter("overlay.alpha", value=3.0)])
            assert not results[0].successful
            assert node.set_parameters([Parameter("model.checkpoint", value="x.pt")])[0].successful
            results = node.set_parameters([Parameter("autostart", value=True)])
            assert not results[0].successful  # read-only
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
