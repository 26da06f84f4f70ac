"""Overlay labels: the dark outline hugs the glyphs (no ghost characters after a label)."""

from __future__ import annotations

import numpy as np

from surg_perception.processing.overlay import _put_text


def test_the_outline_ends_where_the_text_ends():
    canvas = np.full((40, 300, 3), 128, np.uint8)
    _put_text(canvas, "Grasping Retractor 0.76", (5, 25), 0.6, (255, 255, 255))
    bright = np.flatnonzero((canvas > 200).all(axis=2).any(axis=0))
    dark = np.flatnonzero((canvas < 40).all(axis=2).any(axis=0))
    assert bright.size and dark.size
    # A thicker second copy of the text (the old outline) ran ~20 px past the last glyph.
    assert dark.max() <= bright.max() + 2 and dark.min() >= bright.min() - 2


def test_text_at_the_border_is_clipped_not_an_error():
    canvas = np.full((20, 30, 3), 128, np.uint8)
    _put_text(canvas, "long label 0.99", (20, 5), 0.6, (255, 255, 255))
    _put_text(canvas, "x", (40, 50), 0.6, (255, 255, 255))  # wholly outside: nothing drawn
    assert (canvas != 128).any()
