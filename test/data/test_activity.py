"""VQLA activity files: parsing, the frame-level rule and errors naming file and line."""

from __future__ import annotations

from pathlib import Path
import re

import pytest

from surg_perception.classes import ACTIVITIES
from surg_perception.data.activity import frame_activity, label_path, parse_vqla, read_activity
from surg_perception.errors import DatasetError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vqla" / "label" / "frame007.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_parse_lines_with_and_without_box(tmp_path: Path) -> None:
    path = _write(tmp_path, "What organ is being operated?|kidney\n\n"
                            "What is the state of prograsp_forceps?|Grasping|1,3,30,40\n"
                            "Where is prograsp_forceps located?|left-top|0,0,0,0\n")
    entries = parse_vqla(path)
    # Released boxes are 1-based with inclusive x2/y2: pixel edges are (x1-1, y1-1, x2, y2).
    assert [(e.answer, e.box, e.line) for e in entries] == [
        ("kidney", None, 1), ("Grasping", (0.0, 2.0, 30.0, 40.0), 3), ("left-top", None, 4)]


def test_released_box_of_one_pixel_covers_that_pixel(tmp_path: Path) -> None:
    path = _write(tmp_path, "What is the state of a?|Idle|5,7,5,7\n")
    x1, y1, x2, y2 = parse_vqla(path)[0].box
    assert (x1, y1, x2 - x1, y2 - y1) == (4.0, 6.0, 1.0, 1.0)  # column 4, row 6 (0-based)
    _write(tmp_path, "What is the state of a?|Idle|9,7,5,7\n")
    with pytest.raises(DatasetError, match="frame007.txt:1: box '9,7,5,7' has x2 < x1"):
        parse_vqla(path)


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


def test_label_files_with_a_suffix_are_found(tmp_path: Path) -> None:
    image = tmp_path / "left_frames" / "frame007.png"
    path = _write(tmp_path, "What is the state of a?|Cutting|1,1,2,2\n")
    released = path.with_name("frame007_QA.txt")
    path.rename(released)
    (tmp_path / "vqla" / "label" / "frame0070_QA.txt").write_text("q|Idle\n")  # another frame
    assert label_path(tmp_path, image) == released
    assert read_activity(tmp_path, image, None) == ACTIVITIES.index("Cutting")


def test_two_candidate_label_files_are_an_error(tmp_path: Path) -> None:
    image = tmp_path / "left_frames" / "frame007.png"
    path = _write(tmp_path, "What is the state of a?|Cutting|1,1,2,2\n")
    path.with_name("frame007_QA.txt").write_text("What is the state of a?|Idle|1,1,2,2\n")
    with pytest.raises(DatasetError, match=r"2 label files for frame frame007 "
                                           r"\(frame007.txt, frame007_QA.txt\)"):
        read_activity(tmp_path, image, True)


def test_unknown_answer_in_a_released_file_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "What organ is being operated?|kidney\n"
                            "What is the state of bipolar_forceps?|Dissecting|1,1,9,9\n")
    released = path.with_name("frame007_QA.txt")
    path.rename(released)
    image = tmp_path / "left_frames" / "frame007.png"
    with pytest.raises(DatasetError, match=re.escape(
            f"{released}:2: unknown activity 'Dissecting'; expected one of Idle, Grasping")):
        read_activity(tmp_path, image, True)
