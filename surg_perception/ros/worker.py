"""Latency architecture: a buffer of one newest frame and the worker thread that drains it.

The subscription callbacks only :meth:`LatestFrameSlot.put` the message (O(1)); inference
runs on a plain thread, so the executor is never blocked and a slow model sees the newest
frame, never a queue of stale ones (replaced frames are counted as dropped by the caller).
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import threading
from typing import Any

from surg_perception.predictor import size_reset_reason


@dataclasses.dataclass(frozen=True)
class PendingFrame:
    """A received message waiting for the worker."""

    msg: Any  # sensor_msgs/Image or sensor_msgs/CompressedImage
    compressed: bool
    received: float  # time.monotonic() when the callback ran


class LatestFrameSlot:
    """Holds at most one frame; ``put`` replaces, ``take`` blocks until one is there."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: PendingFrame | None = None
        self._closed = False

    def put(self, frame: PendingFrame) -> bool:
        """Store ``frame``; True when it replaced one the worker never saw (a dropped frame)."""
        with self._cond:
            replaced = self._frame is not None
            self._frame = frame
            self._cond.notify()
        return replaced

    def take(self, timeout: float | None = None) -> PendingFrame | None:
        """The newest frame (removed from the slot), or None on timeout or after ``close``."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout)
            frame, self._frame = self._frame, None
            return None if self._closed else frame

    def close(self) -> None:
        """Wake and release the worker; the slot refuses nothing but yields nothing more."""
        with self._cond:
            self._closed = True
            self._frame = None
            self._cond.notify_all()

    def open(self) -> None:
        with self._cond:
            self._closed = False
            self._frame = None


class FrameWorker:
    """One thread running ``process(frame)`` for every frame taken from ``slot``.

    ``on_error`` receives exceptions ``process`` did not handle; the loop goes on, so one
    bad frame can never stop the node.
    """

    def __init__(self, slot: LatestFrameSlot, process: Callable[[PendingFrame], None],
                 on_error: Callable[[BaseException], None], name: str = "apmtl_worker") -> None:
        self._slot = slot
        self._process = process
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._slot.open()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop after the frame in progress; True when the thread has ended."""
        self._stop.set()
        self._slot.close()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            frame = self._slot.take(timeout=0.5)
            if frame is None:
                continue
            try:
                self._process(frame)
            except Exception as exc:  # noqa: BLE001 - reported, and the stream goes on
                self._on_error(exc)


@dataclasses.dataclass(frozen=True)
class FrameKey:
    """What identifies a frame's place in the stream."""

    stamp_ns: int
    frame_id: str
    size: tuple[int, int]  # (height, width)


def reset_reason(prev: FrameKey | None, cur: FrameKey, max_gap_s: float) -> str:
    """Why the temporal memory must be cleared before ``cur``, or ``""`` to keep it.

    Reasons: first frame, frame_id or size change (another camera/stream), a stamp going
    backwards (a bag looping), or a gap longer than ``max_gap_s`` (0 disables the gap rule).
    """
    if prev is None:
        return "first frame"
    if cur.frame_id != prev.frame_id:
        return f"frame_id changed from {prev.frame_id!r} to {cur.frame_id!r}"
    if size_reset_reason(prev.size, cur.size):
        return size_reset_reason(prev.size, cur.size)
    if cur.stamp_ns < prev.stamp_ns:
        return f"stamp went backwards by {(prev.stamp_ns - cur.stamp_ns) / 1e9:.3f} s"
    gap_s = (cur.stamp_ns - prev.stamp_ns) / 1e9
    if max_gap_s > 0 and gap_s > max_gap_s:
        return f"gap of {gap_s:.3f} s exceeds memory.reset_gap_s={max_gap_s:g}"
    return ""


def is_duplicate(prev: FrameKey | None, cur: FrameKey) -> bool:
    """Same stamp and frame_id as the previous frame: the raw and compressed copies of one
    image (image_transport publishes both). Zero stamps are never treated as duplicates."""
    return (prev is not None and cur.stamp_ns != 0 and cur.stamp_ns == prev.stamp_ns
            and cur.frame_id == prev.frame_id)
