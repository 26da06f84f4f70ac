"""The per-frame sample every loader returns, and the base class of the sequence datasets.

Conventions shared by all loaders (the trainer relies on them):

- ``image``  uint8 ``[H, W, 3]`` RGB, raw (no normalisation: ``processing.preprocess`` does that).
- ``mask``   uint8 ``[H, W]`` class ids of the dataset's vocabulary (0 = background).
- ``boxes``  float32 ``[N, 4]`` xyxy in pixel-edge coordinates: pixel column ``c`` spans
  ``[c, c + 1)``, so a box tightly enclosing columns 3..7 is ``x1 = 3, x2 = 8``. Edge
  coordinates scale exactly under resizing, which keeps boxes and masks consistent.
- ``labels`` int64 ``[N]`` 1-based detection labels (the EndoVis17 type id).
- ``activity`` index into ``classes.ACTIVITIES``, or -1 when unknown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

UNKNOWN_ACTIVITY = -1


@dataclasses.dataclass(frozen=True, eq=False)  # eq on numpy arrays would be ambiguous
class FrameSample:
    """One annotated frame (numpy arrays, shapes in the module docstring)."""

    image: np.ndarray
    mask: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    activity: int
    sequence: str
    frame: int

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the image."""
        return int(self.image.shape[0]), int(self.image.shape[1])


@dataclasses.dataclass(frozen=True)
class FrameRef:
    """Where one frame lives: its sequence name, frame number and image file."""

    sequence: str
    frame: int
    image_path: Path


def empty_boxes() -> tuple[np.ndarray, np.ndarray]:
    """Zero boxes: float32 [0, 4] and int64 [0]."""
    return np.zeros((0, 4), np.float32), np.zeros((0,), np.int64)


def boxes_from_instances(instances: Sequence[tuple[int, np.ndarray]]
                         ) -> tuple[np.ndarray, np.ndarray]:
    """One tight box per non-empty instance mask.

    Args:
        instances: ``(label, mask)`` pairs, mask bool/uint8 ``[H, W]`` (non-zero = instance).

    Returns:
        boxes float32 ``[N, 4]`` xyxy pixel edges, labels int64 ``[N]``; empty masks give no box.
    """
    boxes, labels = [], []
    for label, mask in instances:
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            continue
        cols = np.flatnonzero(mask.any(axis=0))
        boxes.append((cols[0], rows[0], cols[-1] + 1, rows[-1] + 1))
        labels.append(label)
    if not boxes:
        return empty_boxes()
    return np.asarray(boxes, np.float32), np.asarray(labels, np.int64)


class SequenceDataset(Dataset):
    """Frames of several video sequences, ordered by sequence then frame number.

    Subclasses fill ``self.refs`` (sorted) and implement :meth:`load`. ``sequence_indices``
    groups dataset indices per sequence, which :class:`~surg_perception.data.clips.ClipDataset`
    uses so that clips never cross a sequence boundary.
    """

    refs: tuple[FrameRef, ...] = ()

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int) -> FrameSample:
        return self.load(self.refs[index])

    def load(self, ref: FrameRef) -> FrameSample:
        """Read the frame ``ref`` points to (implemented by each dataset)."""
        raise NotImplementedError

    def sequence_indices(self) -> dict[str, list[int]]:
        """Sequence name -> dataset indices of its frames, in frame order."""
        groups: dict[str, list[int]] = {}
        for index, ref in enumerate(self.refs):
            groups.setdefault(ref.sequence, []).append(index)
        return groups
