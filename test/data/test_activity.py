"""VQLA activity files: parsing, the frame-level rule and errors naming file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from surg_perception.classes import ACTIVITIES
from surg_perception.data.activity import frame_activity, parse_vqla, read_activity
from surg_perception.errors import DatasetError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vqla" / "label" / "frame007.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_parse_lines_with_and_without_box(tmp_path: Path) -> None:
    path = _write(tmp_path, "What organ is being operated?|kidney\n\n"
                            "What is the state of prograsp_forceps?|Grasping|1,2.5,30,40\n")
    entries = parse_vqla(path)
    assert [(e.answer, e.box, e.line) for e in entries] == [
        ("kidney", None, 1), ("Grasping", (1.0, 2.5, 30.0, 40.0), 3)]


def test_frame_activity_is_the_first_non_idle(tmp_path: Path) -> None:
    path = _write(tmp_path, "What is the state of a?|Idle|0,0,1,1\n"
                            "Where is a located?|left-top|0,0,1,1\n"
                            "What is the state of b?|tissue manipulation|0,0,1,1\n"
                            "What is the state of c?|Cutting|0,0,1,1\n")
    assert frame_activity(path) == ACTIVITIES.index("Tissue_Manipulation")
    _write(tmp_path, "What is the state of a?|Idle|0,0,1,1\n")
    assert frame_activity(path) == ACTIVITIES.index("Idle")
    _write(tmp_path, "Where is a located?|left-top|0,0,1,1\n")
    assert frame_activity(path) == -1


@pytest.mark.parametrize("line, message", [
    ("What is the state of a?|Dancing|0,0,1,1", "unknown activity 'Dancing'"),
    ("What is the state of a?", "expected 'question|answer|x1,y1,x2,y2'"),
    ("What is the state of a?|Idle|0,0,one,1", "box '0,0,one,1' is not"),
    ("q|a|1,2,3", "box '1,2,3' is not"),
])
def test_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, "Where is a located?|left-top|0,0,1,1\n" + line + "\n")
    with pytest.raises(DatasetError, match=re.escape(f"{path}:2: {message}")):
        frame_activity(path)


def test_read_activity_modes(tmp_path: Path) -> None:
    image = tmp_path / "left_frames" / "frame007.png"
    assert read_activity(tmp_path, image, None) == -1  # no vqla folder: unlabelled
    with pytest.raises(DatasetError, match="frame007.txt: activity label file not found"):
        read_activity(tmp_path, image, True)
    _write(tmp_path, "What is the state of a?|Suturing|0,0,1,1\n")
    assert read_activity(tmp_path, image, None) == ACTIVITIES.index("Suturing")
    assert read_activity(tmp_path, image, False) == -1
    other = tmp_path / "left_frames" / "frame008.png"
    with pytest.raises(DatasetError, match="frame008.txt"):  # labelled sequence, file missing
        read_activity(tmp_path, other, None)
