"""The schedule of ``surg-perception replay BAG``: a bag's image topics, timed for DDS.

Messages are published at their recorded rate (``--rate`` scales it), from ``--start``
seconds into the bag, once or forever (``--loop``; stamps repeat, which the node treats
as a new stream). ``--remap old:=new`` renames topics, ``--qos`` picks reliability. By
default the image topics are played except the ground truth ``endovis2bag`` writes (a mask
published to a node is not a camera); ``--ground-truth`` adds every ground-truth topic.
Headers are untouched: the recorded CDR bytes are published as they are. This module plans
the schedule and needs no ROS; the command and its publisher are
:mod:`surg_perception.ros.replay`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from surg_perception.bags import typestore as ts
from surg_perception.bags.storage import BagReader
from surg_perception.errors import BagError

GROUND_TRUTH = "/ground_truth/"  # topics.ground_truth_topics: <camera ns>/ground_truth/<kind>


def parse_remaps(items: Sequence[str]) -> dict[str, str]:
    """``["old:=new", ...]`` -> ``{old: new}``; BagError on a malformed item."""
    remaps = {}
    for item in items:
        old, sep, new = item.partition(":=")
        if not sep or not old or not new:
            raise BagError(f"--remap {item!r}: write it as /old/topic:=/new/topic")
        remaps[old] = new
    return remaps


def select_topics(reader: BagReader, wanted: Sequence[str] | None,
                  ground_truth: bool = False) -> dict[str, str]:
    """Topic -> type to play: ``wanted`` (checked) or every image topic but the ground truth,
    plus every ground-truth topic (any type) when ``ground_truth``."""
    if wanted:
        return {topic: reader.require(topic) for topic in wanted}
    topics = {t: m for t, m in reader.topics.items()
              if (m in ts.IMAGE_TYPES and GROUND_TRUTH not in t)
              or (ground_truth and GROUND_TRUTH in t)}
    if not topics:
        raise BagError(f"{reader.path}: no image topics to replay; pass --topic to choose "
                       f"among {sorted(reader.topics)}")
    return topics


def schedule(path: str | Path, topics: Sequence[str], rate: float = 1.0, start: float = 0.0,
             loop: bool = False,
             remaps: Mapping[str, str] | None = None) -> Iterator[tuple[float, str, bytes]]:
    """``(seconds after playback start, output topic, CDR bytes)`` in recorded order.

    ``start`` skips the first seconds of the bag; a loop restarts one frame period after
    the previous pass ended.
    """
    if rate <= 0:
        raise BagError(f"--rate {rate}: must be positive")
    remaps = remaps or {}
    base = 0.0
    while True:
        first = last = None
        count = 0
        with BagReader(path) as reader:
            for message in reader.messages(topics):
                if first is None:
                    first = message.timestamp + int(start * 1e9)
                if message.timestamp < first:
                    continue
                last = message.timestamp
                count += 1
                offset = base + (message.timestamp - first) / 1e9 / rate
                yield offset, remaps.get(message.topic, message.topic), message.raw
        if not loop or not count:
            return
        span = (last - first) / 1e9 / rate
        base += span + (span / (count - 1) if count > 1 else 0.1)
