"""Property-based fuzzing of the image input path (no DDS): conversions and the frame path.

Every malformed message must raise :class:`ImageFormatError` (which the node counts as a
rejection) and nothing else; every valid one must convert exactly. The frame path is what
the node runs per message: the callback's O(1) header check, then the worker's
:meth:`FrameProcessor.process` (convert -> reset rules -> predictor -> message builders).
Example counts come from the ``counts`` fixture (``--full-counts`` for the long run).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import zlib

import cv2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

pytest.importorskip("rclpy", reason="the conversions build sensor_msgs messages")
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from surg_perception.errors import ImageFormatError  # noqa: E402
from surg_perception.image_msgs import (  # noqa: E402
    ENCODINGS,
    check_compressed,
    check_image,
    compressed_to_numpy,
    image_to_numpy,
)
from surg_perception.ros.conversions import numpy_to_image  # noqa: E402

MAX_PIXELS = 64 * 64
FOREIGN_ENCODINGS = ["32FC1", "16UC1", "rgb16", "yuv422", "bayer_rggb8", "RGB8", "", "mono16"]
FORMATS = ["jpeg", "png", "bgr8; jpeg compressed bgr8", "rgb8; png compressed rgb8", "webp",
           "bmp", "tiff", "h264", "", "16UC1; compressedDepth png", "JPEG"]


def _settings(examples: int) -> settings:
    # No example database: the suite must not write into the repository; no deadline: the
    # machine is shared and timing is not what is tested.
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


MUTATIONS = ["none", "none", "none", "encoding", "height", "width", "step", "short", "long",
             "anything"]


@st.composite
def raw_images(draw) -> Image:
    """sensor_msgs/Image: a valid one (any padding), then at most one field broken."""
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    channels = ENCODINGS[encoding][0]
    height, width = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    step = width * channels + draw(st.integers(0, 9))
    length = step * height
    mutation = draw(st.sampled_from(MUTATIONS))
    huge = st.sampled_from([0, 2**16, 2**31, 2**32 - 1]) | st.integers(0, 2**32 - 1)
    if mutation == "encoding":
        encoding = draw(st.sampled_from(FOREIGN_ENCODINGS) | st.text(max_size=10))
    elif mutation == "height":
        height = draw(huge)
    elif mutation == "width":
        width = draw(huge)
    elif mutation == "step":
        step = draw(st.integers(0, width * channels - 1) | huge)
    elif mutation == "short":
        length = draw(st.integers(0, length - 1))
    elif mutation == "long":
        length += draw(st.integers(1, 999))
    elif mutation == "anything":
        encoding = draw(st.sampled_from(sorted(ENCODINGS)) | st.text(max_size=10))
        height, width, step = draw(huge), draw(huge), draw(huge)
        length = draw(st.integers(0, 5000))
    data = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(
        0, 256, length, dtype=np.uint8).tobytes()
    return Image(height=height, width=width, encoding=encoding, step=step, data=data)


def _compressed_bytes(draw) -> bytes:
    """Random bytes, or a real JPEG/PNG cut short, grown or with flipped bytes."""
    kind = draw(st.sampled_from(["random", "cut", "flip", "grow", "valid"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    pixels = np.random.default_rng(height * 41 + width).integers(0, 256, (height, width, 3),
                                                                 dtype=np.uint8)
    data = bytearray(cv2.imencode(draw(st.sampled_from([".jpg", ".png"])), pixels)[1].tobytes())
    if kind == "cut":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif kind == "grow":
        data += draw(st.binary(min_size=1, max_size=100))
    return bytes(data)


@st.composite
def compressed_images(draw) -> CompressedImage:
    fmt = draw(st.sampled_from(FORMATS) | st.text(max_size=20))
    return CompressedImage(format=fmt, data=_compressed_bytes(draw))


def _check_raw_result(msg: Image, pixels: np.ndarray, order: str) -> None:
    """A converted image must match the message's declared geometry and bytes exactly."""
    channels = ENCODINGS[msg.encoding][0]
    assert pixels.shape == (msg.height, msg.width, 3) and pixels.dtype == np.uint8
    assert order == ENCODINGS[msg.encoding][1]
    assert msg.step >= msg.width * channels and len(msg.data) >= msg.step * msg.height
    data = np.frombuffer(bytes(msg.data), np.uint8)
    last_row = data[(msg.height - 1) * msg.step:(msg.height - 1) * msg.step + msg.width * channels]
    assert np.array_equal(pixels[-1, :, 0], last_row[::channels])


