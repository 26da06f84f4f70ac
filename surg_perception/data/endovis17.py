"""EndoVis 2017 Robotic Instrument Segmentation loader.

Layout read (one folder per sequence, ``k`` = 1..10)::

    <root>/instrument_dataset_<k>/left_frames/frame<NNN>.png
    <root>/instrument_dataset_<k>/ground_truth/<Instrument_Name>_labels/frame<NNN>.png
    <root>/instrument_dataset_<k>/vqla/label/frame<NNN>.txt        (optional, see activity.py)

Each ``<Instrument_Name>_labels`` folder holds one grey mask per frame for one instrument;
pixel values are part labels 10 / 20 / 30 (shaft / wrist / claspers) or 0. The folder name
gives the instrument type (:data:`INSTRUMENT_FOLDER_TYPES`, ids of
``classes.ENDOVIS17_INSTRUMENT_TYPES``); an unknown folder name is a DatasetError.

Per frame: the type mask is the folder's type id where its mask is > 0 (folders are applied
in sorted name order; EndoVis masks do not overlap). 1920x1080 frames and masks are cropped
to 1280x1024 at offset (320, 28); 1280x1024 frames are used as is; other sizes are errors
unless ``frame_size`` says otherwise (synthetic data, see ``synth.py``).
No box files exist for EndoVis17, so boxes are derived from the instance masks: one tight box
per instrument folder whose (cropped) mask is non-empty, labelled with its type id.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from surg_perception.classes import ENDOVIS17_CROP_SIZE, ENDOVIS17_CV_FOLDS
from surg_perception.data.activity import read_activity
from surg_perception.data.io import frame_number, list_frames, read_gray, read_rgb
from surg_perception.data.sample import (FrameRef, FrameSample, SequenceDataset,
                                         boxes_from_instance_map, instance_map)
from surg_perception.errors import ConfigError, DatasetError
from surg_perception.processing.crop import ENDOVIS17_RAW_SIZE, Box, apply_crop, crop_box

_BASE_TYPES = {
    "Bipolar_Forceps": 1,
    "Maryland_Bipolar_Forceps": 1,
    "Prograsp_Forceps": 2,
    "Large_Needle_Driver": 3,
    "Vessel_Sealer": 4,
    "Grasping_Retractor": 5,
    "Monopolar_Curved_Scissors": 6,
    "Other": 7,
}
# Ground-truth folder name -> instrument type id. Sequences with two instruments of one
# type name them Left_/Right_; every accepted spelling is listed here.
INSTRUMENT_FOLDER_TYPES: dict[str, int] = {
    f"{side}{base}_labels": type_id
    for base, type_id in _BASE_TYPES.items() for side in ("", "Left_", "Right_")
}
PART_IDS = {10: 1, 20: 2, 30: 3}  # part value -> part class (0 background)
_PART_LUT = np.zeros(256, np.uint8)
_PART_LUT[list(PART_IDS)] = list(PART_IDS.values())
TARGETS = ("type", "part", "binary")
SEQUENCE_RE = re.compile(r"^instrument_dataset_(\d+)$")


def fold_sequences(fold: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(train, val) sequence numbers of cross-validation ``fold`` (index into CV_FOLDS)."""
    if not 0 <= fold < len(ENDOVIS17_CV_FOLDS):
        raise ConfigError(f"fold {fold} out of range; use 0..{len(ENDOVIS17_CV_FOLDS) - 1}")
    val = ENDOVIS17_CV_FOLDS[fold]
    train = tuple(sorted(k for f in ENDOVIS17_CV_FOLDS if f != val for k in f))
    return train, val


def instrument_type(folder: Path) -> int:
    """Type id of a ``*_labels`` ground-truth folder; unknown names raise DatasetError."""
    if folder.name not in INSTRUMENT_FOLDER_TYPES:
        raise DatasetError(
            f"{folder}: unknown instrument folder {folder.name!r}; known names: "
            f"{', '.join(sorted(INSTRUMENT_FOLDER_TYPES))}")
    return INSTRUMENT_FOLDER_TYPES[folder.name]


def crop_raw(image: np.ndarray, path: Path,
             frame_size: tuple[int, int] | None = ENDOVIS17_CROP_SIZE,
             crop: str = "endovis17", border_threshold: int = 10) -> Box:
    """Check a raw frame's size and return the crop box for it and its masks.

    The box is ``processing.crop.crop_box``'s (the predictor's rule, ``crop`` =
    ``PreprocessConfig.crop``): ``"endovis17"`` crops 1920x1080 to 1280x1024 at (320, 28).
    Besides 1920x1080, ``frame_size`` (W, H) is the only size accepted (None: any size); a
    frame of another size raises DatasetError naming ``path``.
    """
    size = image.shape[:2]
    if size != ENDOVIS17_RAW_SIZE and frame_size is not None \
            and size != (frame_size[1], frame_size[0]):
        raise DatasetError(f"{path}: size {size[1]}x{size[0]} is neither 1920x1080 nor "
                           f"{frame_size[0]}x{frame_size[1]}; pass frame_size=(W, H) for "
                           "other data (e.g. synthetic frames)")
    return crop_box(image, crop, border_threshold)


