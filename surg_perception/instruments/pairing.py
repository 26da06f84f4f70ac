"""Approximate-time pairing of left and right stamps (the eyes are not hardware-synchronised).

:func:`pair_stamps` pairs each stamp with the nearest one of the other eye when the two are
each other's nearest (mutual nearest neighbours) and differ by at most ``slop`` seconds; a
stamp pairs at most once. This is the one-to-one, order-keeping subset of what ROS's
``ApproximateTimeSynchronizer`` yields for two queues, as a pure function for bags, tests and
the node. The measured skew is ``right - left`` per pair (seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses

import numpy as np

from surg_perception.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class StampPairs:
    """Index pairs into the two stamp lists, their skew, and what stayed unpaired."""

    pairs: tuple[tuple[int, int], ...]
    skew_s: np.ndarray  # [P] right - left
    unpaired_left: tuple[int, ...]
    unpaired_right: tuple[int, ...]

    @property
    def max_abs_skew_s(self) -> float:
        return float(np.abs(self.skew_s).max()) if len(self.skew_s) else 0.0


def _nearest(stamps: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Index of the nearest ``stamps`` entry (sorted) for each query."""
    right = np.clip(np.searchsorted(stamps, queries), 1, len(stamps) - 1)
    left = right - 1
    return np.where(np.abs(queries - stamps[left]) <= np.abs(stamps[right] - queries),
                    left, right)


def pair_stamps(left: Sequence[float], right: Sequence[float], slop: float) -> StampPairs:
    """Pair two stamp lists (seconds, any order) within ``slop`` (module docstring)."""
    if slop < 0:
        raise ConfigError(f"slop must be >= 0 s, got {slop}")
    a, b = np.asarray(left, np.float64), np.asarray(right, np.float64)
    if a.size == 0 or b.size == 0:
        return StampPairs((), np.zeros(0), tuple(range(a.size)), tuple(range(b.size)))
    order_a, order_b = np.argsort(a, kind="stable"), np.argsort(b, kind="stable")
    sa, sb = a[order_a], b[order_b]
    to_b = np.zeros(len(sa), int) if len(sb) == 1 else _nearest(sb, sa)
    to_a = np.zeros(len(sb), int) if len(sa) == 1 else _nearest(sa, sb)
    pairs = [(int(order_a[i]), int(order_b[j])) for i, j in enumerate(to_b)
             if to_a[j] == i and abs(sb[j] - sa[i]) <= slop]
    used_a, used_b = {p[0] for p in pairs}, {p[1] for p in pairs}
    skew = np.array([b[j] - a[i] for i, j in pairs], np.float64)
    return StampPairs(tuple(pairs), skew, tuple(i for i in range(a.size) if i not in used_a),
                      tuple(j for j in range(b.size) if j not in used_b))
