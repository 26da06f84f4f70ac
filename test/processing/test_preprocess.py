"""Preprocessing: normalisation, colour order, border crop, geometry, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from surg_perception.config import PreprocessConfig
from surg_perception.errors import ImageFormatError
from surg_perception.processing.preprocess import (
    FrameGeometry,
    find_crop_box,
    preprocess_batch,
    preprocess_frame,
)

CFG = PreprocessConfig(input_size=(32, 64))


def test_constant_image_normalises_exactly():
    frame = np.full((101, 157, 3), (200, 100, 50), dtype=np.uint8)
    x, geometry = preprocess_frame(frame, CFG, "rgb")
    assert x.shape == (1, 3, 32, 64) and x.dtype == torch.float32
    expected = [(v / 255 - m) / s for v, m, s in zip((200, 100, 50), CFG.mean, CFG.std)]
    for channel, value in enumerate(expected):
        torch.testing.assert_close(x[0, channel], torch.full((32, 64), value), atol=1e-5, rtol=0)
    assert geometry == FrameGeometry((101, 157), (0, 0, 157, 101), (32, 64))


def test_bgr_frame_is_reordered_to_network_rgb():
    rgb = np.full((32, 64, 3), (200, 100, 50), dtype=np.uint8)
    x_rgb, _ = preprocess_frame(rgb, CFG, "rgb")
    x_bgr, _ = preprocess_frame(rgb[..., ::-1], CFG, "bgr")  # negative strides on purpose
    torch.testing.assert_close(x_rgb, x_bgr)
    # Reading a BGR frame as RGB swaps the red and blue planes' content.
    x_wrong, _ = preprocess_frame(rgb[..., ::-1], CFG, "rgb")
    assert not torch.allclose(x_rgb, x_wrong)


def test_bgr_network_receives_bgr_channels():
    cfg = PreprocessConfig(input_size=(32, 64), color_order="bgr", mean=(0, 0, 0), std=(1, 1, 1))
    frame = np.full((32, 64, 3), (255, 0, 51), dtype=np.uint8)  # RGB
    x, _ = preprocess_frame(frame, cfg, "rgb")
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([0.2, 0.0, 1.0]))


def test_resize_is_bilinear_rounded_to_uint8():
    frame = np.zeros((2, 2, 3), dtype=np.uint8)
    frame[:, 1] = 255  # left column black, right column white
    cfg = PreprocessConfig(input_size=(2, 4), mean=(0, 0, 0), std=(1, 1, 1))
    x, _ = preprocess_frame(frame, cfg)
    # align_corners=False: output x centres map to 0.25 * (2j + 1) - 0.5 in the source;
    # 63.75 and 191.25 are rounded to uint8 like the training frames.
    torch.testing.assert_close(x[0, 0, 0], torch.tensor([0.0, 64.0, 191.0, 255.0]) / 255)


def test_raw_endovis_frame_is_cropped_by_default():
    frame = np.zeros((1080, 1920, 3), dtype=np.uint8)
    frame[28:1052, 320:1600] = 90  # the 1280x1024 view, black bars around it
    x, geometry = preprocess_frame(frame, PreprocessConfig(input_size=(32, 40)))
    assert geometry.crop_box == (320, 28, 1600, 1052)
    expected = torch.tensor((90 / 255 - CFG.mean[0]) / CFG.std[0])
    torch.testing.assert_close(x[0, 0], expected.expand(32, 40), atol=1e-6, rtol=0)
    _, whole = preprocess_frame(frame, PreprocessConfig(input_size=(32, 40), crop="none"))
    assert not whole.is_cropped


def test_black_border_crop_box_and_geometry():
    frame = np.zeros((101, 157, 3), dtype=np.uint8)
    frame[7:90, 12:150] = 120
    frame[50, 30] = (0, 0, 5)  # dark pixel inside the content: not a border
    cfg = PreprocessConfig(input_size=(32, 64), crop="black_border", border_threshold=10)
    x, geometry = preprocess_frame(frame, cfg)
    assert geometry.crop_box == (12, 7, 150, 90)
    assert geometry.crop_size == (83, 138) and geometry.is_cropped
    # The border is gone: the network's corners see content (120), not black.
    expected = torch.tensor((120 / 255 - cfg.mean[0]) / cfg.std[0])
    for corner in (x[0, 0, 0, 0], x[0, 0, 0, -1], x[0, 0, -1, 0], x[0, 0, -1, -1]):
        torch.testing.assert_close(corner, expected, atol=1e-5, rtol=0)


def test_all_black_frame_keeps_full_size():
    image = torch.zeros(20, 30, 3, dtype=torch.uint8)
    assert find_crop_box(image, threshold=10) == (0, 0, 30, 20)


def test_boxes_to_camera_hand_computed():
    boxes = torch.tensor([[0.25, 0.5, 0.75, 1.0], [-0.1, 0.0, 1.2, 0.5]])
    full = FrameGeometry((101, 157), (0, 0, 157, 101), (96, 128))
    torch.testing.assert_close(
        full.boxes_to_camera(boxes),
        torch.tensor([[39.25, 50.5, 117.75, 101.0], [0.0, 0.0, 157.0, 50.5]]),
    )
    cropped = FrameGeometry((101, 157), (10, 5, 150, 95), (96, 128))
    torch.testing.assert_close(
        cropped.boxes_to_camera(boxes),
        torch.tensor([[45.0, 50.0, 115.0, 95.0], [10.0, 5.0, 150.0, 50.0]]),
    )


def test_batch_matches_single_frames():
    frames = [np.full((40, 50, 3), v, dtype=np.uint8) for v in (10, 200)]
    x, geometries = preprocess_batch(frames, CFG)
    assert x.shape == (2, 3, 32, 64) and len(geometries) == 2
    torch.testing.assert_close(x[1:], preprocess_frame(frames[1], CFG)[0])


@pytest.mark.parametrize(
    "frame, message",
    [
        (np.zeros((10, 10, 3), dtype=np.float32), r"dtype float32 with shape \(10, 10, 3\)"),
        (np.zeros((10, 10), dtype=np.uint8), r"got shape \(10, 10\)"),
        (np.zeros((10, 10, 4), dtype=np.uint8), r"got shape \(10, 10, 4\)"),
        (np.zeros((0, 10, 3), dtype=np.uint8), r"got shape \(0, 10, 3\)"),
        ([[1, 2, 3]], "got list"),
    ],
)
def test_bad_frames_raise_image_format_error(frame, message):
    with pytest.raises(ImageFormatError, match=message):
        preprocess_frame(frame, CFG)


def test_unknown_color_order_raises():
    with pytest.raises(ImageFormatError, match="colour order 'rgba'"):
        preprocess_frame(np.zeros((8, 8, 3), np.uint8), CFG, "rgba")
