"""Track ids that persist over a stream: Hungarian assignment on IoU, with class agreement.

Per frame, the live tracks are matched to the frame's instances by
``scipy.optimize.linear_sum_assignment`` on ``1 - IoU`` (mask IoU, or box IoU with
``use_masks=False``), only between equal classes and only where the IoU reaches ``min_iou``.
Where the IoU falls short (a fast move of a thin shaft, a re-entry at the border), a track
can still match by distance (its last box centre within ``reentry_distance`` of the image
diagonal of the instance's, same class; costlier than any IoU match). A track that found
no instance in this frame is *lost*; it can still be matched until it has been lost for
more than ``max_age_frames`` frames or ``max_age_s`` seconds (stamps given): a short
occlusion or a trip out of the view keeps the id. Unmatched instances start new tracks.
Ids count up from 1 and are never reused within a stream; :meth:`Tracker.reset` (with the
temporal memory) forgets the tracks and, unless ``restart_ids``, keeps counting so that an
id never names two instruments.

The state (:class:`TrackerState`) is explicit: one per stream (e.g. per eye or per camera).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.optimize import linear_sum_assignment

from surg_perception.errors import ConfigError
from surg_perception.instruments.instances import Instance


@dataclasses.dataclass(frozen=True)
class TrackerConfig:
    """Association and survival rules (module docstring)."""

    min_iou: float = 0.1
    use_masks: bool = True
    max_age_frames: int = 30
    max_age_s: float | None = None
    reentry_distance: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.min_iou <= 1.0:
            raise ConfigError(f"min_iou must be in (0, 1], got {self.min_iou}")
        if self.max_age_frames < 0 or (self.max_age_s is not None and self.max_age_s < 0):
            raise ConfigError("max_age_frames / max_age_s must be >= 0")


@dataclasses.dataclass(frozen=True, eq=False)
class Track:
    """One track after a frame: its last instance, when it was born and last seen."""

    track_id: int
    class_id: int
    instance: Instance  # the last matched instance
    first_frame: int
    last_frame: int
    last_stamp: float | None
    hits: int

    def missed(self, frame: int) -> int:
        """Frames in a row without a match before ``frame``."""
        return frame - self.last_frame - 1


@dataclasses.dataclass(frozen=True, eq=False)
class TrackedInstance:
    """An instance of this frame with its track: id, age (frames since the track began)."""

    instance: Instance
    track_id: int
    age_frames: int
    hits: int


@dataclasses.dataclass(frozen=True)
class TrackerState:
    """Everything a stream's tracker remembers."""

    tracks: tuple[Track, ...] = ()
    next_id: int = 1
    frame: int = -1


def _box_iou(a: tuple, b: tuple) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


def _mask_iou(a: Instance, b: Instance) -> float:
    x0, y0 = int(max(a.box[0], b.box[0])), int(max(a.box[1], b.box[1]))
    x1, y1 = int(min(a.box[2], b.box[2])), int(min(a.box[3], b.box[3]))
    if x1 <= x0 or y1 <= y0 or a.mask.shape != b.mask.shape:
        return 0.0
    inter = int(np.count_nonzero(a.mask[y0:y1, x0:x1] & b.mask[y0:y1, x0:x1]))
    return inter / (a.area + b.area - inter)


def _centre(box: tuple) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _costs(tracks, instances, frame: int, cfg: TrackerConfig) -> np.ndarray:
    """[T, I] cost: 1 - IoU in [0, 1 - min_iou], lost tracks by distance in (1, 2), else inf."""
    cost = np.full((len(tracks), len(instances)), np.inf)
    for t, track in enumerate(tracks):
        old = track.instance
        diagonal = float(np.hypot(*old.mask.shape))
        for i, inst in enumerate(instances):
            if inst.class_id != track.class_id:
                continue
            iou = _mask_iou(old, inst) if cfg.use_masks else _box_iou(old.box, inst.box)
            if iou >= cfg.min_iou:
                cost[t, i] = 1.0 - iou
            else:
                gap = float(np.linalg.norm(_centre(old.box) - _centre(inst.box))) / diagonal
                if gap <= cfg.reentry_distance:
                    cost[t, i] = 1.0 + gap / max(cfg.reentry_distance, 1e-9) * 0.99
    return cost


def _alive(track: Track, frame: int, stamp: float | None, cfg: TrackerConfig) -> bool:
    if track.missed(frame) > cfg.max_age_frames:
        return False
    return not (cfg.max_age_s is not None and stamp is not None and track.last_stamp is not None
                and stamp - track.last_stamp > cfg.max_age_s)


def track_step(state: TrackerState, instances: list[Instance], stamp: float | None,
               cfg: TrackerConfig) -> tuple[TrackerState, list[TrackedInstance]]:
    """One frame: the new state and this frame's instances with their tracks (same order)."""
    frame = state.frame + 1
    tracks = [t for t in state.tracks if _alive(t, frame, stamp, cfg)]
    cost = _costs(tracks, instances, frame, cfg)
    matched: dict[int, int] = {}
    if cost.size and np.isfinite(cost).any():
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
        matched = {int(c): int(r) for r, c in zip(rows, cols) if np.isfinite(cost[r, c])}
    next_id, out, updated, born = state.next_id, [], {}, []
    for i, inst in enumerate(instances):
        if i in matched:
            old = tracks[matched[i]]
            new = dataclasses.replace(old, instance=inst, last_frame=frame, last_stamp=stamp,
                                      hits=old.hits + 1)
            updated[matched[i]] = new
        else:
            new = Track(next_id, inst.class_id, inst, frame, frame, stamp, 1)
            born.append(new)
            next_id += 1
        out.append(TrackedInstance(inst, new.track_id, frame - new.first_frame, new.hits))
    kept = [updated.get(t, track) for t, track in enumerate(tracks)]
    return TrackerState(tuple(kept + born), next_id, frame), out


class Tracker:
    """The stateful face of :func:`track_step` for one stream."""

    def __init__(self, cfg: TrackerConfig = TrackerConfig()) -> None:
        self.cfg = cfg
        self.state = TrackerState()

    def update(self, instances: list[Instance],
               stamp: float | None = None) -> list[TrackedInstance]:
        """Assign this frame's instances to tracks; ``stamp`` in seconds (for ``max_age_s``)."""
        self.state, out = track_step(self.state, instances, stamp, self.cfg)
        return out

    def reset(self, restart_ids: bool = False) -> None:
        """Forget the tracks (with the temporal memory); ids go on counting unless asked."""
        self.state = TrackerState(next_id=1 if restart_ids else self.state.next_id)

    @property
    def tracks(self) -> tuple[Track, ...]:
        return self.state.tracks