def _resolve_sequences(root: Path, sequences: Sequence[int] | None, fold: int | None,
                       split: str) -> list[int]:
    found = sorted(int(m.group(1)) for p in root.iterdir()
                   if p.is_dir() and (m := SEQUENCE_RE.match(p.name)))
    if fold is None:
        chosen = list(sequences) if sequences is not None else found
    elif sequences is not None:
        raise ConfigError("pass either sequences or fold, not both")
    elif split not in ("train", "val"):
        raise ConfigError(f"split {split!r} unknown; use 'train' or 'val'")
    else:
        train, val = fold_sequences(fold)
        # Validation sequences must all be there; training uses the other folds present.
        chosen = list(val) if split == "val" else [k for k in train if k in found]
    if not chosen:
        raise DatasetError(f"{root}: no instrument_dataset_<k> sequences to load "
                           f"(found {found or 'none'})")
    return chosen


class EndoVis17Dataset(SequenceDataset):
    """EndoVis 2017 frames with type/part/binary masks, instance boxes and activities.

    Args:
        root: folder holding ``instrument_dataset_<k>``.
        sequences: sequence numbers to load (default: every one under ``root``).
        fold: cross-validation fold index (``classes.ENDOVIS17_CV_FOLDS``); exclusive with
            ``sequences``. ``split='val'`` loads the fold's sequences, ``'train'`` the
            sequences of the other folds that exist under ``root``.
        target: mask content: ``'type'`` (ids 0..7), ``'part'`` (0..3 = bg/shaft/wrist/claspers)
            or ``'binary'`` (0/1).
        activity: VQLA activity labels: True required, False ignored, None when present.
        frame_size: (W, H) accepted besides 1920x1080 (which is cropped); default 1280x1024,
            None accepts any size (synthetic data written at e.g. 320x256).
        crop, border_threshold: the crop rule (``PreprocessConfig.crop``, default
            ``"endovis17"``), applied to the frame and its masks by ``processing.crop``.

    Samples are :class:`FrameSample` with image ``[1024, 1280, 3]`` for original data.
    """

    def __init__(self, root: str | Path, sequences: Sequence[int] | None = None, *,
                 fold: int | None = None, split: str = "train", target: str = "type",
                 activity: bool | None = None,
                 frame_size: tuple[int, int] | None = ENDOVIS17_CROP_SIZE,
                 crop: str = "endovis17", border_threshold: int = 10) -> None:
        self.root = Path(root)
        self.frame_size = frame_size
        self.crop, self.border_threshold = crop, border_threshold
        if target not in TARGETS:
            raise ConfigError(f"target {target!r} unknown; use one of {', '.join(TARGETS)}")
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: dataset root not found")
        self.target = target
        self.activity = activity
        self.instruments: dict[str, tuple[tuple[Path, int], ...]] = {}
        refs = []
        for k in _resolve_sequences(self.root, sequences, fold, split):
            refs.extend(self._index_sequence(self.root / f"instrument_dataset_{k}"))
        self.refs = tuple(refs)

    def _index_sequence(self, seq_dir: Path) -> list[FrameRef]:
        if not seq_dir.is_dir():
            raise DatasetError(f"{seq_dir}: sequence folder not found")
        frames = list_frames(seq_dir / "left_frames")
        gt_dir = seq_dir / "ground_truth"
        if not gt_dir.is_dir():
            raise DatasetError(f"{gt_dir}: ground-truth folder not found")
        folders = sorted(p for p in gt_dir.iterdir() if p.is_dir())
        if not folders:
            raise DatasetError(f"{gt_dir}: no <Instrument_Name>_labels folders")
        self.instruments[seq_dir.name] = tuple((f, instrument_type(f)) for f in folders)
        for frame in frames:
            for folder in folders:
                if not (folder / frame.name).is_file():
                    raise DatasetError(f"{folder / frame.name}: ground truth missing for "
                                       f"frame {frame}")
        return [FrameRef(seq_dir.name, frame_number(f), f) for f in frames]

    def _target_mask(self, gt: np.ndarray, type_id: int, path: Path) -> np.ndarray:
        if self.target == "type":
            return (gt > 0).astype(np.uint8) * type_id
        if self.target == "binary":
            return (gt > 0).astype(np.uint8)
        unexpected = np.setdiff1d(np.unique(gt), [0, *PART_IDS])
        if unexpected.size:
            raise DatasetError(f"{path}: part values {unexpected.tolist()} are not 10/20/30")
        return _PART_LUT[gt]

    def load(self, ref: FrameRef) -> FrameSample:
        """Read, crop and label one frame (image [H, W, 3], mask [H, W], instance map)."""
        raw = read_rgb(ref.image_path)
        box = crop_raw(raw, ref.image_path, self.frame_size, self.crop, self.border_threshold)
        image = apply_crop(raw, box)
        mask = np.zeros(image.shape[:2], np.uint8)
        instances = []
        for folder, type_id in self.instruments[ref.sequence]:
            path = folder / ref.image_path.name
            gt = read_gray(path)
            if gt.shape != raw.shape[:2]:
                raise DatasetError(f"{path}: mask size {gt.shape[1]}x{gt.shape[0]} != frame "
                                   f"size {raw.shape[1]}x{raw.shape[0]} ({ref.image_path})")
            gt = apply_crop(gt, box)
            target = self._target_mask(gt, type_id, path)
            mask = np.where(gt > 0, target, mask)
            instances.append((type_id, gt > 0))
        # One instance per folder, painted in folder order like the mask; empty ones dropped.
        boxes, labels, instance_ids = boxes_from_instance_map(
            *instance_map(instances, mask.shape))
        seq_dir = self.root / ref.sequence
        activity = read_activity(seq_dir, ref.image_path, self.activity)
        return FrameSample(np.ascontiguousarray(image), mask, boxes, labels, activity,
                           ref.sequence, ref.frame, instance_ids)
