"""endovis2bag: checked with the independent mcap reader, rosbags, and OpenCV."""

import cv2
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
import numpy as np
import pytest

from surg_perception.bags.convert import ConvertOptions, convert
from surg_perception.bags.storage import BagReader
from surg_perception.data.io import read_rgb
from surg_perception.errors import BagError

FRAMES, SIZE = 4, (96, 80)  # the synth_sequence fixture (conftest.py)
START_NS = 1_700_000_000 * 10**9
LEFT = "/jhu_daVinci/left/image_raw"
GT = "/jhu_daVinci/left/ground_truth/"


def _mcap_messages(bag):
    (path,) = bag.glob("*.mcap")
    with path.open("rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        return [(schema.name, channel.topic, message.log_time, msg)
                for schema, channel, message, msg in reader.iter_decoded_messages()]


def test_mcap_reader_sees_topics_schemas_counts_and_stamps(synth_bag, synth_sequence):
    messages = _mcap_messages(synth_bag)
    schemas = {topic: schema for schema, topic, _, _ in messages}
    assert schemas == {LEFT: "sensor_msgs/msg/Image", GT + "mask": "sensor_msgs/msg/Image",
                       GT + "detections": "vision_msgs/msg/Detection2DArray",
                       GT + "activity": "vision_msgs/msg/Classification"}
    for topic in schemas:
        stamps = [(log, msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
                  for _, t, log, msg in messages if t == topic]
        expected = [START_NS + round(i * 1e9 / 30) for i in range(FRAMES)]
        assert [s for _, s in stamps] == expected, topic
        assert [log for log, _ in stamps] == expected, topic
    images = [msg for _, t, _, msg in messages if t == LEFT]
    first = read_rgb(synth_sequence / "left_frames" / "frame000.png")
    assert (images[0].width, images[0].height, images[0].encoding) == (*SIZE, "rgb8")
    assert images[0].header.frame_id == "jhu_daVinci_left"
    assert bytes(images[0].data) == first.tobytes()
    detections = [msg for _, t, _, msg in messages if t == GT + "detections"]
    assert any(len(d.detections) for d in detections)
    assert all(h.hypothesis.class_id.isdigit() for d in detections for det in d.detections
               for h in det.results)


def test_sqlite3_compressed_output_reads_back(synth_sequence, tmp_path):
    out = tmp_path / "seq_sqlite3"
    convert(synth_sequence, out, ConvertOptions(storage="sqlite3", compressed="png",
                                                fps=10.0, progress=False))
    assert list(out.glob("*.db3")) and (out / "metadata.yaml").is_file()
    assert "version: 8" in (out / "metadata.yaml").read_text()
    with BagReader(out) as reader:
        assert reader.topics[LEFT + "/compressed"] == "sensor_msgs/msg/CompressedImage"
        assert reader.counts[LEFT + "/compressed"] == FRAMES
        frames = [m for m in reader.messages([LEFT + "/compressed"])]
    from surg_perception.bags.typestore import deserialize, stamp_ns

    msg = deserialize(frames[1].raw, frames[1].msgtype)
    assert stamp_ns(msg.header) == frames[1].timestamp == START_NS + 100_000_000
    decoded = cv2.imdecode(np.asarray(msg.data), cv2.IMREAD_COLOR)[:, :, ::-1]
    expected = read_rgb(synth_sequence / "left_frames" / "frame001.png")
    np.testing.assert_array_equal(decoded, expected)


def test_refuses_to_overwrite_and_force_gives_identical_bytes(synth_sequence, tmp_path):
    out = tmp_path / "again"
    convert(synth_sequence, out, ConvertOptions(progress=False))
    first = (out / "again.mcap").read_bytes()
    with pytest.raises(BagError, match="exists; pass --force"):
        convert(synth_sequence, out, ConvertOptions(progress=False))
    convert(synth_sequence, out, ConvertOptions(progress=False, force=True))
    assert (out / "again.mcap").read_bytes() == first  # same input -> same bag
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".again")]


def test_stereo_video_pair(tmp_path):
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (64, 48))
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    out = tmp_path / "stereo"
    counts = convert(video, out, ConvertOptions(encoding="bgr8", progress=False), right=video)
    right = "/jhu_daVinci/right/image_raw"
    assert counts == {LEFT: 5, right: 5}
    messages = _mcap_messages(out)
    by_topic = {t: [log for _, tt, log, _ in messages if tt == t] for t in (LEFT, right)}
    assert by_topic[LEFT] == by_topic[right]  # the pair shares stamps
    assert by_topic[LEFT][1] - by_topic[LEFT][0] == round(1e9 / 12.0)  # the video's rate
    frame_ids = {msg.header.frame_id for _, t, _, msg in messages if t == right}
    assert frame_ids == {"jhu_daVinci_right"}


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(BagError, match="source not found"):
        convert(tmp_path / "nope", tmp_path / "out", ConvertOptions(progress=False))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BagError, match="not a video file"):
        convert(tmp_path / "notes.txt", tmp_path / "out", ConvertOptions(progress=False))
