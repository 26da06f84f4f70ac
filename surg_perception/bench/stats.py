"""Pure statistics over timing samples: latency summary, jitter, dropped frames.

Definitions (also written in BENCHMARKS.md):
- percentiles use NumPy's default linear interpolation between order statistics;
- ``jitter_ms`` is the standard deviation of the intervals between consecutive frame
  completions (what a subscriber sees), not of the latencies themselves;
- dropped frames are those a camera at ``fps`` would lose with the node's one-frame
  "keep the newest" slot, given the measured per-frame service times (0 when offline).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from surg_perception.processing.timing import PERCENTILES, latency_stats

__all__ = ["PERCENTILES", "dropped_frames", "jitter_ms", "latency_stats"]


def jitter_ms(completion_ms: Sequence[float]) -> float:
    """Std (population) of the gaps between consecutive completion times ``[N]`` (ms).

    Fewer than three completions give fewer than two gaps: jitter 0.
    """
    gaps = np.diff(np.asarray(completion_ms, dtype=np.float64))
    return float(gaps.std()) if gaps.size >= 2 else 0.0


def dropped_frames(service_ms: Sequence[float], period_ms: float) -> int:
    """Frames lost by a camera with period ``period_ms`` feeding a keep-newest slot of one.

    Frame ``i`` arrives at ``i * period_ms``; the worker processes frames back to back with
    the measured ``service_ms`` (in order) and, when free, takes the newest waiting frame. A
    waiting frame replaced by a newer one is dropped; the last waiting frame is processed.
    """
    if period_ms <= 0:
        return 0
    services = iter(service_ms)
    free_at, waiting, dropped = 0.0, None, 0
    for index in range(len(service_ms)):
        now = index * period_ms
        if waiting is not None and free_at <= now:
            free_at += next(services)  # the worker took the waiting frame when it got free
            waiting = None
        if free_at <= now:
            free_at = now + next(services)
        else:
            dropped += waiting is not None
            waiting = now
    return dropped


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing or the divisor is 0."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return float(numerator / denominator)
