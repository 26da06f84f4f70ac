"""EndoVis 2017 test release: sequences 9-10 and frames 225-299 of sequences 1-8.

The test frames ship in the training layout (``instrument_1_4_testing``,
``instrument_5_8_testing``, ``instrument_9_10_testing``); their ground truth came later as a
separate archive, ``instrument_2017_test``, with one folder per label kind and no
per-instrument masks. Layout read::

    <root>/instrument_dataset_<k>/left_frames/frame<NNN>.png   (the testing archives, merged)
    <labels>/instrument_dataset_<k>/TypeSegmentation/frame<NNN>.png   type id 0..7 per pixel
    <labels>/instrument_dataset_<k>/PartsSegmentation/frame<NNN>.png  0/30/100/255 =
                                                          background/shaft/wrist/claspers
    <root>/instrument_dataset_<k>/vqla/label/frame<NNN>[_<suffix>].txt   (optional)

``BinarySegmentation`` (0/255) and ``TypeSegmentationRescaled`` (a brightened copy for viewing)
are not read: the binary target is derived from ``TypeSegmentation`` so that "Other" follows
the same rule as in training. ``labels`` defaults to ``root`` (label folders copied next to
``left_frames``); an archive unpacked as ``instrument_2017_test/instrument_2017_test/`` is
found through its single sub-folder. Frames are 1920x1080 and every mask is cropped like the
frame (1280x1024 at (320, 28)), as in the training loader.

Where this comes from: the challenge organisers' evaluation script reads
``instrument_dataset_<k>/{BinarySegmentation,PartsSegmentation,TypeSegmentation}/frame*.png``
with ids from the release's ``instrument_type_mapping.json``; public preparation scripts copy
``instrument_2017_test/instrument_dataset_<k>/TypeSegmentation`` as class ids 0..7 (images from
``instrument_*_testing/instrument_dataset_<k>/left_frames``, frames 225-299 for 1-8) and map
``PartsSegmentation`` 30/100/255 to shaft/wrist/claspers.

Rules as in :mod:`surg_perception.data.endovis17`: "Other" (7) is background in the binary and
part targets unless ``include_other=True``. There are no instance masks, so boxes are one tight
box per type present: two instruments of one type in a frame share a box (mAP on this release
is approximate; the segmentation protocol is exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from surg_perception.classes import ENDOVIS17_CROP_SIZE
from surg_perception.data.activity import read_activity
from surg_perception.data.endovis17 import SEQUENCE_RE, TARGETS, crop_raw
from surg_perception.data.endovis17_names import OTHER
from surg_perception.data.io import frame_number, list_frames, read_gray, read_rgb
from surg_perception.data.sample import (
    FrameRef,
    FrameSample,
    SequenceDataset,
    boxes_from_instance_map,
    instance_map,
)
from surg_perception.errors import ConfigError, DatasetError
from surg_perception.processing.crop import apply_crop

TYPE_DIR = "TypeSegmentation"
PARTS_DIR = "PartsSegmentation"
TEST_PART_IDS = {30: 1, 100: 2, 255: 3}  # test-release part value -> part class
_PART_LUT = np.zeros(256, np.uint8)
_PART_LUT[list(TEST_PART_IDS)] = list(TEST_PART_IDS.values())
NUM_TYPES = 7


def find_labels_root(path: Path) -> Path:
    """``path``, or its only sub-folder when the archive was unpacked one level deeper."""
    if not path.is_dir():
        raise DatasetError(f"{path}: test labels root not found")
    if any(SEQUENCE_RE.match(p.name) for p in path.iterdir()):
        return path
    children = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(children) == 1 and any(SEQUENCE_RE.match(p.name) for p in children[0].iterdir()):
        return children[0]
    raise DatasetError(f"{path}: no instrument_dataset_<k> folders (expected the "
                       "instrument_2017_test archive's content)")


class EndoVis17TestDataset(SequenceDataset):
    """EndoVis 2017 test frames with type/part/binary masks from the test ground truth.

    Args:
        root: folder holding the test frames' ``instrument_dataset_<k>/left_frames``.
        sequences: sequence numbers to load (default: every one under ``root``).
        labels: ``instrument_2017_test`` folder (default: ``root``).
        target, activity, frame_size, include_other: as :class:`EndoVis17Dataset`.
        parts: fill ``FrameSample.part_mask`` from ``PartsSegmentation``: True required,
            False never, None where the sequence has that folder (like ``activity``).
    """

    def __init__(self, root: str | Path, sequences: Sequence[int] | None = None, *,
                 labels: str | Path | None = None, target: str = "type",
                 activity: bool | None = None,
                 frame_size: tuple[int, int] | None = ENDOVIS17_CROP_SIZE,
                 include_other: bool = False, parts: bool | None = False) -> None:
        if target not in TARGETS:
            raise ConfigError(f"target {target!r} unknown; use one of {', '.join(TARGETS)}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: test frames root not found")
        self.labels = find_labels_root(Path(labels) if labels is not None else self.root)
        self.target, self.activity = target, activity
        self.frame_size, self.include_other, self.parts = frame_size, include_other, parts
        if sequences is None:
            sequences = sorted(int(m.group(1)) for p in self.root.iterdir()
                               if p.is_dir() and (m := SEQUENCE_RE.match(p.name)))
        if not sequences:
            raise DatasetError(f"{self.root}: no instrument_dataset_<k> sequences to load")
        refs = []
        for k in sequences:
            refs.extend(self._index_sequence(f"instrument_dataset_{k}"))
        self.refs = tuple(refs)

    def _label_dirs(self, name: str) -> list[Path]:
        kinds = [TYPE_DIR] + ([PARTS_DIR] if self.target == "part" or self.parts else [])
        if self.parts is None and (self.labels / name / PARTS_DIR).is_dir():
            kinds.append(PARTS_DIR)
        return [self.labels / name / kind for kind in kinds]

    def _index_sequence(self, name: str) -> list[FrameRef]:
        frames = list_frames(self.root / name / "left_frames")
        for folder in self._label_dirs(name):
            if not folder.is_dir():
                raise DatasetError(f"{folder}: test ground-truth folder not found")
            for frame in frames:
                if not (folder / frame.name).is_file():
                    raise DatasetError(f"{folder / frame.name}: ground truth missing for "
                                       f"frame {frame}")
        return [FrameRef(name, frame_number(f), f) for f in frames]

    def _read_mask(self, path: Path, raw_shape: tuple[int, ...], allowed: Sequence[int],
                   box: tuple[int, int, int, int]) -> np.ndarray:
        mask = read_gray(path)
        if mask.shape != raw_shape[:2]:
            raise DatasetError(f"{path}: mask size {mask.shape[1]}x{mask.shape[0]} != frame "
                               f"size {raw_shape[1]}x{raw_shape[0]}")
        unexpected = np.setdiff1d(np.unique(mask), allowed)
        if unexpected.size:
            raise DatasetError(f"{path}: values {unexpected.tolist()} are not in "
                               f"{list(allowed)} (the test release's {path.parent.name})")
        return apply_crop(mask, box)

    def _target(self, types: np.ndarray, ref: FrameRef, raw_shape: tuple[int, ...],
                box: tuple[int, int, int, int], target: str) -> np.ndarray:
        if target == "type":
            return types
        robotic = (types > 0) if self.include_other else (types > 0) & (types != OTHER)
        if target == "binary":
            return robotic.astype(np.uint8)
        path = self.labels / ref.sequence / PARTS_DIR / ref.image_path.name
        parts = _PART_LUT[self._read_mask(path, raw_shape, [0, *TEST_PART_IDS], box)]
        return np.where(robotic, parts, 0).astype(np.uint8)

    def load(self, ref: FrameRef) -> FrameSample:
        """Read, crop and label one test frame (image [H, W, 3], mask [H, W])."""
        raw = read_rgb(ref.image_path)
        # The frame decides the crop; its masks are cut with the same box.
        box = crop_raw(raw, ref.image_path, self.frame_size)
        image = np.ascontiguousarray(apply_crop(raw, box))
        path = self.labels / ref.sequence / TYPE_DIR / ref.image_path.name
        types = self._read_mask(path, raw.shape, range(NUM_TYPES + 1), box)
        mask = self._target(types, ref, raw.shape, box, self.target)
        parts = None
        present = (self.labels / ref.sequence / PARTS_DIR).is_dir()
        if self.parts or (self.parts is None and present):
            parts = mask if self.target == "part" else \
                self._target(types, ref, raw.shape, box, "part")
        present = [int(t) for t in np.unique(types) if t > 0]
        # No per-instrument masks in this release: one instance per type present.
        boxes, labels, instances = boxes_from_instance_map(
            *instance_map([(t, types == t) for t in present], types.shape))
        activity = read_activity(self.root / ref.sequence, ref.image_path, self.activity)
        return FrameSample(image, mask, boxes, labels, activity, ref.sequence, ref.frame,
                           instances, parts)
