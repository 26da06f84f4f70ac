"""Thread-safe counters and latency statistics of the node (reported on /diagnostics).

The image callback, the worker thread and the diagnostics timer run on different threads,
so every update and the snapshot take one lock; the work under it is O(1) except the
percentiles, computed over a bounded window once per diagnostics period.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
import threading
import time
from typing import Any

from surg_perception.processing.timing import latency_stats
from surg_perception.ros.latency import LatencyBook, MissedFrames

# The cumulative counters of :meth:`NodeStats.snapshot` (whole run, never reset by a window),
# by name and by prefix (per reason / per output); everything else in it is a rate, a
# percentile or a window value.
COUNTERS = ("received", "processed", "dropped", "duplicates", "missed", "rejected",
            "memory_resets")
COUNTER_PREFIXES = ("rejected.", "built.", "skipped.")


class NodeStats:
    """Counts (received, processed, dropped, missed, rejected per reason, outputs built and
    skipped), the receive->built latency window (ms) and the tail delays (:mod:`.latency`)."""

    def __init__(self, window: int = 1000) -> None:
        self._lock = threading.Lock()
        self._latency_ms: collections.deque[float] = collections.deque(maxlen=window)
        self._inference_ms: collections.deque[float] = collections.deque(maxlen=window)
        self.reset()

    def reset(self) -> None:
        """Zero every counter (called on activate: statistics describe one activation)."""
        with self._lock:
            self.received = 0
            self.processed = 0
            self.dropped = 0
            self.duplicates = 0  # of the dropped: raw + compressed copies of one frame
            self.missed = 0  # stamped by the camera, never received (stamp gaps)
            self.memory_resets = 0
            self.rejected: collections.Counter[str] = collections.Counter()
            self.built: collections.Counter[str] = collections.Counter()
            self.skipped: collections.Counter[str] = collections.Counter()
            self._latency_ms.clear()
            self._inference_ms.clear()
            self._delays = LatencyBook()
            self._gaps = MissedFrames()
            self._window_mark = self._counts()
            self._fps_mark = (time.monotonic(), 0)
            self._fps = 0.0

    def _counts(self) -> tuple[int, int, int, int]:
        return self.received, self.processed, self.dropped, self.missed

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def receive(self, stamp_ns: int) -> None:
        """A frame arrived (counted, and its stamp checked for frames missed before it)."""
        with self._lock:
            self.received += 1
            self.missed += self._gaps.update(stamp_ns)

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    def frame_done(self, latency_ms: float, inference_ms: float, memory_reset: bool) -> None:
        with self._lock:
            self.processed += 1
            self.memory_resets += int(memory_reset)
            self._latency_ms.append(latency_ms)
            self._inference_ms.append(inference_ms)

    def published(self, receive_to_publish_ms: float, stamp_to_publish_ms: float,
                  built: Iterable[str] = (), skipped: Iterable[str] = ()) -> None:
        """A frame's last publish: its two delays, the outputs built and those skipped."""
        with self._lock:
            self._delays.add(receive_to_publish_ms, stamp_to_publish_ms)
            self.built.update(built)
            self.skipped.update(skipped)

    def fps(self) -> float:
        """Processed frames per second over the last snapshot period."""
        with self._lock:
            return self._fps

    def snapshot(self) -> dict[str, Any]:
        """Counters, rejection reasons (``rejected.<reason>``), fps, latency percentiles;
        the tail delays and ``window.*`` counts since the previous snapshot (a new window)."""
        with self._lock:
            now = time.monotonic()
            then, processed_then = self._fps_mark
            if now > then:
                self._fps = (self.processed - processed_then) / (now - then)
            self._fps_mark = (now, self.processed)
            stats: dict[str, Any] = {
                "fps": self._fps,
                "received": self.received,
                "processed": self.processed,
                "dropped": self.dropped,
                "duplicates": self.duplicates,
                "missed": self.missed,
                "rejected": sum(self.rejected.values()),
                "memory_resets": self.memory_resets,
            }
            counts, self._window_mark = (self._counts(), self._window_mark), self._counts()
            names = ("received", "processed", "dropped", "missed")
            stats.update({f"window.{name}": new - old
                          for name, new, old in zip(names, *counts)})
            stats["window.s"] = now - then
            stats.update({f"rejected.{reason}": n for reason, n in sorted(self.rejected.items())})
            stats.update({f"built.{name}": n for name, n in sorted(self.built.items())})
            stats.update({f"skipped.{name}": n for name, n in sorted(self.skipped.items())})
            stats.update(_percentiles("latency_ms", self._latency_ms))
            stats.update(_percentiles("inference_ms", self._inference_ms))
            stats.update(self._delays.take_window())
        return stats


def _percentiles(name: str, values: collections.deque[float]) -> dict[str, float]:
    if not values:
        return {}
    return {f"{name}.{key}": v for key, v in latency_stats(values).items() if key != "std"}


class DropWatch:
    """Tells when a large share of the received frames was dropped over a window.

    ``update`` takes the running totals (received, dropped) once per diagnostics period and
    returns the share dropped since the window began when it exceeds ``share`` (then a new
    window begins), else None. Windows shorter than ``min_frames`` received are not judged.
    """

    def __init__(self, share: float = 0.25, min_frames: int = 10) -> None:
        self.share, self.min_frames = share, min_frames
        self._start = (0, 0)

    def reset(self) -> None:
        self._start = (0, 0)

    def update(self, received: int, dropped: int) -> tuple[int, int] | None:
        """``(dropped, received)`` of the window when too many were dropped, else None."""
        got, lost = received - self._start[0], dropped - self._start[1]
        if got < self.min_frames:
            return None
        self._start = (received, dropped)
        return (lost, got) if lost > self.share * got else None


class ReasonThrottle:
    """One warning per ``period_s`` for EACH reason (rclpy throttles per call site, which let
    one kind of bad input hide the next). ``allow`` returns how many were suppressed."""

    def __init__(self, period_s: float = 5.0) -> None:
        self.period_s = period_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: collections.Counter[str] = collections.Counter()

    def allow(self, reason: str, now: float | None = None) -> int | None:
        """Suppressed count since the last warning for ``reason`` when one may be logged now,
        else None (counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._last.get(reason)
            if last is not None and now - last < self.period_s:
                self._suppressed[reason] += 1
                return None
            self._last[reason] = now
            return self._suppressed.pop(reason, 0)
