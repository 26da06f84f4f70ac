"""The per-frame sample every loader returns, and the base class of the sequence datasets.

Conventions shared by all loaders (the trainer relies on them):

- ``image``  uint8 ``[H, W, 3]`` RGB, raw (no normalisation: ``processing.preprocess`` does that).
- ``mask``   uint8 ``[H, W]`` class ids of the dataset's vocabulary (0 = background).
- ``boxes``  float32 ``[N, 4]`` xyxy in pixel-edge coordinates: pixel column ``c`` spans
  ``[c, c + 1)``, so a box tightly enclosing columns 3..7 is ``x1 = 3, x2 = 8``. Edge
  coordinates scale exactly under resizing, which keeps boxes and masks consistent.
- ``labels`` int64 ``[N]`` 1-based detection labels (the EndoVis17 type id).
- ``activity`` index into ``classes.ACTIVITIES``, or -1 when unknown.
- ``instances`` uint8 ``[H, W]`` instance map or None: value ``i`` (1-based) marks the pixels
  of ``boxes[i - 1]`` / ``labels[i - 1]``, 0 elsewhere, and ``boxes`` are exactly the tight
  boxes of those pixel sets (:func:`boxes_from_instance_map`). Loaders fill it where the
  annotation has instances (EndoVis17: one per ground-truth folder); without it (EndoVis18,
  whose annotation has none) augmentation moves the box corners instead.
- ``part_mask`` uint8 ``[H, W]`` part ids (0 background, 1 shaft, 2 wrist, 3 claspers) or
  None: filled only when a loader is asked for parts (``parts=True``), from the same read as
  ``mask``; every geometric op moves it exactly like ``mask``.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from surg_perception.errors import DatasetError

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
    instances: np.ndarray | None = None
    part_mask: np.ndarray | None = None

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


def tight_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Pixel-edge xyxy box enclosing the non-zero pixels of ``mask`` ``[H, W]``; None if empty.

    The one box rule of the package: loaders and augmentation both call it, so training
    boxes are always the tight boxes evaluation compares against.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _as_arrays(boxes: list, labels: list) -> tuple[np.ndarray, np.ndarray]:
    if not boxes:
        return empty_boxes()
    return np.asarray(boxes, np.float32), np.asarray(labels, np.int64)


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
        box = tight_box(mask)
        if box is not None:
            boxes.append(box)
            labels.append(label)
    return _as_arrays(boxes, labels)


def instance_map(instances: Sequence[tuple[int, np.ndarray]], shape: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Paint ``(label, mask)`` pairs into one uint8 map (later pairs over earlier ones).

    Returns:
        the map ``[H, W]`` (value ``k`` = the k-th pair) and the pairs' labels int64 ``[K]``;
        pass both to :func:`boxes_from_instance_map` to drop empty instances and get boxes.
    """
    if len(instances) > 255:
        raise DatasetError(f"{len(instances)} instances do not fit a uint8 instance map")
    painted = np.zeros(shape, np.uint8)
    for index, (_, mask) in enumerate(instances, start=1):
        painted[mask > 0] = index
    return painted, np.asarray([label for label, _ in instances], np.int64)


def boxes_from_instance_map(instances: np.ndarray, labels: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tight boxes of the instance ids ``1..len(labels)`` of ``instances`` ``[H, W]`` uint8.

    Ids with no pixel left (cropped or rotated away, painted over) are dropped and the map is
    renumbered, so that id ``i`` is again ``boxes[i - 1]``.

    Returns:
        boxes float32 ``[N, 4]``, labels int64 ``[N]`` and the renumbered map uint8 ``[H, W]``.
    """
    boxes, kept_labels = [], []
    renumber = np.zeros(256, np.uint8)
    for index, label in enumerate(labels.tolist(), start=1):
        box = tight_box(instances == index)
        if box is not None:
            boxes.append(box)
            kept_labels.append(label)
            renumber[index] = len(boxes)
    boxes, kept = _as_arrays(boxes, kept_labels)
    return boxes, kept, renumber[instances]


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
