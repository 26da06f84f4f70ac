"""One process-wide allocator setting that camera-resolution message publishing needs.

Measured with ``surg-perception bench`` (BENCHMARKS.md): serialising a 1280x1024 bgr8 Image
took 8-50 ms with glibc's defaults and about 0.3 ms tuned, because every frame's multi-MiB
buffers were page-faulted anew. The node and the benchmark call :func:`set_malloc_tuning`.
"""

from __future__ import annotations

import ctypes

# glibc mallopt parameters (malloc.h) and values
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_GLIBC_DEFAULT = 128 * 1024
TUNED_TRIM_THRESHOLD = 256 * 1024 * 1024
TUNED_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit


def set_malloc_tuning(tuned: bool) -> bool:
    """Keep freed multi-MiB buffers in the heap (``tuned``) or go back to glibc's 128 KiB.

    Why: by default glibc serves buffers above its mmap threshold with fresh ``mmap``s and
    returns the heap top to the OS once 128 KiB are free, so every frame's image message
    buffers are page-faulted anew; that, not copying, dominated serialising a 1280x1024
    image. Tuned: buffers up to 32 MiB come from the heap and 256 MiB may stay free there.
    Restoring sets fixed 128 KiB thresholds (glibc's start values, without its dynamic
    mmap-threshold adjustment). Returns False where ``mallopt`` is unavailable.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    trim = TUNED_TRIM_THRESHOLD if tuned else _GLIBC_DEFAULT
    mmap = TUNED_MMAP_THRESHOLD if tuned else _GLIBC_DEFAULT
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap)) and bool(mallopt(_M_TRIM_THRESHOLD, trim))
