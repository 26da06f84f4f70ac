"""The node's tail-latency bookkeeping: a 1 s window (exact) and the activation (bounded).

Two delays per published frame (ms):
- ``receive_to_publish``: the subscription callback's ``time.monotonic()`` to the last
  ``publish`` of the frame (the node's own cost, queueing in the one-frame slot included);
- ``stamp_to_publish``: the image header stamp to that moment on the node's clock (the
  camera's age of the result: transport + node; what a controller fusing the result with
  robot kinematics must compensate). Negative values mean the camera clock runs ahead.

The window keeps every sample of one diagnostics period and summarises them exactly with
:func:`~surg_perception.processing.timing.latency_stats`; the cumulative summary uses a
log-binned histogram (1 % bins, exact min/max/mean), so a node running for days holds a
fixed ~17 KiB per delay instead of every sample.
"""

from __future__ import annotations

import collections
import math
from typing import Any

import numpy as np

from surg_perception.processing.timing import TAIL_PERCENTILES, latency_stats, percentile_key

DELAYS = ("receive_to_publish_ms", "stamp_to_publish_ms")
SUMMARY_KEYS = (*(percentile_key(q) for q in TAIL_PERCENTILES), "max")


class LatencyHistogram:
    """Counts of samples (ms) in bins ``[lo * g^k, lo * g^(k+1))``; percentiles within ``g``.

    Samples below ``lo`` (zero, negative) fall in the first bin and above the range in the
    last; min, max and mean are exact, and a percentile is clamped to ``[min, max]``.
    """

    def __init__(self, lo_ms: float = 0.01, hi_ms: float = 1e7, growth: float = 1.01) -> None:
        self._lo, self._log_growth = lo_ms, math.log(growth)
        self._counts = np.zeros(int(math.log(hi_ms / lo_ms) / self._log_growth) + 2, np.int64)
        self.n, self._sum = 0, 0.0
        self.min, self.max = math.inf, -math.inf

    def add(self, value_ms: float) -> None:
        index = 0
        if value_ms > self._lo:
            index = min(int(math.log(value_ms / self._lo) / self._log_growth) + 1,
                        self._counts.size - 1)
        self._counts[index] += 1
        self.n += 1
        self._sum += value_ms
        self.min, self.max = min(self.min, value_ms), max(self.max, value_ms)

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile ``q`` (0..100): the geometric middle of its bin."""
        if not self.n:
            raise ValueError("percentile of an empty histogram")
        rank = max(1, math.ceil(q / 100.0 * self.n))
        index = int(np.searchsorted(np.cumsum(self._counts), rank))
        middle = self._lo * math.exp((index - 0.5) * self._log_growth) if index else self._lo
        return min(max(middle, self.min), self.max)

    def summary(self) -> dict[str, float]:
        """``p50 .. p99.9, max, min, mean`` (ms); {} without samples."""
        if not self.n:
            return {}
        stats = {percentile_key(q): self.percentile(q) for q in TAIL_PERCENTILES}
        stats.update(max=self.max, min=self.min, mean=self._sum / self.n)
        return stats


class MissedFrames:
    """Frames the camera stamped but the node never received, told from header-stamp gaps.

    The camera period is the median of the last ``history`` positive gaps; a gap over 1.5
    periods counts ``round(gap / period) - 1`` missed frames. Gaps of ``pause_s`` or more
    (a paused or restarted stream), backwards stamps (a looping bag) and repeated stamps
    (raw + compressed copies of one frame) count nothing. Judged after ``min_gaps`` gaps.
    """

    def __init__(self, history: int = 31, min_gaps: int = 8, pause_s: float = 1.0) -> None:
        self._gaps: collections.deque[int] = collections.deque(maxlen=history)
        self._min_gaps, self._pause_ns = min_gaps, int(pause_s * 1e9)
        self._last_ns: int | None = None

    def update(self, stamp_ns: int) -> int:
        """Missed frames just before the frame stamped ``stamp_ns``."""
        last = self._last_ns
        # A slightly late frame (the other input's copy) keeps the newest stamp; a long
        # rewind (a bag looping) starts from the rewound stamp.
        if last is None or stamp_ns > last or last - stamp_ns >= self._pause_ns:
            self._last_ns = stamp_ns
        if last is None or not 0 < stamp_ns - last < self._pause_ns:
            return 0
        gap = stamp_ns - last
        missed = 0
        if len(self._gaps) >= self._min_gaps:
            period = float(np.median(self._gaps))
            if gap > 1.5 * period:
                missed = round(gap / period) - 1
        self._gaps.append(gap)
        return missed


class LatencyBook:
    """Both delays: the current window's samples and the activation's histograms."""

    def __init__(self) -> None:
        self.window: dict[str, list[float]] = {name: [] for name in DELAYS}
        self.total = {name: LatencyHistogram() for name in DELAYS}

    def add(self, receive_to_publish_ms: float, stamp_to_publish_ms: float) -> None:
        for name, value in zip(DELAYS, (receive_to_publish_ms, stamp_to_publish_ms)):
            self.window[name].append(value)
            self.total[name].add(value)

    def take_window(self) -> dict[str, Any]:
        """``<delay>.window.<stat>`` and ``<delay>.total.<stat>`` (ms); starts a new window."""
        stats: dict[str, Any] = {}
        for name in DELAYS:
            samples, self.window[name] = self.window[name], []
            if samples:
                window = latency_stats(samples, TAIL_PERCENTILES)
                stats.update({f"{name}.window.{key}": window[key] for key in SUMMARY_KEYS})
            total = self.total[name].summary()
            stats.update({f"{name}.total.{key}": total[key] for key in SUMMARY_KEYS if total})
        return stats
