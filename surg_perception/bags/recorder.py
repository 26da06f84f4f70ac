"""The storage side of live recording: a thread-safe bag sink stamped with receive times.

:class:`~surg_perception.ros.recorder.TopicRecorder` (the rclpy side) subscribes with
``raw=True`` and hands every message's CDR bytes to a :class:`RecordSink`; ``make demo``
records every output topic of the live node this way. Nothing is decoded, so what lands
in the bag is byte for byte what the publisher sent.
"""

from __future__ import annotations

from pathlib import Path
import threading
import time

from surg_perception.bags.storage import BagWriter


class RecordSink:
    """Append CDR messages to a new bag with the receive time (ns since the epoch) as bag time.

    Args:
        path: bag folder to create; ``storage``: mcap (default) or sqlite3; ``force``:
            replace an existing bag.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", force: bool = False) -> None:
        self._writer = BagWriter(path, storage, force)
        self._lock = threading.Lock()  # executors may call back from several threads
        self.path = Path(path)

    def write(self, topic: str, msgtype: str, raw: bytes, received_ns: int | None = None) -> None:
        """Store one message; ``received_ns`` defaults to now (wall clock, like rosbag2)."""
        stamp = time.time_ns() if received_ns is None else received_ns
        with self._lock:
            if self._writer is not None:  # messages arriving after close are dropped
                self._writer.write(topic, msgtype, stamp, raw)

    @property
    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._writer.counts) if self._writer is not None else self._final

    def close(self) -> None:
        """Finish the bag (idempotent); later messages are ignored."""
        with self._lock:
            if self._writer is None:
                return
            writer, self._writer = self._writer, None
            self._final = dict(writer.counts)
            writer.close()
