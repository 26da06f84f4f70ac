"""Stereo input: approximate-time pairing of left and right images, and the rig's geometry.

message_filters is not pip-installable, so :class:`StereoPairer` is a small approximate-time
pairer of our own (rclpy-free, driven by the node's callbacks and a timer): a left image is
released paired with the right image of nearest stamp within ``slop`` (the two must be
each other's nearest, :func:`~surg_perception.instruments.pairing.pair_stamps`), or
released alone (mono, no 3D) once no right image can pair with it any more: a newer right
image is already past its slop window, it has waited ``max_wait_s``, or the right eye
stopped (the previous left image got no right one within its slop, nor anything newer:
mono at once, no added latency; a stamp rule, free of frame rate and arrival order).
Only the newest released frame matters to the worker (a buffer of one); older lefts still
waiting when a newer one is released are dropped and counted by the caller.
"""

from __future__ import annotations

from collections import deque
import dataclasses
from typing import Any

import numpy as np

from surg_perception.errors import ConfigError
from surg_perception.instruments import StereoRig, pair_stamps
from surg_perception.ros.worker import PendingFrame

QUEUE = 8  # images kept per eye while waiting for a partner (a few frame periods)


@dataclasses.dataclass(frozen=True)
class StereoFrame(PendingFrame):
    """A left frame for the worker, with its paired right image (or None: mono)."""

    right: Any = None  # sensor_msgs/Image of the right eye, or None
    skew_s: float = 0.0  # right stamp - left stamp (seconds; 0 when mono)


def stamp_s(msg: Any) -> float:
    stamp = msg.header.stamp
    return stamp.sec + stamp.nanosec * 1e-9


class StereoPairer:
    """Pairs left/right images by stamp (module docstring); not thread-safe (one caller)."""

    def __init__(self, slop_s: float, max_wait_s: float) -> None:
        if slop_s < 0 or max_wait_s < 0:
            raise ConfigError("stereo.slop_s and stereo.max_wait_s must be >= 0")
        self.slop_s, self.max_wait_s = slop_s, max_wait_s
        self._left: deque[tuple[Any, float]] = deque(maxlen=QUEUE)  # (msg, received)
        self._right: deque[Any] = deque(maxlen=QUEUE)
        self._right_stamp = -np.inf  # newest right stamp seen
        self._left_stamps = (-np.inf, -np.inf)  # the two newest left stamps

    @property
    def right_stopped(self) -> bool:
        """The left image before the newest had no right image near it, nor anything later
        (stamps, so the arrival order of the two topics does not matter)."""
        return self._right_stamp < self._left_stamps[0] - self.slop_s

    def put_left(self, msg: Any, received: float) -> None:
        stamp = stamp_s(msg)
        if stamp < self._left_stamps[1]:  # stamps went backwards (a bag loop): start over
            self.clear()
        self._left.append((msg, received))
        self._left_stamps = (self._left_stamps[1], stamp)

    def put_right(self, msg: Any) -> None:
        self._right.append(msg)
        self._right_stamp = max(self._right_stamp, stamp_s(msg))

    def release(self, now: float) -> tuple[list[StereoFrame], int]:
        """Frames ready now (oldest first) and how many waiting lefts were given up on.

        ``now``: the callers' monotonic clock, the one of ``received``.
        """
        if not self._left:
            return [], 0
        lefts = [stamp_s(m) for m, _ in self._left]
        rights = [stamp_s(m) for m in self._right]
        pairs = pair_stamps(lefts, rights, self.slop_s)
        partner = dict(pairs.pairs)
        newest_right = max(rights) if rights else -np.inf
        right_stopped = self.right_stopped  # then the left goes on mono at once
        ready: list[StereoFrame] = []
        keep: list[int] = []
        for i, (msg, received) in enumerate(self._left):
            if i in partner:
                ready.append(StereoFrame(msg, False, received, self._right[partner[i]],
                                         rights[partner[i]] - lefts[i]))
            elif (right_stopped or newest_right > lefts[i] + self.slop_s
                  or now - received >= self.max_wait_s):
                ready.append(StereoFrame(msg, False, received))
            else:
                keep.append(i)
        # A newer frame is out: the older ones still waiting would only be stale later.
        newest = ready[-1].received if ready else -np.inf
        waiting = [i for i in keep if self._left[i][1] >= newest]
        # Rights paired, or too old for every left still waiting or to come, are done.
        floor = min([lefts[i] for i in waiting] + [max(lefts)]) - self.slop_s
        used = set(partner.values())
        self._right = deque((m for j, m in enumerate(self._right)
                             if j not in used and rights[j] >= floor), maxlen=QUEUE)
        self._left = deque((self._left[i] for i in waiting), maxlen=QUEUE)
        return ready, len(keep) - len(waiting)

    def clear(self) -> None:
        self._left.clear()
        self._right.clear()
        self._right_stamp, self._left_stamps = -np.inf, (-np.inf, -np.inf)


def rig_from_infos(left: Any, right: Any) -> StereoRig:
    """The rectified rig of two ``sensor_msgs/CameraInfo`` (their ``p``, the left ``r``).

    Raises:
        ConfigError: not a rectified pair with the right eye on the right.
    """
    r = np.asarray(left.r, np.float64)
    return StereoRig.from_camera_info({"p": np.asarray(left.p, np.float64),
                                       "r": None if not r.any() else r},
                                      {"p": np.asarray(right.p, np.float64)})
