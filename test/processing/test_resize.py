"""The shared resize and crop rules: antialiasing, nearest-exact masks, crop policies."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from surg_perception.config import PreprocessConfig, from_dict, spec_from_dict, to_dict
from surg_perception.errors import ConfigError
from surg_perception.processing.crop import crop_box
from surg_perception.processing.postprocess import mask_to_camera
from surg_perception.processing.preprocess import FrameGeometry
from surg_perception.processing.resize import (
    resize_image,
    resize_image_np,
    resize_mask,
    resize_mask_np,
)

CAMERA, INPUT = (1024, 1280), (96, 128)


def test_downscale_is_antialiased():
    noise = np.random.default_rng(0).integers(0, 256, (1, 3, 960, 1280), dtype=np.uint8)
    noise = torch.from_numpy(noise)
    smooth = resize_image(noise, INPUT)
    assert smooth.dtype == torch.uint8 and smooth.shape == (1, 3, *INPUT)
    aliased = F.interpolate(noise.float(), size=INPUT, mode="bilinear", antialias=False)
    # Each output averages ~100 source pixels instead of 4: the noise all but vanishes.
    assert smooth.float().std() < 0.2 * aliased.std()
    assert abs(smooth.float().mean() - noise.float().mean()) < 1.0


def test_resize_ignores_memory_layout():
    frame = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    view = torch.from_numpy(frame)[10:290, 20:390].permute(2, 0, 1)[None]  # strided view
    copy = view.contiguous()
    assert torch.equal(resize_image(view, (70, 90)), resize_image(copy, (70, 90)))
    np.testing.assert_array_equal(resize_image_np(frame[10:290, 20:390], (70, 90)),
                                  resize_image(copy, (70, 90))[0].permute(1, 2, 0).numpy())
    assert resize_image(view, (280, 370)) is view  # already at size: untouched


def test_mask_resize_reads_pixel_centres():
    row = torch.arange(4, dtype=torch.uint8).view(1, 4)
    assert resize_mask(row, (1, 2)).tolist() == [[1, 3]]  # floor((j + 0.5) * 2)
    assert resize_mask_np(np.array([[1, 2]], np.uint8), (1, 4)).tolist() == [[1, 1, 2, 2]]
    stack = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    assert resize_mask(stack, (4, 4)).shape == (2, 3, 4, 4)


def _instrument_mask(rng: np.random.Generator) -> np.ndarray:
    """A shaft from the image edge towards the middle with a jaw at its tip, as in EndoVis."""
    mask = np.zeros(CAMERA, np.uint8)
    height, width = CAMERA
    entry = (int(rng.uniform(0, width)), int(rng.choice([0, height - 1])))
    tip = (int(rng.uniform(0.3, 0.7) * width), int(rng.uniform(0.3, 0.7) * height))
    cv2.line(mask, entry, tip, 1, int(rng.uniform(40, 110)))
    cv2.circle(mask, tip, int(rng.uniform(30, 70)), 1, -1)
    return mask


def _round_trip(mask: np.ndarray, mode: str) -> np.ndarray:
    small = F.interpolate(torch.from_numpy(mask)[None, None], size=INPUT, mode=mode)[0, 0]
    geometry = FrameGeometry(CAMERA, (0, 0, CAMERA[1], CAMERA[0]), INPUT)
    return mask_to_camera(small, geometry).numpy()  # the predictor's upsampling


@pytest.mark.parametrize("seed", range(6))
def test_mask_round_trip_loses_little(seed: int):
    mask = _instrument_mask(np.random.default_rng(seed))
    back = _round_trip(mask, "nearest-exact")
    np.testing.assert_array_equal(back, _round_trip_shared(mask))  # targets' convention
    dice = 2 * (mask & back).sum() / (mask.sum() + back.sum())
    assert dice >= 0.94


def test_mask_round_trip_has_no_half_pixel_shift():
    """Mean centroid displacement over many shapes: quantisation averages out, a bias not."""
    masks = [_instrument_mask(np.random.default_rng(100 + seed)) for seed in range(48)]
    exact = np.mean([np.subtract(_centroid(_round_trip(m, "nearest-exact")), _centroid(m))
                     for m in masks], axis=0)
    legacy = np.mean([np.subtract(_centroid(_round_trip(m, "nearest")), _centroid(m))
                      for m in masks], axis=0)
    # Camera pixels; one input pixel is 10.7. (What remains, ~0.4, is nearest-exact's floor
    # on a non-integer scale: under 0.05 input pixels.)
    assert np.abs(exact).max() < 1.0
    # The legacy 'nearest' reads each footprint's top-left corner: the round trip moves the
    # mask by up to half an input pixel ((10.7 - 1) / 2 = 4.8 camera pixels) right and down.
    assert legacy.max() > 2.5


def _round_trip_shared(mask: np.ndarray) -> np.ndarray:
    return resize_mask_np(resize_mask_np(mask, INPUT), CAMERA)


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    return float(cols.mean()), float(rows.mean())


def test_crop_policies():
    raw = np.zeros((1080, 1920, 3), np.uint8)
    raw[100:900, 400:1500] = 50
    assert crop_box(raw, "endovis17") == (320, 28, 1600, 1052)
    assert crop_box(raw[:1024, :1280], "endovis17") == (0, 0, 1280, 1024)
    assert crop_box(raw, "none") == (0, 0, 1920, 1080)
    assert crop_box(torch.from_numpy(raw), "black_border", 10) == (400, 100, 1500, 900)
    assert crop_box(raw, "black_border", 60) == (0, 0, 1920, 1080)  # all "black"
    with pytest.raises(ConfigError, match="black_border"):
        crop_box(raw, "center")
    with pytest.raises(ConfigError, match="preprocess.crop"):
        PreprocessConfig(crop="center")


def test_old_crop_field_still_loads():
    assert from_dict(PreprocessConfig, {"crop_black_border": True}).crop == "black_border"
    assert from_dict(PreprocessConfig, {"crop_black_border": False}).crop == "endovis17"
    with pytest.raises(ConfigError, match="crop only"):
        from_dict(PreprocessConfig, {"crop_black_border": True, "crop": "none"})
    with pytest.raises(ConfigError, match="valid keys"):
        from_dict(PreprocessConfig, {"crop_border": True})
    old = to_dict(spec_from_dict({}))
    old["preprocess"].pop("crop")
    old["preprocess"]["crop_black_border"] = False  # as every checkpoint before `crop` had
    assert spec_from_dict(old).preprocess.crop == "endovis17"
