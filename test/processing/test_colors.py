"""Palettes and mask colouring (torch and numpy agree; background black; BGR order)."""

from __future__ import annotations

import numpy as np
import torch

from surg_perception.classes import ENDOVIS17_INSTRUMENT_TYPES, ENDOVIS18_CLASSES
from surg_perception.processing.colors import colorize, colorize_np, palette_for


def test_palette_is_fixed_distinct_and_background_black():
    palette = palette_for(ENDOVIS17_INSTRUMENT_TYPES)
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert palette[0].tolist() == [0, 0, 0]
    assert len({tuple(c) for c in palette[: len(ENDOVIS17_INSTRUMENT_TYPES)]}) == 8
    assert np.array_equal(palette, palette_for(ENDOVIS17_INSTRUMENT_TYPES))
    assert palette[1].tolist() == [0, 0, 128]  # VOC entry 1 is dark red (RGB 128, 0, 0)


def test_endovis18_names_get_their_dataset_colours_in_bgr():
    palette = palette_for([name for name, _ in ENDOVIS18_CLASSES])
    assert palette[4].tolist() == [0, 55, 255]  # kidney-parenchyma, RGB (255, 55, 0)


def test_torch_and_numpy_colouring_agree():
    palette = palette_for(ENDOVIS17_INSTRUMENT_TYPES)
    mask = np.array([[0, 1, 7], [255, 3, 0]], dtype=np.uint8)
    coloured = colorize_np(mask, palette)
    assert coloured.shape == (2, 3, 3) and coloured.dtype == np.uint8
    assert coloured[0, 2].tolist() == palette[7].tolist()
    on_torch = colorize(torch.from_numpy(mask), torch.from_numpy(palette))
    assert np.array_equal(on_torch.numpy(), coloured)
