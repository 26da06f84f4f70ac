"""Read what survives of an mcap file cut short (no footer, no index).

An mcap written by rosbags (or rosbag2) holds chunks of records; the index and the footer
come last, so a truncated file cannot be opened the indexed way. The ``mcap`` library's
:class:`~mcap.stream_reader.StreamReader` reads the records in file order instead: every
complete chunk is recovered, and the scan stops at the first record that is cut or damaged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from mcap.records import Channel, Chunk, Message, Schema
from mcap.stream_reader import StreamReader, breakup_chunk

from surg_perception.errors import BagError


def find_mcap(path: Path) -> Path | None:
    """The mcap file of a bag folder or file, or None when the bag is not mcap."""
    if path.is_file():
        return path if path.suffix == ".mcap" else None
    files = sorted(path.glob("*.mcap"))
    return files[0] if len(files) == 1 else None


class McapScan:
    """Sequential reader of a damaged mcap file.

    ``topics`` (topic -> type) and ``counts`` describe the recoverable part only. Opening
    scans the whole file once; :meth:`messages` scans again and raises :class:`BagError`
    after the last recoverable message, so callers keep what came before. The error states
    :attr:`readable`, the whole bag's count, so every command (render, process-bag, replay,
    the metrics) reports the same number for the same file, whatever topics it reads.
    """

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        self.topics: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self._channels: dict[int, tuple[str, str]] = {}
        for topic, _, _, _ in self._scan(set(), keep_data=False):
            self.counts[topic] = self.counts.get(topic, 0) + 1
        if not self.topics:
            raise BagError(f"{path}: unreadable bag ({reason}) and no complete record could "
                           f"be recovered ({self.damage}); the file is corrupt or not mcap")

    @property
    def readable(self) -> int:
        """Messages recoverable before the damage, on every topic: the one count to report."""
        return sum(self.counts.values())

    def messages(self, topics: set[str]) -> Iterator[tuple[str, str, int, bytes]]:
        """Yield ``(topic, type, log time ns, CDR bytes)`` of ``topics`` in file order, then
        raise BagError (:class:`~surg_perception.bags.storage.BagReader` wraps the tuples)."""
        yield from self._scan(topics, keep_data=True)
        raise BagError(f"{self.path}: the bag is truncated or corrupt ({self.reason}); "
                       f"the bag holds {self.readable} readable message(s) before the damage "
                       f"({self.damage})")

    def _scan(self, topics: set[str], keep_data: bool) -> Iterator[tuple[str, str, int, bytes]]:
        schemas: dict[int, str] = {}
        self.damage = "end of file"
        with self.path.open("rb") as stream:
            try:
                for record in StreamReader(stream, emit_chunks=True).records:
                    for inner in _records(record):
                        if isinstance(inner, Schema):
                            schemas[inner.id] = inner.name
                        elif isinstance(inner, Channel):
                            msgtype = schemas.get(inner.schema_id, "")
                            self._channels[inner.id] = (inner.topic, msgtype)
                            self.topics.setdefault(inner.topic, msgtype)
                        elif isinstance(inner, Message) and inner.channel_id in self._channels:
                            topic, msgtype = self._channels[inner.channel_id]
                            if not keep_data:
                                yield topic, msgtype, inner.log_time, b""
                            elif topic in topics:
                                yield topic, msgtype, inner.log_time, bytes(inner.data)
            except Exception as exc:  # noqa: BLE001 - any parse failure marks the damage
                self.damage = f"stopped at {type(exc).__name__}: {exc}".rstrip(": ")


def _records(record: object) -> list:
    """The records inside a chunk (only when the chunk is complete) or the record itself."""
    if not isinstance(record, Chunk):
        return [record]
    # A cut chunk reads short without an error: compare with its declared size.
    if record.compression == "" and len(record.data) != record.uncompressed_size:
        raise BagError(f"chunk cut at {len(record.data)} of {record.uncompressed_size} bytes")
    return breakup_chunk(record)
