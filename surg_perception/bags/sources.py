"""Frame sources for ``endovis2bag``: EndoVis 2017/2018 sequence folders, frame folders, videos.

Every source yields :class:`SourceFrame` in order: an RGB frame and, when the dataset has
it, the frame's ground truth (read by the shared loaders in ``surg_perception.data``).
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
from pathlib import Path
import re

import cv2
import numpy as np

from surg_perception.data.io import list_frames, read_rgb
from surg_perception.errors import BagError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".webm")


@dataclasses.dataclass(frozen=True)
class GroundTruth:
    """Annotation of one frame: ``mask`` [H, W] uint8 ids, ``boxes`` [N, 4] xyxy pixels,
    ``labels`` [N] 1-based, ``activity`` index into ``classes.ACTIVITIES`` or -1."""

    mask: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    activity: int


@dataclasses.dataclass(frozen=True)
class SourceFrame:
    image: np.ndarray  # [H, W, 3] uint8 RGB
    truth: GroundTruth | None


@dataclasses.dataclass(frozen=True)
class Source:
    """An opened source: its kind, frame count, native frame rate (videos) and frames."""

    kind: str  # endovis17 | endovis18 | frames | video
    count: int
    fps: float | None
    frames: Iterator[SourceFrame]


def open_source(path: str | Path, side: str = "left") -> Source:
    """Open a sequence folder, a folder of ``frame<NNN>.png`` or a video file.

    ``side`` picks ``left_frames`` or ``right_frames`` of a sequence folder; ground truth
    (EndoVis annotates the left eye only) is read for the left side.

    Raises:
        BagError: the path is missing or is none of the supported layouts.
    """
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise BagError(f"{path}: not a video file ({', '.join(VIDEO_SUFFIXES)}) or an "
                           "EndoVis sequence folder")
        return _video(path)
    if not path.is_dir():
        raise BagError(f"{path}: source not found (expected an EndoVis sequence folder, a "
                       "folder of frame<NNN>.png or a video file)")
    frames_dir = path / f"{side}_frames"
    if side == "left" and (path / "ground_truth").is_dir():
        return _dataset(path, "endovis17")
    if side == "left" and (path / "labels").is_dir():
        return _dataset(path, "endovis18")
    return _frames(frames_dir if frames_dir.is_dir() else path)


def _dataset(seq_dir: Path, kind: str) -> Source:
    from surg_perception.data.endovis17 import EndoVis17Dataset
    from surg_perception.data.endovis18 import EndoVis18Dataset

    match = re.search(r"_(\d+)$", seq_dir.name)
    if match is None:
        raise BagError(f"{seq_dir}: an EndoVis sequence folder is named instrument_dataset_<k> "
                       "(2017) or seq_<k> (2018)")
    number = int(match.group(1))
    if kind == "endovis17":
        # frame_size=None: synthetic or resized sequences keep their size (1920x1080 is cropped).
        dataset = EndoVis17Dataset(seq_dir.parent, [number], frame_size=None)
    else:
        dataset = EndoVis18Dataset(seq_dir.parent, [number])

    def frames() -> Iterator[SourceFrame]:
        for sample in dataset:
            truth = GroundTruth(sample.mask, sample.boxes, sample.labels, sample.activity)
            yield SourceFrame(sample.image, truth)

    return Source(kind, len(dataset), None, frames())


def _frames(folder: Path) -> Source:
    paths = list_frames(folder)
    return Source("frames", len(paths), None, (SourceFrame(read_rgb(p), None) for p in paths))


def _video(path: Path) -> Source:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise BagError(f"{path}: OpenCV cannot open this video (codec or file damaged)")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = float(capture.get(cv2.CAP_PROP_FPS)) or None

    def frames() -> Iterator[SourceFrame]:
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    return
                yield SourceFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None)
        finally:
            capture.release()

    return Source("video", max(count, 0), fps, frames())
