"""Image outputs at memcpy speed: borrowed pixels, one-copy CDR, decoded by rclpy itself."""

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from surg_perception.msg import SurgicalScene
from surg_perception.predictor import FrameResult
from surg_perception.processing.overlay import render_overlay
from surg_perception.ros import message_bench, messages
from surg_perception.ros.conversions import numpy_to_image
from surg_perception.ros.image_msgs import serialize_image

RNG = np.random.default_rng(3)


def _pixels(*shape: int) -> np.ndarray:
    return RNG.integers(0, 256, shape, dtype=np.uint8)


def _decoded(raw: bytes, shape: tuple[int, ...]) -> tuple[Image, np.ndarray]:
    msg = deserialize_message(raw, Image)
    return msg, np.frombuffer(msg.data, np.uint8).reshape(shape)


# frame_id lengths 0..4 and a non-ASCII one move every later field across CDR's 4-byte
# alignment; odd widths give a mono8 data length that is not a multiple of 4.
@pytest.mark.parametrize("frame_id", ["", "a", "ab", "abc", "left", "kamera_ü"])
@pytest.mark.parametrize("encoding,shape", [("mono8", (5, 7)), ("bgr8", (3, 5, 3)),
                                            ("rgb8", (1, 1, 3))])
def test_serialize_image_is_read_back_by_rclpy(frame_id, encoding, shape):
    pixels = _pixels(*shape)
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = -2, 999_999_999
    msg = numpy_to_image(pixels, encoding, header)
    raw = serialize_image(msg)
    reference = serialize_message(msg)
    assert len(raw) == len(reference)
    back, decoded = _decoded(raw, shape)
    assert back == deserialize_message(reference, Image)  # every field, pixels included
    assert np.array_equal(decoded, pixels)
    assert (back.header.frame_id, back.header.stamp.sec) == (frame_id, -2)
    assert (back.encoding, back.step) == (encoding, msg.step)


def test_camera_sized_bgr8_and_received_messages():
    pixels = _pixels(1024, 1280, 3)
    msg = numpy_to_image(pixels, "bgr8", Header(frame_id="camera"))
    raw = serialize_image(msg)
    assert len(raw) == len(serialize_message(msg)) == pixels.nbytes + 52
    received = deserialize_message(raw, Image)  # data is rclpy's own array('B') here
    assert serialize_image(received)[-pixels.nbytes:] == pixels.tobytes()
    big_endian = numpy_to_image(pixels[:4, :4], "bgr8")
    big_endian.is_bigendian = 1
    assert deserialize_message(serialize_image(big_endian), Image).is_bigendian == 1


def test_build_borrows_and_non_contiguous_pixels_are_copied_once():
    pixels = _pixels(6, 8, 3)
    msg = numpy_to_image(pixels, "bgr8")
    assert np.shares_memory(np.frombuffer(msg.data, np.uint8), pixels)
    with pytest.raises(TypeError):
        msg.data[0] = 1  # read-only: the message cannot write into the caller's pixels
    crop = pixels[1:5, ::2]  # a crop with strides: copied into the message
    cropped = numpy_to_image(crop, "bgr8")
    assert not np.shares_memory(np.frombuffer(cropped.data, np.uint8), pixels)
    for raw in (serialize_image(cropped), serialize_message(cropped)):
        assert np.array_equal(_decoded(raw, crop.shape)[1], crop)


@pytest.fixture
def frame() -> tuple[np.ndarray, FrameResult]:
    camera = _pixels(24, 32, 3)
    mask = np.zeros((24, 32), np.uint8)
    mask[3:9, 4:20] = 2
    color = np.zeros((24, 32, 3), np.uint8)
    color[mask > 0] = (0, 200, 0)
    result = FrameResult(
        mask=mask, color_mask=color, boxes=np.array([[4.0, 3.0, 20.0, 9.0]], np.float32),
        scores=np.array([0.8], np.float32), labels=np.array([2], np.int64),
        activity_probs=None, timings_ms={"network": 1.0}, memory={})
    return camera, result


def test_every_image_output_decodes_to_its_pixels(frame):
    camera, result = frame
    overlay = render_overlay(camera, result.color_mask, result.boxes, result.scores,
                             result.labels, ("a", "b"))
    header = Header(frame_id="left")
    built = messages.build_messages(header, result, {"mask", "mask_color", "overlay", "scene"},
                                    sequence=1, latency_ms=1.0, overlay=overlay)
    expected = {"mask": result.mask, "mask_color": result.color_mask, "overlay": overlay}
    for name, pixels in expected.items():
        msg = built[name]
        assert np.shares_memory(np.frombuffer(msg.data, np.uint8), pixels), name
        # both serialisers, i.e. the bytes a bag stores and what publish hands rclpy
        for raw in (messages.serialize(msg), serialize_message(msg)):
            back, decoded = _decoded(raw, pixels.shape)
            assert np.array_equal(decoded, pixels), name
            assert back.header.frame_id == "left"
            assert back.encoding == ("mono8" if name == "mask" else "bgr8")
    scene = deserialize_message(messages.serialize(built["scene"]), SurgicalScene)
    assert np.array_equal(np.frombuffer(scene.mask.data, np.uint8).reshape(24, 32), result.mask)


def test_message_stage_reports_both_serialisers():
    stage = message_bench.MessageStage()
    pixels = _pixels(16, 20, 3)
    assert stage.image_roundtrip(pixels) == stage.image_roundtrip_rclpy(pixels) \
        == len(serialize_message(numpy_to_image(pixels, "bgr8", Header(frame_id="camera"))))
    out = message_bench.message_vs_memcpy(stage, 16, 20, repeats=5)
    assert out["bytes"] == 16 * 20 * 3
    assert out["ratio"] == pytest.approx(out["message_ms"] / out["memcpy_ms"])
    assert out["rclpy_ratio"] == pytest.approx(out["rclpy_message_ms"] / out["memcpy_ms"])


def test_per_copy_table_with_a_real_publisher(capsys):
    message_bench.main(["--size", "8", "10", "--repeats", "5"])
    table = capsys.readouterr().out
    for step in ("memcpy", "build", "serialize_image", "serialize_message", "publish_msg",
                 "publish_bytes"):
        assert f"| {step} |" in table
    assert "bench stage: memcpy" in table
