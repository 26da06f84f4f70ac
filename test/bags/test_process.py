"""process-bag: the node's output topics, input headers, metrics, truncated input; render."""

import cv2
import pytest

from surg_perception.bags import typestore as ts
from surg_perception.bags.render import rendered_frames, write_strip, write_video
from surg_perception.bags.storage import BagReader
from surg_perception.errors import BagError

pytest.importorskip("rclpy", reason="process-bag builds the node's messages with rclpy")
from surg_perception.ros.process_bag import process_bag  # noqa: E402

CAMERA = "/jhu_daVinci/left/image_raw"
NS = "/jhu_daVinci/left/apmtl_node/"
OUTPUTS = {"mask": ts.IMAGE, "mask_color": ts.IMAGE, "overlay": ts.IMAGE,
           "detections": ts.DETECTIONS, "activity": ts.CLASSIFICATION, "scene": ts.SCENE,
           "label_info/segmentation": ts.LABEL_INFO, "label_info/detection": ts.LABEL_INFO,
           "label_info/activity": ts.LABEL_INFO}


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
        if not name.startswith("label_info"):
            assert _headers(out, NS + name) == inputs, name
    scene = [ts.deserialize(m.raw, m.msgtype) for m in BagReader(out).messages([NS + "scene"])]
    assert [s.sequence for s in scene] == [0, 1, 2, 3]
    assert scene[0].memory_reset and not scene[1].memory_reset
    assert (scene[0].mask.width, scene[0].mask.height) == (96, 80)


def test_metrics_report_against_ground_truth(processed):
    out, result = processed
    metrics = result["metrics"]
    assert metrics["segmentation_frames"] == 4 and metrics["activity_frames"] == 4
    assert 0.0 <= metrics["mean_iou"] <= 1.0 and 0.0 <= metrics["pixel_accuracy"] <= 1.0
    assert metrics["detection_frames"] == 4 and 0.0 <= metrics["map50"] <= 1.0
    assert out.with_name("out.metrics.json").is_file()


def test_truncated_input_gives_the_error_and_keeps_what_was_processed(synth_sequence,
                                                                      tiny_checkpoint, tmp_path):
    from surg_perception.bags.convert import ConvertOptions, convert
    from surg_perception.data.synth import SynthConfig, write_synth_dataset

    write_synth_dataset(tmp_path / "big", SynthConfig(sequences=1, frames=12, size=(320, 256)))
    bag = tmp_path / "big_mcap"
    convert(tmp_path / "big" / "instrument_dataset_1", bag, ConvertOptions(progress=False))
    mcap = next(bag.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: int(mcap.stat().st_size * 0.6)])
    out = tmp_path / "partial"
    with pytest.raises(BagError, match="truncated or corrupt"):
        process_bag(bag, out, tiny_checkpoint, progress=False)
    done = _headers(out, NS + "mask")
    assert 0 < len(done) < 12
    assert done == _headers(out, NS + "scene")


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
