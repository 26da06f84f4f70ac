"""process-bag: the node's output topics, input headers, metrics, truncated input; render."""

import re

import cv2
import pytest

from surg_perception.bags import typestore as ts
from surg_perception.bags.render import rendered_frames, write_strip, write_video
from surg_perception.bags.storage import BagReader
from surg_perception.errors import BagError

pytest.importorskip("rclpy", reason="process-bag builds the node's messages with rclpy")
from surg_perception.ros.process_bag import process_bag  # noqa: E402

CAMERA = "/jhu_daVinci/left/image_raw"
NS = "/apmtl_node/"  # one camera: the live names (launch file, empty namespace)
OUTPUTS = {"mask": ts.IMAGE, "part_mask": ts.IMAGE, "mask_color": ts.IMAGE, "overlay": ts.IMAGE,
           "detections": ts.DETECTIONS, "activity": ts.CLASSIFICATION, "scene": ts.SCENE,
           "label_info/segmentation": ts.LABEL_INFO, "label_info/detection": ts.LABEL_INFO,
           "label_info/activity": ts.LABEL_INFO, "label_info/parts": ts.LABEL_INFO,
           "instruments": "surg_perception/msg/InstrumentArray",
           "instrument_markers": "visualization_msgs/msg/MarkerArray"}


def _headers(bag, topic):
    with BagReader(bag) as reader:
        return [(m.timestamp, ts.stamp_ns(h.header), h.header.frame_id)
                for m in reader.messages([topic])
                for h in [ts.deserialize(m.raw, m.msgtype)]]


@pytest.fixture(scope="module")
def processed(synth_bag, tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("processed") / "out"
    return out, process_bag(synth_bag, out, tiny_checkpoint, progress=False)


def test_every_output_topic_with_the_input_headers(processed, synth_bag):
    out, result = processed
    inputs = _headers(synth_bag, CAMERA)
    assert result["frames"] == len(inputs) == 4
    with BagReader(out) as reader:
        assert reader.topics == {NS + name: msgtype for name, msgtype in OUTPUTS.items()}
    for name in OUTPUTS:
        if not name.startswith("label_info") and name != "instrument_markers":  # no header
            assert _headers(out, NS + name) == inputs, name
    scene = [ts.deserialize(m.raw, m.msgtype) for m in BagReader(out).messages([NS + "scene"])]
    assert [s.sequence for s in scene] == [0, 1, 2, 3]
    assert scene[0].memory_reset and not scene[1].memory_reset
    assert (scene[0].mask.width, scene[0].mask.height) == (96, 80)
    parts = [ts.deserialize(m.raw, m.msgtype) for m in BagReader(out).messages([NS + "part_mask"])]
    assert {(p.encoding, p.width, p.height) for p in parts} == {("mono8", 96, 80)}
    assert max(max(bytes(p.data)) for p in parts) <= 3  # background, shaft, wrist, claspers


def test_metrics_report_against_ground_truth(processed):
    out, result = processed
    metrics = result["metrics"]
    assert metrics["segmentation_frames"] == 4 and metrics["activity_frames"] == 4
    assert 0.0 <= metrics["mean_iou"] <= 1.0 and 0.0 <= metrics["pixel_accuracy"] <= 1.0
    assert metrics["detection_frames"] == 4 and 0.0 <= metrics["map50"] <= 1.0
    assert out.with_name("out.metrics.json").is_file()


@pytest.fixture(scope="module")
def truncated_bag(tmp_path_factory):
    from surg_perception.bags.convert import ConvertOptions, convert
    from surg_perception.data.synth import SynthConfig, write_synth_dataset

    root = tmp_path_factory.mktemp("truncated")
    write_synth_dataset(root / "big", SynthConfig(sequences=1, frames=12, size=(320, 256)))
    bag = root / "big_mcap"
    convert(root / "big" / "instrument_dataset_1", bag, ConvertOptions(progress=False))
    mcap = next(bag.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: int(mcap.stat().st_size * 0.6)])
    return bag


def _readable_count(error: BagError) -> int:
    return int(re.search(r"holds (\d+) readable message", str(error)).group(1))


def test_truncated_input_removes_the_partial_output_and_a_rerun_needs_no_force(
        truncated_bag, tiny_checkpoint, tmp_path):
    out = tmp_path / "partial"
    with pytest.raises(BagError, match="truncated or corrupt.*was not written.*--keep-partial"):
        process_bag(truncated_bag, out, tiny_checkpoint, progress=False)
    assert not out.exists() and list(tmp_path.iterdir()) == []  # no hidden leftovers either
    result = process_bag(truncated_bag, out, tiny_checkpoint, progress=False, keep_partial=True)
    assert "truncated or corrupt" in result["partial"]
    done = _headers(out, NS + "mask")
    assert 0 < len(done) < 12 and result["frames"] == len(done)
    assert done == _headers(out, NS + "scene")


def test_every_command_reports_the_same_readable_count(truncated_bag, tiny_checkpoint,
                                                       tmp_path):
    counts = []
    for read in (lambda: process_bag(truncated_bag, tmp_path / "o", tiny_checkpoint,
                                     progress=False),
                 lambda: rendered_frames(truncated_bag),
                 lambda: list(BagReader(truncated_bag).messages([CAMERA])),
                 lambda: list(BagReader(truncated_bag).messages())):
        with pytest.raises(BagError) as info:
            read()
        counts.append(_readable_count(info.value))
    with BagReader(truncated_bag) as reader:
        assert counts == [sum(reader.counts.values())] * 4
        assert len(reader.counts) > 1  # the commands above read different topic sets


def test_one_camera_can_take_the_launch_namespace(synth_bag, tiny_checkpoint, tmp_path):
    process_bag(synth_bag, tmp_path / "ns.mcap", tiny_checkpoint, progress=False,
                namespace="psm_cam")
    assert (tmp_path / "ns.mcap").is_file()  # a .mcap name is one file
    with BagReader(tmp_path / "ns.mcap") as reader:
        assert set(reader.topics) == {"/psm_cam/apmtl_node/" + name for name in OUTPUTS}


def test_render_strip_and_video(processed, tmp_path):
    out, _ = processed
    pictures, fps = rendered_frames(out)
    assert len(pictures) == 4 and pictures[0].shape == (80, 96, 3)
    assert fps == pytest.approx(30.0)
    write_strip(pictures, tmp_path / "strip.png", count=3, height=40)
    strip = cv2.imread(str(tmp_path / "strip.png"))
    assert strip.shape[0] == 40 and strip.shape[1] == 3 * 48
    write_video(pictures, tmp_path / "overlay.mp4", fps)
    capture = cv2.VideoCapture(str(tmp_path / "overlay.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    capture.release()
