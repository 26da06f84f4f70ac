"""EndoVis 2017 Robotic Instrument Segmentation loader (training release layout).

Layout read (one folder per sequence, ``k`` = 1..8 in the training release)::

    <root>/instrument_dataset_<k>/left_frames/frame<NNN>.png
    <root>/instrument_dataset_<k>/ground_truth/<Instrument folder>/frame<NNN>.png
    <root>/instrument_dataset_<k>/vqla/label/frame<NNN>[_<suffix>].txt   (optional, activity.py)

Each instrument folder holds one grey mask per frame for one instrument; pixel values are part
labels 10 / 20 / 30 (shaft / wrist / claspers) or 0. The folder name gives the instrument type
(ids of ``classes.ENDOVIS17_INSTRUMENT_TYPES``) through :func:`instrument_type`, which accepts
every naming variant of the release (side prefix or suffix, with or without ``_labels``, a
model prefix such as ``Maryland_``; rules in ``endovis17_names.py``); a folder naming no known
instrument is a DatasetError. Hidden folders (``.name``) are skipped. The test release
(sequences 9-10 and frames 225-299 of 1-8) has another layout: ``endovis17_test.py``.

Per frame:

- "Other" (type 7: drop-in tools such as ultrasound probes) is labelled so that methods learn
  *not* to take those tools for robotic instruments. Like the reference preparation code
  (TernausNet), the binary and part targets leave it out (background) unless
  ``include_other=True``; the type target keeps it as class 7, and it keeps its detection box
  (label 7) in every target, since it is a type class of the detector.
- Overlapping masks: folders are applied Other first, then the robotic instruments in sorted
  folder-name order, and a later folder overwrites an earlier one. So a robotic instrument
  always wins over Other, and between two robotic instruments the later name in sorted order
  wins, as in ISINet's ``organize2017.py`` (which also applies sorted folders in turn).
- 1920x1080 frames and masks are cropped to 1280x1024 at offset (320, 28); 1280x1024 frames
  are used as is; other sizes are errors unless ``frame_size`` says otherwise (synthetic
  data, see ``synth.py``).
- ``parts=True``: the sample also carries the part target (``FrameSample.part_mask``, ids
  of :data:`PART_CLASSES`) from the same mask files as the main target, for a model with a
  part head (``model.part_classes``, :func:`wants_parts`).
- No box files exist for EndoVis17, so boxes are derived from the instance masks: one tight
  box per instrument folder whose (cropped) mask is non-empty, labelled with its type id.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import re

import numpy as np

from surg_perception.classes import (
    ENDOVIS17_CROP_SIZE,
    ENDOVIS17_CV_FOLDS,
    ENDOVIS17_PART_VALUES,
)
from surg_perception.config import ModelSpec
from surg_perception.data.activity import read_activity
from surg_perception.data.endovis17_names import INSTRUMENT_NAMES, OTHER, instrument_type_id
from surg_perception.data.io import frame_number, list_frames, read_gray, read_rgb
from surg_perception.data.sample import (
    FrameRef,
    FrameSample,
    SequenceDataset,
    boxes_from_instance_map,
    instance_map,
)
from surg_perception.errors import ConfigError, DatasetError
from surg_perception.processing.crop import ENDOVIS17_RAW_SIZE, Box, apply_crop, crop_box

# Canonical folder spellings -> type id (``<Name>_labels`` with optional ``Left_``/``Right_``).
# The loader accepts any variant through :func:`instrument_type`; this table stays for code
# that writes folders (the synthetic generator) and wants a spelling the release uses.
INSTRUMENT_FOLDER_TYPES: dict[str, int] = {
    f"{side}{base}_labels": type_id
    for base, type_id in INSTRUMENT_NAMES.items() for side in ("", "Left_", "Right_")
}
PART_IDS = {10: 1, 20: 2, 30: 3}  # part value -> part class (0 background)
PART_CLASSES = ("background", *(ENDOVIS17_PART_VALUES[v] for v in PART_IDS))
# Extra value an Other mask may carry: the release's mappings.json names 40 "Probe", which has
# no part class (background in the part target even with include_other=True).
OTHER_PART_VALUES = (40,)
_PART_LUT = np.zeros(256, np.uint8)
_PART_LUT[list(PART_IDS)] = list(PART_IDS.values())
TARGETS = ("type", "part", "binary")
SEQUENCE_RE = re.compile(r"^instrument_dataset_(\d+)$")


# number of segmentation classes -> the EndoVis17 mask the loader should produce
_TARGETS = {8: "type", 4: "part", 2: "binary"}


def mask_target(spec: ModelSpec) -> str:
    """EndoVis17 mask kind (``target``) matching the model's segmentation classes."""
    count = len(spec.model.seg_classes)
    if count not in _TARGETS:
        raise ConfigError(
            f"model.seg_classes has {count} classes; EndoVis17 training supports "
            f"{sorted(_TARGETS)} (type, part, binary masks)")
    return _TARGETS[count]


def wants_parts(spec: ModelSpec) -> bool:
    """Whether the model has a part head, so its data must carry EndoVis17 part masks.

    Raises:
        ConfigError: ``model.part_classes`` is set but is not the EndoVis17 part vocabulary
            (the loaders write ids 0..3 of :data:`PART_CLASSES`).
    """
    parts = tuple(spec.model.part_classes)
    if parts and len(parts) != len(PART_CLASSES):
        raise ConfigError(
            f"model.part_classes has {len(parts)} classes; the EndoVis17 part masks have "
            f"{len(PART_CLASSES)} ({', '.join(PART_CLASSES)}): set exactly these, or [] for "
            "no part head")
    return bool(parts)


