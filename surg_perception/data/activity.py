"""Frame-level activity labels in the EndoVis-18-VQLA text format.

Layout: one text file per frame, next to the sequence's frames::

    <sequence>/vqla/label/frame<NNN>.txt          (NNN as in left_frames/frame<NNN>.png)
    <sequence>/vqla/label/frame<NNN>_<suffix>.txt (the public releases: frame000_QA.txt)

A frame's file is ``<frame stem>.txt`` or ``<frame stem>_<anything>.txt``; exactly one must
exist (two candidates, e.g. ``frame000.txt`` and ``frame000_QA.txt``, are a DatasetError listing
both). Each non-empty line is ``question|answer|x1,y1,x2,y2`` (the box is optional, so plain
VQA files ``question|answer`` also parse). Example::

    What is the state of prograsp_forceps?|Grasping|112,40,190,131
    Where is prograsp_forceps located?|left-top|112,40,190,131

Box convention of the released files (EndoVis-18-VQLA, EndoVis-17-VQLA): integer pixel
coordinates of the 1280x1024 frame, 1-based with x2/y2 the last pixel inside the box; the
Surgical-VQLA / CS-VQLA loaders subtract 1 from each value before normalising by 1280x1024.
:attr:`VqlaEntry.box` converts them to this package's pixel edges (``sample.py``:
``x1 - 1, y1 - 1, x2, y2``, x2/y2 exclusive); ``0,0,0,0`` means "no box" (None).

Rules (documented because the format does not say which line is "the activity"):

1. A line is an *activity line* when its question asks what an instrument is doing: it
   contains "state of" or "doing" (case-insensitive). Other lines (location, organ) are
   ignored.
2. The answer of an activity line must name an entry of ``classes.ACTIVITIES``, compared
   case-insensitively with spaces read as underscores; anything else is a DatasetError naming
   the file and the line.
3. Several instruments: the frame's activity is the first non-``Idle`` activity in file
   order; ``Idle`` when every instrument is idle; unknown (-1) when no activity line exists.
"""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path

from surg_perception.classes import ACTIVITIES
from surg_perception.data.sample import UNKNOWN_ACTIVITY
from surg_perception.errors import DatasetError

_ACTIVITY_INDEX = {name.lower(): index for index, name in enumerate(ACTIVITIES)}
_ACTIVITY_QUESTION_KEYS = ("state of", "doing")
IDLE = ACTIVITIES.index("Idle")


@dataclasses.dataclass(frozen=True)
class VqlaEntry:
    """One parsed line: question, answer, optional xyxy box in pixel edges, 1-based line."""

    question: str
    answer: str
    box: tuple[float, float, float, float] | None
    line: int


def label_path(sequence_dir: Path, image_path: Path) -> Path:
    """The label file of a frame: ``vqla/label/<stem>.txt`` or ``<stem>_<suffix>.txt``.

    Raises:
        DatasetError: no candidate (naming ``<stem>.txt``) or more than one (listing them).
    """
    folder = sequence_dir / "vqla" / "label"
    stem = image_path.stem
    candidates = (folder / f"{stem}.txt", *folder.glob(f"{glob.escape(stem)}_*.txt"))
    found = sorted(p for p in candidates if p.is_file())
    if not found:
        raise DatasetError(f"{folder / f'{stem}.txt'}: activity label file not found (nor "
                           f"{stem}_<suffix>.txt)")
    if len(found) > 1:
        raise DatasetError(f"{folder}: {len(found)} label files for frame {stem} "
                           f"({', '.join(p.name for p in found)}); keep one")
    return found[0]


def _parse_box(text: str, path: Path, line: int) -> tuple[float, float, float, float] | None:
    """Released 1-based inclusive box -> pixel edges; ``0,0,0,0`` -> None."""
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise DatasetError(f"{path}:{line}: box {text!r} is not 'x1,y1,x2,y2'")
    if not any(values):
        return None
    x1, y1, x2, y2 = values
    if x2 < x1 or y2 < y1:
        raise DatasetError(f"{path}:{line}: box {text!r} has x2 < x1 or y2 < y1")
    return x1 - 1.0, y1 - 1.0, x2, y2


def parse_vqla(path: Path) -> list[VqlaEntry]:
    """Parse a VQLA label file; malformed lines raise DatasetError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: activity label file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read activity labels ({err})") from err
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        fields = [f.strip() for f in raw.split("|")]
        if len(fields) not in (2, 3) or not fields[0] or not fields[1]:
            raise DatasetError(
                f"{path}:{number}: expected 'question|answer|x1,y1,x2,y2', got {raw!r}")
        box = _parse_box(fields[2], path, number) if len(fields) == 3 else None
        entries.append(VqlaEntry(fields[0], fields[1], box, number))
    return entries


def is_activity_question(question: str) -> bool:
    """Tell whether the question asks what an instrument is doing (rule 1)."""
    lowered = question.lower()
    return any(key in lowered for key in _ACTIVITY_QUESTION_KEYS)


def activity_index(answer: str, where: str = "") -> int:
    """Index of ``answer`` in ``classes.ACTIVITIES`` (rule 2); ``where`` prefixes errors."""
    key = answer.strip().replace(" ", "_").lower()
    if key not in _ACTIVITY_INDEX:
        raise DatasetError(
            f"{where}: unknown activity {answer!r}; expected one of {', '.join(ACTIVITIES)}")
    return _ACTIVITY_INDEX[key]


def frame_activity(path: Path) -> int:
    """Frame-level activity index of one VQLA file (rule 3), -1 without activity lines."""
    activities = [activity_index(e.answer, f"{path}:{e.line}")
                  for e in parse_vqla(path) if is_activity_question(e.question)]
    if not activities:
        return UNKNOWN_ACTIVITY
    return next((a for a in activities if a != IDLE), IDLE)


def read_activity(sequence_dir: Path, image_path: Path, required: bool | None) -> int:
    """Activity index of a frame, or -1.

    ``required``: True - the label file must exist; False - labels are ignored; None - labels
    are read when the sequence has a ``vqla/label`` folder, and then every frame needs one
    (a half-labelled sequence is an error, not a silent -1).
    """
    if required is False:
        return UNKNOWN_ACTIVITY
    if required is None and not (sequence_dir / "vqla" / "label").is_dir():
        return UNKNOWN_ACTIVITY
    return frame_activity(label_path(sequence_dir, image_path))