def test_raw_images_only_raise_image_format_error(counts, report):
    outcomes = {"accepted": 0, "rejected": 0}

    @_settings(counts["fuzz_examples"])
    @given(raw_images())
    def prop(msg):
        try:
            pixels, order = image_to_numpy(msg, MAX_PIXELS)
        except ImageFormatError:
            outcomes["rejected"] += 1
            with pytest.raises(ImageFormatError):  # the callback's check agrees
                check_image(msg, MAX_PIXELS)
            return
        outcomes["accepted"] += 1
        check_image(msg, MAX_PIXELS)
        _check_raw_result(msg, pixels, order)

    prop()
    report.update(outcomes)
    assert outcomes["rejected"] > 0 and outcomes["accepted"] > 0  # both sides were explored


def test_compressed_images_only_raise_image_format_error(counts, report):
    outcomes = {"accepted": 0, "rejected": 0}

    @_settings(counts["fuzz_examples"])
    @given(compressed_images())
    def prop(msg):
        try:
            pixels, order = compressed_to_numpy(msg, MAX_PIXELS)
        except ImageFormatError:
            outcomes["rejected"] += 1
            return
        outcomes["accepted"] += 1
        check_compressed(msg)
        assert pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.dtype == np.uint8
        assert pixels.shape[0] * pixels.shape[1] <= MAX_PIXELS and order == "bgr"

    prop()
    report.update(outcomes)
    assert outcomes["rejected"] > 0 and outcomes["accepted"] > 0


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose (CRC-valid) header claims ``width x height`` pixels."""
    data = bytearray(cv2.imencode(".png", np.zeros((2, 2, 3), np.uint8))[1].tobytes())
    ihdr = 8 + 4  # signature, chunk length; then b"IHDR" + 13 bytes + CRC
    data[ihdr + 4:ihdr + 12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17]))
    data[ihdr + 17:ihdr + 21] = crc.to_bytes(4, "big")
    return bytes(data)


@pytest.mark.parametrize("width,height", [(5000, 5000), (2**31 - 1, 2**31 - 1), (0, 10)])
def test_png_with_lying_header_is_rejected(width, height):
    msg = CompressedImage(format="png", data=_png_claiming(width, height))
    with pytest.raises(ImageFormatError):
        compressed_to_numpy(msg, MAX_PIXELS)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_valid_round_trip_is_exact_with_any_padding(counts, encoding):
    channels = ENCODINGS[encoding][0]

    @_settings(max(20, counts["fuzz_examples"] // 5))
    @given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 17), st.integers(0, 2**32 - 1))
    def prop(height, width, padding, seed):
        rng = np.random.default_rng(seed)
        shape = (height, width) if channels == 1 else (height, width, channels)
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        msg = numpy_to_image(pixels, encoding)
        padded = np.concatenate([np.frombuffer(bytes(msg.data), np.uint8).reshape(height, -1),
                                 rng.integers(0, 256, (height, padding), dtype=np.uint8)], 1)
        msg.step, msg.data = width * channels + padding, padded.tobytes()
        back, _ = image_to_numpy(msg)
        expected = pixels.reshape(height, width, channels)
        expected = np.repeat(expected, 3, 2) if channels == 1 else expected[:, :, :3]
        assert np.array_equal(back, expected)

    prop()


def test_png_round_trip_is_exact(counts):
    @_settings(max(20, counts["fuzz_examples"] // 5))
    @given(st.integers(1, 50), st.integers(1, 50), st.integers(0, 2**32 - 1))
    def prop(height, width, seed):
        pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
        msg = CompressedImage(format="bgr8; png compressed bgr8",
                              data=cv2.imencode(".png", pixels)[1].tobytes())
        back, order = compressed_to_numpy(msg)
        assert order == "bgr" and np.array_equal(back, pixels)

    prop()


# --------------------------------------------------------------------------- the node's path
@pytest.fixture(scope="module")
def frame_path(tiny_checkpoint):
    """``(settings, processor)`` exactly as the node builds them at configure."""
    from surg_perception.ros.params import settings_from_values
    from surg_perception.ros.pipeline import FrameProcessor, load_predictor

    settings = settings_from_values({"model.checkpoint": str(tiny_checkpoint),
                                     "model.device": "cpu", "model.warmup_steps": 0,
                                     "input.max_image_pixels": MAX_PIXELS})
    return settings, FrameProcessor(load_predictor(settings))


def _node_frame_path(settings, processor, msg, compressed: bool):
    """The node's per-message work: callback check, then the worker's processing."""
    from surg_perception.ros.worker import PendingFrame

    if compressed:
        check_compressed(msg)
    else:
        check_image(msg, settings.input_max_image_pixels)
    return processor.process(PendingFrame(msg, compressed, time.monotonic()), settings, 30.0)


@st.composite
def stamped_messages(draw):
    compressed = draw(st.booleans())
    msg = draw(compressed_images() if compressed else raw_images())
    msg.header.stamp.sec = draw(st.integers(0, 5) | st.integers(0, 2**31 - 1))
    msg.header.stamp.nanosec = draw(st.integers(0, 999_999_999))
    msg.header.frame_id = draw(st.sampled_from(["endoscope", "left", ""]) | st.text(max_size=8))
    return msg, compressed


def test_node_frame_path_only_rejects_with_image_format_error(frame_path, counts, report):
    settings, processor = frame_path
    outcomes = {"processed": 0, "duplicate": 0, "rejected": 0}

    @_settings(counts["fuzz_pipeline_examples"])
    @given(stamped_messages())
    def prop(case):
        msg, compressed = case
        try:
            outputs = _node_frame_path(settings, processor, msg, compressed)
        except ImageFormatError:
            outcomes["rejected"] += 1
            return
        if outputs is None:
            outcomes["duplicate"] += 1
            return
        outcomes["processed"] += 1
        mask = outputs.messages["mask"]
        scene = outputs.messages["scene"]
        assert mask.header == msg.header and scene.header == msg.header
        size = (mask.height, mask.width)
        if not compressed:
            assert size == (msg.height, msg.width)
        assert 0 < mask.height * mask.width <= MAX_PIXELS

    prop()
    report.update(outcomes)
    assert outcomes["rejected"] > 0 and outcomes["processed"] > 0


def test_atheris_harness_finds_no_crash(repo_root, tmp_path, counts, report):
    pytest.importorskip("atheris", reason="coverage-guided fuzzing needs atheris==3.0.0")
    runs = counts["atheris_runs"]
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    # libFuzzer's memory limit reads the PEAK resident size (ru_maxrss), which a subprocess
    # inherits from this pytest process (4.7 GB once: "out-of-memory" at the first input),
    # so the harness gets 2 GB above the peak it starts with (RELIABILITY.md, 2026-12-02).
    inherited_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    result = subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "fuzz_conversions.py"), f"-runs={runs}",
         "-max_len=4096", "-seed=1", f"-rss_limit_mb={inherited_mb + 2048}",
         f"-artifact_prefix={tmp_path}/"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3600)
    tail = result.stderr[-3000:]
    assert result.returncode == 0, tail
    assert f"Done {runs} runs" in result.stderr, tail
    assert not list(tmp_path.glob("crash-*")), tail
    report["runs"] = runs
    report["coverage"] = next((line.split("cov:")[1].split()[0] for line in
                               reversed(result.stderr.splitlines()) if "cov:" in line), "?")
