"""Instruments for robot controllers: instances, tips, tracks and stereo (no ROS, no torch).

``instances`` turns a type mask (+ part mask, + detections) into one :class:`Instance` per
instrument (mask, class, score, box, shaft axis, 2D tip, jaw opening); ``tracking`` gives
them ids that persist over a stream; ``stereo`` matches them across the eyes of a rectified
pair and triangulates their tips; ``pairing`` pairs left/right stamps by approximate time.
"""

from surg_perception.instruments.frame import (
                                               EyeMasks,
                                               InstrumentPipeline,
                                               InstrumentResult,
                                               InstrumentsConfig,
)
from surg_perception.instruments.instances import (
                                               BoxDetections,
                                               Instance,
                                               InstanceConfig,
                                               extract_instances,
)
from surg_perception.instruments.pairing import StampPairs, pair_stamps
from surg_perception.instruments.shaft import ShaftAxis
from surg_perception.instruments.stereo import (
                                               StereoConfig,
                                               StereoRig,
                                               StereoTip,
                                               match_instances,
                                               stereo_tips,
                                               triangulate,
)
from surg_perception.instruments.tracking import (
                                               TrackedInstance,
                                               Tracker,
                                               TrackerConfig,
                                               TrackerState,
                                               track_step,
)

__all__ = ["BoxDetections", "EyeMasks", "Instance", "InstanceConfig", "InstrumentPipeline",
           "InstrumentResult", "InstrumentsConfig", "ShaftAxis", "StampPairs",
           "StereoConfig", "StereoRig", "StereoTip", "TrackedInstance", "Tracker",
           "TrackerConfig", "TrackerState", "extract_instances", "match_instances",
           "pair_stamps", "stereo_tips", "track_step", "triangulate"]
