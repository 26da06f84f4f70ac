"""Image file reading and writing for the dataset loaders (OpenCV, RGB order).

Every failure becomes a :class:`DatasetError` that names the file, so a broken
download is reported as "which file, what is wrong" rather than a cv2 assertion.
"""

from __future__ import annotations

from pathlib import Path
import re

import cv2
import numpy as np

from surg_perception.errors import DatasetError

FRAME_RE = re.compile(r"^frame(\d+)\.png$")


def frame_number(path: Path) -> int | None:
    """Return NNN of ``frame<NNN>.png``, or None when the name does not follow the pattern."""
    match = FRAME_RE.match(path.name)
    return int(match.group(1)) if match else None


def list_frames(folder: Path) -> list[Path]:
    """``frame<NNN>.png`` files of ``folder`` sorted by NNN; raises when there are none."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder not found; check the dataset root and layout")
    frames = [p for p in folder.iterdir() if frame_number(p) is not None]
    if not frames:
        # An extra folder level (an archive unpacked into a folder of its own) is common:
        # say where the frames are instead of calling the sequence empty.
        nested = sorted({p.parent for p in folder.glob("*/*.png") if frame_number(p) is not None})
        if nested:
            raise DatasetError(f"{folder}: no frame<NNN>.png files here, but found some one "
                               f"level down in {', '.join(str(n) for n in nested)}; move them "
                               f"up into {folder}")
        raise DatasetError(f"{folder}: no frame<NNN>.png files; the sequence is empty")
    return sorted(frames, key=lambda p: frame_number(p))


def _read(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    # imdecode(fromfile) rather than imread: non-ASCII paths work and failures are explicit.
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise DatasetError(f"{path}: cannot be decoded as an image (truncated or not a PNG?)")
    if image.dtype != np.uint8:
        raise DatasetError(f"{path}: expected 8-bit pixels, got {image.dtype}")
    return image


def read_rgb(path: Path) -> np.ndarray:
    """Read a colour image as uint8 [H, W, 3] RGB (alpha dropped, grey expanded)."""
    image = _read(path)
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if image.shape[2] != 3:
        raise DatasetError(f"{path}: expected 1, 3 or 4 channels, got {image.shape[2]}")
    return np.ascontiguousarray(image[:, :, ::-1])


def read_gray(path: Path) -> np.ndarray:
    """Read a single-channel label image as uint8 [H, W].

    A 3-channel file is accepted only when its channels are identical (some tools save
    grey labels as RGB); anything else is an error, never a silent grey conversion.
    """
    image = _read(path)
    if image.ndim == 2:
        return image
    channels = image[:, :, :3]
    if not (np.array_equal(channels[:, :, 0], channels[:, :, 1])
            and np.array_equal(channels[:, :, 0], channels[:, :, 2])):
        raise DatasetError(f"{path}: expected a single-channel label image, got colour pixels")
    return np.ascontiguousarray(channels[:, :, 0])


def write_png(path: Path, image: np.ndarray) -> None:
    """Write uint8 [H, W] or RGB [H, W, 3] as PNG (deterministic bytes for equal input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = image[:, :, ::-1] if image.ndim == 3 else image
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels))
    if not ok:
        raise DatasetError(f"{path}: PNG encoding failed")
    path.write_bytes(encoded.tobytes())
