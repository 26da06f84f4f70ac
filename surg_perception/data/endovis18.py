"""EndoVis 2018 Robotic Scene Segmentation loader.

Layout read (``k`` = sequence number)::

    <root>/seq_<k>/left_frames/frame<NNN>.png
    <root>/seq_<k>/labels/frame<NNN>.png          RGB colour-coded classes
    <root>/seq_<k>/vqla/label/frame<NNN>.txt      (optional activity labels, see activity.py)

Label PNGs are mapped to class ids by their exact RGB colour (``classes.ENDOVIS18_CLASSES``),
never through a grey conversion. A colour outside the table is a DatasetError naming the
file, the colour and how many pixels carry it. EndoVis18 has no instance annotation, so
samples carry no boxes (``boxes`` is ``[0, 4]``) and no instance map (``instances`` is None;
augmentation then moves box corners, see ``geometry.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import re

import numpy as np

from surg_perception.classes import ENDOVIS18_CLASSES
from surg_perception.data.activity import read_activity
from surg_perception.data.io import frame_number, list_frames, read_rgb
from surg_perception.data.sample import FrameRef, FrameSample, SequenceDataset, empty_boxes
from surg_perception.errors import DatasetError

SEQUENCE_RE = re.compile(r"^seq_(\d+)$")


def _pack(rgb: np.ndarray) -> np.ndarray:
    """[..., 3] uint8 RGB -> [...] int64 code ``r << 16 | g << 8 | b``."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


_CODES = _pack(np.asarray([colour for _, colour in ENDOVIS18_CLASSES], np.uint8))
_ORDER = np.argsort(_CODES)
_SORTED_CODES = _CODES[_ORDER]


def colour_to_class(label: np.ndarray, path: Path) -> np.ndarray:
    """Map an RGB label image uint8 [H, W, 3] to class ids uint8 [H, W] by exact colour.

    Raises:
        DatasetError: naming ``path``, the first unknown colour and its pixel count.
    """
    codes = _pack(label)
    slot = np.searchsorted(_SORTED_CODES, codes).clip(0, len(_SORTED_CODES) - 1)
    known = _SORTED_CODES[slot] == codes
    if not known.all():
        unknown, counts = np.unique(codes[~known], return_counts=True)
        code = int(unknown[0])
        colour = (code >> 16, (code >> 8) & 255, code & 255)
        raise DatasetError(
            f"{path}: unknown label colour RGB{colour} on {int(counts[0])} pixels "
            f"({len(unknown)} unknown colour(s) in total); valid colours are "
            "classes.ENDOVIS18_CLASSES")
    return _ORDER[slot].astype(np.uint8)


class EndoVis18Dataset(SequenceDataset):
    """EndoVis 2018 frames with 12-class scene masks and optional activities.

    Args:
        root: folder holding ``seq_<k>``.
        sequences: sequence numbers to load (default: every ``seq_<k>`` under ``root``).
        activity: VQLA activity labels: True required, False ignored, None when present.

    Samples are :class:`FrameSample`; ``mask`` holds ids 0..11 of ENDOVIS18_CLASSES.
    """

    def __init__(self, root: str | Path, sequences: Sequence[int] | None = None, *,
                 activity: bool | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: dataset root not found")
        self.activity = activity
        if sequences is None:
            sequences = sorted(int(m.group(1)) for p in self.root.iterdir()
                               if p.is_dir() and (m := SEQUENCE_RE.match(p.name)))
        if not sequences:
            raise DatasetError(f"{self.root}: no seq_<k> sequences to load")
        refs = []
        for k in sequences:
            refs.extend(self._index_sequence(self.root / f"seq_{k}"))
        self.refs = tuple(refs)

    @staticmethod
    def _index_sequence(seq_dir: Path) -> list[FrameRef]:
        if not seq_dir.is_dir():
            raise DatasetError(f"{seq_dir}: sequence folder not found")
        frames = list_frames(seq_dir / "left_frames")
        for frame in frames:
            label = seq_dir / "labels" / frame.name
            if not label.is_file():
                raise DatasetError(f"{label}: label missing for frame {frame}")
        return [FrameRef(seq_dir.name, frame_number(f), f) for f in frames]

    def load(self, ref: FrameRef) -> FrameSample:
        """Read one frame and map its colour label to class ids."""
        image = read_rgb(ref.image_path)
        seq_dir = self.root / ref.sequence
        label_path = seq_dir / "labels" / ref.image_path.name
        label = read_rgb(label_path)
        if label.shape != image.shape:
            raise DatasetError(f"{label_path}: label size {label.shape[1]}x{label.shape[0]} "
                               f"!= frame size {image.shape[1]}x{image.shape[0]}")
        mask = colour_to_class(label, label_path)
        boxes, labels = empty_boxes()
        activity = read_activity(seq_dir, ref.image_path, self.activity)
        return FrameSample(image, mask, boxes, labels, activity, ref.sequence, ref.frame)
