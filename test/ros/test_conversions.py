"""sensor_msgs <-> NumPy conversions on hand-built messages (no node, no DDS)."""


import cv2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from surg_perception.errors import ImageFormatError
from surg_perception.image_msgs import (
    ENCODINGS,
    compressed_to_numpy,
    image_to_numpy,
    rejection_reason,
)
from surg_perception.ros.conversions import mask_to_image, numpy_to_image


def _image(pixels: np.ndarray, encoding: str, pad: int = 0) -> Image:
    """Hand-built Image with ``pad`` garbage bytes at the end of every row."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    padded = np.concatenate([rows, np.full((height, pad), 77, np.uint8)], axis=1)
    return Image(height=height, width=width, encoding=encoding, step=rows.shape[1] + pad,
                 data=padded.tobytes())


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize("pad", [0, 3])
def test_rgb8_and_bgr8_read_with_row_padding(rgb, pad):
    pixels, order = image_to_numpy(_image(rgb, "rgb8", pad))
    assert order == "rgb" and np.array_equal(pixels, rgb)
    pixels, order = image_to_numpy(_image(rgb[..., ::-1], "bgr8", pad))
    assert order == "bgr" and np.array_equal(pixels, rgb[..., ::-1])


def test_alpha_is_dropped_and_colour_order_kept(rgb):
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 9, np.uint8)], axis=2)
    pixels, order = image_to_numpy(_image(rgba, "rgba8", 2))
    assert order == "rgb" and np.array_equal(pixels, rgb)
    pixels, order = image_to_numpy(_image(rgba, "bgra8"))
    assert order == "bgr" and np.array_equal(pixels, rgb)


def test_mono8_becomes_three_equal_channels():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    pixels, _ = image_to_numpy(_image(grey, "mono8", 1))
    assert pixels.shape == (3, 4, 3)
    assert all(np.array_equal(pixels[..., c], grey) for c in range(3))


def test_reading_does_not_copy_the_pixels(rgb):
    msg = _image(rgb, "rgb8")
    pixels, _ = image_to_numpy(msg)
    assert np.shares_memory(pixels, np.frombuffer(msg.data, np.uint8))


def _reason(msg, **kwargs) -> str:
    with pytest.raises(ImageFormatError) as info:
        image_to_numpy(msg, **kwargs)
    return rejection_reason(info.value)


def test_malformed_images_are_rejected_with_the_reason(rgb):
    good = _image(rgb, "rgb8")
    float_image = Image(height=5, width=7, encoding="32FC1", step=28, data=bytes(140))
    assert _reason(float_image) == "encoding"
    assert _reason(Image(height=0, width=7, encoding="rgb8", step=21)) == "empty"
    assert _reason(Image(height=5, width=7, encoding="rgb8", step=20, data=bytes(100))) == "step"
    truncated = Image(height=5, width=7, encoding="rgb8", step=21, data=bytes(good.data)[:-1])
    assert _reason(truncated) == "truncated"
    assert _reason(good, max_pixels=34) == "oversized"
    with pytest.raises(ImageFormatError, match="32FC1"):
        image_to_numpy(Image(height=1, width=1, encoding="32FC1", step=4, data=bytes(4)))


def test_numpy_to_image_round_trip_and_header(rgb):
    header = Header(frame_id="cam")
    header.stamp.sec = 12
    msg = numpy_to_image(rgb, "rgb8", header)
    assert (msg.height, msg.width, msg.step) == (5, 7, 21)
    assert msg.header.frame_id == "cam" and msg.header.stamp.sec == 12
    # the message borrows contiguous pixels (no build copy) and cannot write to them
    assert np.shares_memory(np.frombuffer(msg.data, np.uint8), rgb)
    assert msg.data.readonly
    assert np.array_equal(image_to_numpy(msg)[0], rgb)
    # a non-contiguous view (every other column) is copied correctly too
    assert np.array_equal(image_to_numpy(numpy_to_image(rgb[:, ::2], "rgb8"))[0], rgb[:, ::2])


def test_numpy_to_image_rejects_wrong_arrays(rgb):
    with pytest.raises(ImageFormatError):
        numpy_to_image(rgb, "mono8")
    with pytest.raises(ImageFormatError):
        numpy_to_image(rgb.astype(np.float32), "rgb8")
    with pytest.raises(ImageFormatError):
        numpy_to_image(rgb, "yuv422")


def test_mask_to_image_is_mono8():
    mask = np.array([[0, 1], [2, 7]], np.uint8)
    msg = mask_to_image(mask)
    assert msg.encoding == "mono8" and msg.step == 2
    assert np.array_equal(np.frombuffer(msg.data, np.uint8).reshape(2, 2), mask)


@pytest.mark.parametrize(
    "fmt", ["jpeg", "png", "bgr8; jpeg compressed bgr8", "rgb8; png compressed rgb8"])
def test_compressed_decodes_to_bgr(rgb, fmt):
    ext = ".png" if "png" in fmt else ".jpg"
    ok, encoded = cv2.imencode(ext, rgb)
    assert ok
    pixels, order = compressed_to_numpy(CompressedImage(format=fmt, data=encoded.tobytes()))
    assert order == "bgr" and pixels.shape == rgb.shape
    if ext == ".png":
        assert np.array_equal(pixels, rgb)


def test_compressed_rejections(rgb):
    ok, png = cv2.imencode(".png", rgb)
    cases = {
        "format": CompressedImage(format="h264", data=png.tobytes()),
        "empty": CompressedImage(format="png", data=b""),
        "undecodable": CompressedImage(format="jpeg", data=b"\xff\xd8 not a jpeg"),
    }
    for reason, msg in cases.items():
        with pytest.raises(ImageFormatError) as info:
            compressed_to_numpy(msg)
        assert rejection_reason(info.value) == reason
    with pytest.raises(ImageFormatError, match="exceeds"):
        compressed_to_numpy(CompressedImage(format="png", data=png.tobytes()), max_pixels=10)
    with pytest.raises(ImageFormatError, match="depth"):
        compressed_to_numpy(CompressedImage(format="16UC1; compressedDepth", data=png.tobytes()))


arrays = st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from(sorted(ENCODINGS)),
                   st.integers(0, 2**32 - 1))


@settings(max_examples=60, deadline=None)
@given(arrays)
def test_property_round_trip(case):
    height, width, encoding, seed = case
    channels = ENCODINGS[encoding][0]
    shape = (height, width) if channels == 1 else (height, width, channels)
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    back, order = image_to_numpy(numpy_to_image(pixels, encoding))
    assert order == ENCODINGS[encoding][1] and back.shape == (height, width, 3)
    expected = np.repeat(pixels[..., None], 3, axis=2) if channels == 1 else pixels[..., :3]
    assert np.array_equal(back, expected)


garbage_images = st.builds(
    Image,
    height=st.integers(0, 2**32 - 1) | st.integers(0, 20),
    width=st.integers(0, 2**32 - 1) | st.integers(0, 20),
    step=st.integers(0, 2**32 - 1) | st.integers(0, 80),
    encoding=st.sampled_from(sorted(ENCODINGS)) | st.text(max_size=12),
    data=st.binary(max_size=600),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(garbage_images)
def test_property_garbage_images_raise_only_image_format_error(msg):
    try:
        pixels, _ = image_to_numpy(msg)
    except ImageFormatError:
        return
    assert pixels.shape == (msg.height, msg.width, 3)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["jpeg", "png", "bgr8; jpeg compressed bgr8", "webp", "x"])
       | st.text(max_size=20), st.binary(max_size=300))
def test_property_garbage_compressed_raise_only_image_format_error(fmt, data):
    try:
        pixels, _ = compressed_to_numpy(CompressedImage(format=fmt, data=data))
    except ImageFormatError:
        return
    assert pixels.ndim == 3 and pixels.shape[2] == 3


def test_oversized_compressed_image_is_rejected_from_its_header(monkeypatch):
    """A 8000x8000 PNG is ~70 kB; its size must be refused before anything is decoded."""
    ok, png = cv2.imencode(".png", np.zeros((8000, 8000), dtype=np.uint8))
    assert ok and len(png) < 1_000_000
    decoded = []
    monkeypatch.setattr(cv2, "imdecode", lambda *args: decoded.append(args))
    msg = CompressedImage(format="png", data=png.tobytes())
    with pytest.raises(ImageFormatError) as info:
        compressed_to_numpy(msg, max_pixels=4096 * 4096)
    assert "8000" in str(info.value)
    assert rejection_reason(info.value) == "oversized"
    assert decoded == []
