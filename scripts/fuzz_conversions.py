#!/usr/bin/env python3
"""Coverage-guided fuzzing (atheris/libFuzzer) of the node's image conversions.

Each input is turned into a ``sensor_msgs/Image`` (encoding, height, width, step, data) or a
``sensor_msgs/CompressedImage`` (format, data) and fed to the functions the node runs on
every message. The property: they return a uint8 ``[H, W, 3]`` array within the pixel
limit or raise :class:`ImageFormatError`; any other exception is a crash that libFuzzer
reports with the input that caused it (saved as ``crash-<sha1>``).

    .venv/bin/pip install atheris==3.0.0
    PYTHONPATH=. .venv/bin/python scripts/fuzz_conversions.py -runs=100000   # bounded run
    PYTHONPATH=. .venv/bin/python scripts/fuzz_conversions.py CORPUS/ -max_total_time=600

Arguments are libFuzzer's (``-help=1``). ``test/reliability`` runs it for a bounded count.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["surg_perception.image_msgs"]):
    import numpy as np
    from sensor_msgs.msg import CompressedImage, Image

    from surg_perception import image_msgs as conversions  # the readers the node uses
    from surg_perception.errors import ImageFormatError

MAX_PIXELS = 256 * 256
ENCODINGS = [*sorted(conversions.ENCODINGS), "32FC1", "rgb16", "yuv422", ""]
FORMATS = ["jpeg", "png", "bgr8; jpeg compressed bgr8", "webp", "bmp", "tiff", "h264",
           "16UC1; compressedDepth png", ""]
UINT32 = 2**32 - 1


def _size(fdp: atheris.FuzzedDataProvider) -> int:
    """Mostly small, sometimes anything a uint32 field can hold."""
    return fdp.ConsumeIntInRange(0, 64) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(0, UINT32)


def _raw(fdp: atheris.FuzzedDataProvider) -> Image:
    """Mostly plausible geometry (small sizes, step near width * channels), any data."""
    encoding = ENCODINGS[fdp.ConsumeIntInRange(0, len(ENCODINGS) - 1)]
    channels = conversions.ENCODINGS.get(encoding, (3, ""))[0]
    height = _size(fdp)
    width = _size(fdp)
    step = min(width * channels + fdp.ConsumeIntInRange(-2, 16), UINT32) if fdp.ConsumeBool() \
        else fdp.ConsumeIntInRange(0, UINT32)
    data = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64 * 64 * 4 + 64))
    return Image(height=height, width=width, encoding=encoding, step=max(step, 0), data=data)


def _compressed(fdp: atheris.FuzzedDataProvider) -> CompressedImage:
    fmt = FORMATS[fdp.ConsumeIntInRange(0, len(FORMATS) - 1)] if fdp.ConsumeBool() \
        else fdp.ConsumeUnicodeNoSurrogates(24)
    return CompressedImage(format=fmt, data=fdp.ConsumeBytes(fdp.remaining_bytes()))


def test_one_input(data: bytes) -> None:
    """libFuzzer entry point: convert one message; only ImageFormatError may escape."""
    fdp = atheris.FuzzedDataProvider(data)
    compressed = fdp.ConsumeBool()
    msg = _compressed(fdp) if compressed else _raw(fdp)
    try:
        if compressed:
            conversions.check_compressed(msg)
            pixels, _ = conversions.compressed_to_numpy(msg, MAX_PIXELS)
        else:
            conversions.check_image(msg, MAX_PIXELS)
            pixels, _ = conversions.image_to_numpy(msg, MAX_PIXELS)
    except ImageFormatError:
        return
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise RuntimeError(f"bad conversion result {pixels.dtype} {pixels.shape}")
    if pixels.shape[0] * pixels.shape[1] > MAX_PIXELS:
        raise RuntimeError(f"accepted {pixels.shape} beyond the {MAX_PIXELS}-pixel limit")
    if not compressed and pixels.shape[:2] != (msg.height, msg.width):
        raise RuntimeError(f"shape {pixels.shape} != message {msg.height}x{msg.width}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
