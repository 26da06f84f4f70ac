"""The per-stream instrument step: instances in both eyes, tracks on the left, 3D tips.

:class:`InstrumentPipeline` is what a node or a bag tool holds per camera stream: it runs
:func:`~surg_perception.instruments.instances.extract_instances` on each eye's masks, tracks
the left eye's instances (the published frame is the left image) and, given a
:class:`~surg_perception.instruments.stereo.StereoRig` and the right eye's masks,
triangulates their tips. Mono input keeps working: the 3D tips are then invalid, reason
``mono``. :meth:`InstrumentPipeline.reset` goes with the temporal memory's reset.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from surg_perception.instruments.instances import (
    BoxDetections,
    Instance,
    InstanceConfig,
    extract_instances,
)
from surg_perception.instruments.stereo import StereoConfig, StereoRig, StereoTip, stereo_tips
from surg_perception.instruments.tracking import Tracker, TrackerConfig


@dataclasses.dataclass(frozen=True)
class InstrumentsConfig:
    instances: InstanceConfig = dataclasses.field(default_factory=InstanceConfig)
    tracker: TrackerConfig = dataclasses.field(default_factory=TrackerConfig)
    stereo: StereoConfig = dataclasses.field(default_factory=StereoConfig)


@dataclasses.dataclass(frozen=True, eq=False)
class InstrumentResult:
    """One instrument of one (left) frame, as a controller gets it."""

    instance: Instance
    track_id: int
    age_frames: int
    tip_3d: StereoTip


@dataclasses.dataclass(frozen=True)
class EyeMasks:
    """One eye's segmentation: type ids, optional parts (0/1/2/3), optional detections."""

    types: np.ndarray
    parts: np.ndarray | None = None
    detections: BoxDetections | None = None


class InstrumentPipeline:
    """Instances -> tracks -> 3D tips for one stream (module docstring)."""

    def __init__(self, cfg: InstrumentsConfig = InstrumentsConfig(),
                 rig: StereoRig | None = None) -> None:
        self.cfg, self.rig = cfg, rig
        self.tracker = Tracker(cfg.tracker)

    def step(self, left: EyeMasks, right: EyeMasks | None = None,
             stamp: float | None = None) -> list[InstrumentResult]:
        """One frame (``stamp``: the left image's, seconds)."""
        found = extract_instances(left.types, left.parts, left.detections, self.cfg.instances)
        tracked = self.tracker.update(found, stamp)
        if right is None or self.rig is None:
            tips = [StereoTip(None, False, "mono") for _ in found]
        else:
            others = extract_instances(right.types, right.parts, right.detections,
                                       self.cfg.instances)
            tips = stereo_tips(found, others, self.rig, self.cfg.stereo)
        return [InstrumentResult(t.instance, t.track_id, t.age_frames, tip)
                for t, tip in zip(tracked, tips)]

    def reset(self, restart_ids: bool = False) -> None:
        self.tracker.reset(restart_ids)
