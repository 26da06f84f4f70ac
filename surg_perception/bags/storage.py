"""rosbag2 files in and out (rosbags library): typed errors, safe output, truncated-bag recovery.

- :class:`BagWriter` writes a rosbag2 folder (mcap or sqlite3, metadata version 8, which both
  Humble and Jazzy play) into a hidden temporary folder and moves it into place when closed;
  closing also happens on errors and Ctrl-C, so an interrupted run leaves a readable bag with
  everything written so far (:meth:`BagWriter.discard` drops it instead). An existing output
  is replaced only with ``force``. An output named ``x.mcap`` (``x.db3`` for sqlite3) is that
  single storage file, which ``ros2 bag play`` and this reader open without metadata.
- :class:`BagReader` opens a rosbag2 folder or a bare ``.mcap``/``.db3`` file. Every failure is
  a :class:`BagError`. An mcap cut short (copy interrupted, disk full, recorder killed) has no
  index: its complete chunks are recovered by a sequential scan (:mod:`.recovery`), messages
  are yielded up to the damage, then a BagError says how many were read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
import dataclasses
from pathlib import Path
import shutil
import sqlite3
import tempfile
from typing import Any

from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.errors import ReaderError, WriterError

from surg_perception.bags import recovery
from surg_perception.bags.typestore import IMAGE_TYPES, msg_class, serialize, typestore
from surg_perception.errors import BagError
from surg_perception.topics import NODE_NAME

STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
SUFFIXES = {"mcap": ".mcap", "sqlite3": ".db3"}  # a name ending so is a single file
BAG_VERSION = 8  # version 9 is unreadable by Humble's rosbag2


@dataclasses.dataclass(frozen=True)
class BagMessage:
    """One stored message: its topic, type name, receive/log time (ns) and CDR bytes."""

    topic: str
    msgtype: str
    timestamp: int
    raw: bytes


def check_output(path: Path, force: bool) -> None:
    """Refuse an existing ``path`` unless ``force``; never delete something that is not a bag."""
    if not path.exists():
        return
    if not force:
        raise BagError(f"{path} exists; pass --force to replace it or choose another output")
    if path.is_file() and path.suffix not in SUFFIXES.values():
        raise BagError(f"{path} is a file that is not a bag (.mcap/.db3); refusing to replace "
                       "it even with --force")
    if path.is_dir() and not (path / "metadata.yaml").is_file() and any(path.iterdir()):
        raise BagError(f"{path} is a non-empty folder without metadata.yaml (not a rosbag2 "
                       "bag); refusing to delete it even with --force")


class BagWriter:
    """Writes messages to a new rosbag2 bag at ``path``; a context manager that always closes.

    Args:
        path: the bag folder to create.
        storage: ``"mcap"`` (Jazzy's default) or ``"sqlite3"`` (Humble's default).
        force: replace an existing bag at ``path`` (when this writer closes).
    """

    def __init__(self, path: str | Path, storage: str = "mcap", force: bool = False) -> None:
        if storage not in STORAGES:
            raise BagError(f"unknown storage {storage!r}; use one of {', '.join(STORAGES)}")
        self.path = Path(path)
        self.single_file = self.path.suffix in SUFFIXES.values()
        if self.single_file and self.path.suffix != SUFFIXES[storage]:
            raise BagError(f"{self.path}: a {self.path.suffix} name with storage {storage!r}; "
                           f"name it {self.path.stem}{SUFFIXES[storage]} or change the storage")
        check_output(self.path, force)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        # rosbags writes <folder>/<folder name><suffix>: a single file is that inner file.
        self._bag = self._tmp / (self.path.stem if self.single_file else self.path.name)
        self._writer = Writer(self._bag, version=BAG_VERSION, storage_plugin=STORAGES[storage])
        self._writer.open()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def write(self, topic: str, msgtype: str, timestamp: int, raw: bytes | memoryview) -> None:
        """Store CDR bytes of a ``msgtype`` message on ``topic`` at ``timestamp`` (ns)."""
        connection = self._connections.get(topic)
        if connection is None:
            msg_class(msgtype)  # a clear BagError for types the store does not know
            connection = self._writer.add_connection(topic, msgtype, typestore=typestore())
            self._connections[topic] = connection
        elif connection.msgtype != msgtype:
            raise BagError(f"topic {topic} already holds {connection.msgtype}, not {msgtype}")
        self._writer.write(connection, int(timestamp), raw)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def write_msg(self, topic: str, msgtype: str, timestamp: int, msg: Any) -> None:
        """Serialise a rosbags message object and store it."""
        self.write(topic, msgtype, timestamp, serialize(msg, msgtype))

    def close(self) -> None:
        """Finish the bag (index + metadata.yaml) and move it to ``path``; idempotent."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.close()
            if self.path.exists():  # force was checked at construction
                shutil.rmtree(self.path) if self.path.is_dir() else self.path.unlink()
            done = self._bag / f"{self._bag.name}{self.path.suffix}" if self.single_file \
                else self._bag
            done.rename(self.path)
        except (OSError, WriterError) as exc:
            raise BagError(f"{self.path}: the bag could not be finished: {exc}") from exc
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def discard(self) -> None:
        """Drop everything written; ``path`` is left as it was (absent, or the old bag)."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            writer.close()
        except (OSError, WriterError):
            pass  # it is deleted anyway
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()  # also on errors: keep what was written


def written_summary(path: Path, counts: dict[str, int]) -> str:
    """What a command wrote, for printing: the files, then one line per topic and count."""
    files = [path] if path.is_file() else sorted(p for p in path.glob("*") if p.is_file())
    lines = [f"wrote {path}: {', '.join(str(f) for f in files) or 'no files'}"]
    lines += [f"  {topic}: {n} message(s)" for topic, n in sorted(counts.items())]
    return "\n".join(lines)


def _storage_path(path: Path) -> Path:
    """The path rosbags should open: the folder, or its single storage file without metadata."""
    if not path.exists():
        raise BagError(f"{path}: bag not found")
    if path.is_file() or (path / "metadata.yaml").is_file():
        return path
    files = sorted([*path.glob("*.mcap"), *path.glob("*.db3")])
    if len(files) != 1:
        raise BagError(f"{path}: not a rosbag2 bag (no metadata.yaml and {len(files)} "
                       ".mcap/.db3 files)")
    return files[0]


class BagReader:
    """Read a rosbag2 bag; a context manager. ``topics`` maps topic -> type name."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._reader: Reader | None = None
        self._recovered: recovery.McapScan | None = None
        target = _storage_path(self.path)
        try:
            self._reader = Reader(target)
            self._reader.open()
            self.topics = {c.topic: c.msgtype for c in self._reader.connections}
            self.counts = {t: i.msgcount for t, i in self._reader.topics.items()}
        except (ReaderError, OSError, KeyError, ValueError, sqlite3.DatabaseError) as exc:
            self._reader = None
            mcap_file = recovery.find_mcap(target)
            if mcap_file is None:
                raise BagError(f"{self.path}: unreadable bag ({exc}); it is corrupt or not a "
                               "rosbag2 bag") from exc
            self._recovered = recovery.McapScan(mcap_file, reason=str(exc))
            self.topics = self._recovered.topics
            self.counts = self._recovered.counts

    @property
    def truncated(self) -> bool:
        """True for a damaged bag read by recovery (only :attr:`counts` messages survive)."""
        return self._recovered is not None

    def require(self, topic: str, msgtypes: Iterable[str] | None = None) -> str:
        """The type of ``topic``; BagError naming the available topics when it is absent."""
        if topic not in self.topics:
            listing = ", ".join(f"{t} ({m})" for t, m in sorted(self.topics.items())) or "none"
            raise BagError(f"{self.path}: no topic {topic!r}; the bag has: {listing}")
        msgtype = self.topics[topic]
        if msgtypes is not None and msgtype not in tuple(msgtypes):
            raise BagError(f"{self.path}: topic {topic} is {msgtype}, expected one of "
                           f"{', '.join(msgtypes)}")
        return msgtype

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
        """Messages of ``topics`` (default all) in log-time order.

        Raises:
            BagError: after the last readable message of a damaged bag.
        """
        wanted = set(self.topics if topics is None else topics)
        if self._recovered is not None:
            for topic, msgtype, timestamp, raw in self._recovered.messages(wanted):
                yield BagMessage(topic, msgtype, timestamp, raw)
            return
        connections = [c for c in self._reader.connections if c.topic in wanted]
        if not connections:
            return
        count = 0
        try:
            for connection, timestamp, raw in self._reader.messages(connections=connections):
                count += 1
                yield BagMessage(connection.topic, connection.msgtype, timestamp, bytes(raw))
        except (ReaderError, OSError, ValueError, sqlite3.DatabaseError) as exc:
            raise BagError(f"{self.path}: bag is corrupt after {count} message(s): {exc}") from exc

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def image_topics(reader: BagReader, wanted: Sequence[str] | None = None) -> list[str]:
    """Camera topics of the bag: ``wanted`` (checked) or every image topic except ground truth
    and the node's own outputs."""
    if wanted:
        for topic in wanted:
            reader.require(topic, IMAGE_TYPES)
        return list(wanted)
    topics = sorted(t for t, m in reader.topics.items()
                    if m in IMAGE_TYPES and "/ground_truth/" not in t
                    and f"/{NODE_NAME}/" not in t)
    if not topics:
        raise BagError(f"{reader.path}: no image topics (sensor_msgs/Image or CompressedImage) "
                       f"to process; the bag has {sorted(reader.topics) or 'no topics'}")
    return topics
