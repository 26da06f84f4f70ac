"""Per-stage timings of one inference step, with a single device synchronisation.

On CUDA, stage boundaries are CUDA events recorded on the current stream: they cost no host
sync, and :meth:`StageClock.finish` waits once for the last one. Event gaps measure the
device timeline, which is what a stage costs when the host runs ahead of the device.
Elsewhere the boundaries are ``time.perf_counter`` readings. ``total`` is always host wall
time from construction to :meth:`finish`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import time

import numpy as np
import torch

PERCENTILES = (50, 95, 99)
# The node's tail summary (controllers read the far tail; 1 in 1000 frames at 30 fps is one
# frame every 33 s, so p99.9 is a number an operator meets).
TAIL_PERCENTILES = (50, 95, 99, 99.9)


def percentile_key(q: float) -> str:
    """``50 -> "p50"``, ``99.9 -> "p99.9"``."""
    return f"p{q:g}"


def latency_stats(samples_ms: Iterable[float],
                  percentiles: Sequence[float] = PERCENTILES) -> dict[str, float]:
    """``[N]`` samples (ms) -> ``min, mean, p50, p95, p99, max, std`` (ms); N >= 1.

    The one latency summary: the benchmark's rows and the node's ``/diagnostics`` both use
    it (percentiles: NumPy's default linear interpolation). ``percentiles`` picks the
    ``p<q>`` keys (``TAIL_PERCENTILES`` adds ``p99.9``).
    """
    values = np.fromiter(samples_ms, dtype=np.float64)
    if values.size == 0:
        raise ValueError("latency_stats needs at least one sample")
    stats = {"min": float(values.min()), "mean": float(values.mean())}
    for q, value in zip(percentiles, np.percentile(values, percentiles)):
        stats[percentile_key(q)] = float(value)
    stats["max"] = float(values.max())
    stats["std"] = float(values.std())
    return stats


class StageClock:
    """Mark the end of each named stage; read all durations (ms) at the end."""

    def __init__(self, device: torch.device) -> None:
        self._cuda = device.type == "cuda"
        self._names: list[str] = []
        self._start = time.perf_counter()
        self._marks: list = [self._now()]

    def _now(self):
        if self._cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def mark(self, stage: str) -> None:
        """End the current stage, named ``stage``; the next one starts now."""
        self._names.append(stage)
        self._marks.append(self._now())

    def finish(self) -> dict[str, float]:
        """Synchronise once and return ``{stage: ms, ..., "total": ms}``."""
        if self._cuda:
            self._marks[-1].synchronize()
            spans = [a.elapsed_time(b) for a, b in zip(self._marks, self._marks[1:])]
        else:
            spans = [(b - a) * 1e3 for a, b in zip(self._marks, self._marks[1:])]
        timings = dict(zip(self._names, spans))
        timings["total"] = (time.perf_counter() - self._start) * 1e3
        return timings
