"""Thread-safe counters and latency statistics of the node (reported on /diagnostics).

The image callback, the worker thread and the diagnostics timer run on different threads,
so every update and the snapshot take one lock; the work under it is O(1) except the
percentiles, computed over a bounded window once per diagnostics period.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from surg_perception.processing.timing import latency_stats


class NodeStats:
    """Counts (received, processed, dropped, rejected per reason) and latency window (ms)."""

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
            self.memory_resets = 0
            self.rejected: collections.Counter[str] = collections.Counter()
            self._latency_ms.clear()
            self._inference_ms.clear()
            self._fps_mark = (time.monotonic(), 0)
            self._fps = 0.0

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    def frame_done(self, latency_ms: float, inference_ms: float, memory_reset: bool) -> None:
        with self._lock:
            self.processed += 1
            self.memory_resets += int(memory_reset)
            self._latency_ms.append(latency_ms)
            self._inference_ms.append(inference_ms)

    def fps(self) -> float:
        """Processed frames per second over the last snapshot period."""
        with self._lock:
            return self._fps

    def snapshot(self) -> dict[str, Any]:
        """Counters, rejection reasons (``rejected.<reason>``), fps, latency percentiles."""
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
                "rejected": sum(self.rejected.values()),
                "memory_resets": self.memory_resets,
            }
            stats.update({f"rejected.{reason}": n for reason, n in sorted(self.rejected.items())})
            stats.update(_percentiles("latency_ms", self._latency_ms))
            stats.update(_percentiles("inference_ms", self._inference_ms))
        return stats


def _percentiles(name: str, values: collections.deque[float]) -> dict[str, float]:
    if not values:
        return {}
    return {f"{name}.{key}": v for key, v in latency_stats(values).items() if key != "std"}