def fold_sequences(fold: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(train, val) sequence numbers of cross-validation ``fold`` (index into CV_FOLDS)."""
    if not 0 <= fold < len(ENDOVIS17_CV_FOLDS):
        raise ConfigError(f"fold {fold} out of range; use 0..{len(ENDOVIS17_CV_FOLDS) - 1}")
    val = ENDOVIS17_CV_FOLDS[fold]
    train = tuple(sorted(k for f in ENDOVIS17_CV_FOLDS if f != val for k in f))
    return train, val


def instrument_type(folder: Path) -> int:
    """Type id of a ground-truth folder (any naming variant); unknown names raise DatasetError."""
    try:
        return instrument_type_id(folder.name)
    except DatasetError as err:
        raise DatasetError(f"{folder}: {err}") from None


def instrument_order(folders: Sequence[tuple[Path, int]]) -> list[tuple[Path, int]]:
    """The order in which instrument masks are applied (a later one wins where they overlap).

    Other first, then the robotic instruments by folder name: a robotic instrument always
    wins over Other; between robotic instruments the later name in sorted order wins.
    """
    return sorted(folders, key=lambda item: (item[1] != OTHER, item[0].name))


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
        if SEQUENCE_RE.match(root.name) or (root / "left_frames").is_dir():
            raise DatasetError(f"{root} is a sequence folder, not the dataset root: pass the "
                               f"parent folder ({root.parent}), which holds the "
                               "instrument_dataset_<k> folders")
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
        include_other: count "Other" (type 7) as instrument in the binary and part targets
            (default False, the challenge convention; the type target always keeps it).
        crop, border_threshold: the crop rule (``PreprocessConfig.crop``, default
            ``"endovis17"``), applied to the frame and its masks by ``processing.crop``.
        parts: also fill ``FrameSample.part_mask`` (the ``'part'`` target) from the same read.

    Samples are :class:`FrameSample` with image ``[1024, 1280, 3]`` for original data.
    """

    def __init__(self, root: str | Path, sequences: Sequence[int] | None = None, *,
                 fold: int | None = None, split: str = "train", target: str = "type",
                 activity: bool | None = None,
                 frame_size: tuple[int, int] | None = ENDOVIS17_CROP_SIZE,
                 include_other: bool = False, crop: str = "endovis17",
                 border_threshold: int = 10, parts: bool = False) -> None:
        self.root = Path(root)
        self.parts = parts
        self.frame_size = frame_size
        self.include_other = include_other
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
        folders = sorted(p for p in gt_dir.iterdir()
                         if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise DatasetError(f"{gt_dir}: no <Instrument_Name>_labels folders")
        # load() applies the masks in this order, a later one winning where they overlap.
        self.instruments[seq_dir.name] = tuple(
            instrument_order([(f, instrument_type(f)) for f in folders]))
        for frame in frames:
            for folder in folders:
                if not (folder / frame.name).is_file():
                    raise DatasetError(f"{folder / frame.name}: ground truth missing for "
                                       f"frame {frame}")
        return [FrameRef(seq_dir.name, frame_number(f), f) for f in frames]

    def _target_mask(self, gt: np.ndarray, type_id: int, path: Path, target: str) -> np.ndarray:
        if target == "type":
            return (gt > 0).astype(np.uint8) * type_id
        other = type_id == OTHER
        if other and not self.include_other:
            return np.zeros_like(gt)  # not a robotic instrument: background (challenge rule)
        if target == "binary":
            return (gt > 0).astype(np.uint8)
        allowed = [0, *PART_IDS, *(OTHER_PART_VALUES if other else ())]
        unexpected = np.setdiff1d(np.unique(gt), allowed)
        if unexpected.size:
            raise DatasetError(f"{path}: part values {unexpected.tolist()} are not 10/20/30")
        return _PART_LUT[gt]

    def load(self, ref: FrameRef) -> FrameSample:
        """Read, crop and label one frame (image [H, W, 3], mask [H, W], instance map)."""
        raw = read_rgb(ref.image_path)
        box = crop_raw(raw, ref.image_path, self.frame_size, self.crop, self.border_threshold)
        image = apply_crop(raw, box)
        mask = np.zeros(image.shape[:2], np.uint8)
        parts = np.zeros_like(mask) if self.parts else None
        instances = []
        for folder, type_id in self.instruments[ref.sequence]:
            path = folder / ref.image_path.name
            gt = read_gray(path)
            if gt.shape != raw.shape[:2]:
                raise DatasetError(f"{path}: mask size {gt.shape[1]}x{gt.shape[0]} != frame "
                                   f"size {raw.shape[1]}x{raw.shape[0]} ({ref.image_path})")
            gt = apply_crop(gt, box)
            target = self._target_mask(gt, type_id, path, self.target)
            mask = np.where(gt > 0, target, mask)
            if parts is not None:  # painted in the same order, so overlaps resolve alike
                part = target if self.target == "part" else \
                    self._target_mask(gt, type_id, path, "part")
                parts = np.where(gt > 0, part, parts)
            instances.append((type_id, gt > 0))
        # One instance per folder, painted in folder order like the mask; empty ones dropped.
        boxes, labels, instance_ids = boxes_from_instance_map(
            *instance_map(instances, mask.shape))
        seq_dir = self.root / ref.sequence
        activity = read_activity(seq_dir, ref.image_path, self.activity)
        return FrameSample(np.ascontiguousarray(image), mask, boxes, labels, activity,
                           ref.sequence, ref.frame, instance_ids, parts)
