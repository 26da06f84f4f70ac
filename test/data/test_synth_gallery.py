"""``surg-perception synth-gallery`` writes one labelled PNG of every type and activity."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from surg_perception.cli import main as cli_main
from surg_perception.data.synth_gallery import find_phases
from surg_perception.data.synth_plan import WEIGHTS
from surg_perception.errors import DatasetError


def test_gallery_command_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "gallery" / "g.png"
    assert cli_main(["synth-gallery", str(out), "--size", "256", "320"]) == 0  # H W
    image = cv2.imread(str(out))
    # 7 type columns of 80x64 tiles; 4 type rows and 4 rows of activity pairs below a title.
    assert image.shape[1] == 7 * 80 and image.shape[0] > 4 * 64 + 4 * 56
    assert cli_main(["synth-gallery", str(tmp_path / "g.jpg")]) == 2  # PNG only


def test_every_activity_has_a_phase_to_show() -> None:
    phases = find_phases(0)
    assert set(phases) == set(WEIGHTS)
    for index, frames in phases.values():
        assert index >= 1 and frames == sorted(frames) and len(frames) == 4
    with pytest.raises(DatasetError, match="no phase"):
        find_phases(0, frames=8, tries=1)
