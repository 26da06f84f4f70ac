"""Pure builders of the instrument outputs: InstrumentArray, RViz markers, the watchdog.

Every message carries the LEFT image header unchanged (stamp and frame_id: the left camera
optical frame of the tips). Values a controller must not use are flagged, never dropped
silently: ``tip_3d_valid`` + ``tip_3d_reason``, ``jaw_opening_valid``, and ``stale`` set by
:func:`mark_stale` just before publishing (the live node; offline results are never stale).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
import numpy as np
from std_msgs.msg import ColorRGBA
from vision_msgs.msg import BoundingBox2D, Point2D
from visualization_msgs.msg import Marker, MarkerArray

from surg_perception.instruments import InstrumentResult, StereoRig
from surg_perception.msg import Instrument, InstrumentArray

TIP_DIAMETER_M = 0.004
SHAFT_LENGTH_M = 0.03  # drawn length of the shaft line from the tip (an RViz aid)
MARKER_LIFETIME = Duration(sec=0, nanosec=500_000_000)  # old markers vanish on their own


def instrument_msg(result: InstrumentResult, class_names: Sequence[str],
                   age_s: float) -> Instrument:
    inst, tip = result.instance, result.tip_3d
    x0, y0, x1, y1 = (float(v) for v in inst.box)
    box = BoundingBox2D(size_x=x1 - x0, size_y=y1 - y0)
    box.center.position.x, box.center.position.y = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    cid = int(inst.class_id)
    msg = Instrument(
        track_id=int(result.track_id), track_age_frames=int(result.age_frames),
        track_age_s=float(age_s), class_id=cid,
        class_name=class_names[cid] if 0 <= cid < len(class_names) else str(cid),
        score=float(inst.score), box=box, mask_area=int(inst.area),
        tip_2d=Point2D(x=float(inst.tip_2d[0]), y=float(inst.tip_2d[1])),
        tip_3d_valid=bool(tip.valid), tip_3d_reason=str(tip.reason),
        shaft_point=Point2D(x=float(inst.shaft_axis.point[0]),
                            y=float(inst.shaft_axis.point[1])),
        shaft_direction=Point2D(x=float(inst.shaft_axis.direction[0]),
                                y=float(inst.shaft_axis.direction[1])),
        jaw_opening_valid=inst.jaw_opening is not None,
        jaw_opening=float(inst.jaw_opening or 0.0))
    if tip.valid and tip.point is not None:
        msg.tip_3d = Point(x=float(tip.point[0]), y=float(tip.point[1]), z=float(tip.point[2]))
    return msg


def instruments_msg(header: Any, results: Sequence[InstrumentResult],
                    class_names: Sequence[str], age_s: Callable[[int], float],
                    stereo: bool, skew_s: float = 0.0) -> InstrumentArray:
    """One frame's array; ``age_s(track_id)``: seconds since the track was first seen."""
    return InstrumentArray(
        header=header, stereo=bool(stereo), stereo_skew_s=float(skew_s) if stereo else 0.0,
        instruments=[instrument_msg(r, class_names, age_s(r.track_id)) for r in results])


def mark_stale(msg: InstrumentArray, age_s: float, stale_after_s: float) -> InstrumentArray:
    """The watchdog: flag the array and each instrument when the image is too old."""
    stale = stale_after_s > 0 and age_s > stale_after_s
    msg.age_s, msg.stale = float(age_s), bool(stale)
    for inst in msg.instruments:
        inst.stale = bool(stale)
    return msg


def _colour(class_id: int) -> ColorRGBA:
    r, g, b = np.random.default_rng(class_id).uniform(0.3, 1.0, 3).tolist()
    return ColorRGBA(r=r, g=g, b=b, a=1.0)


def _shaft_end(tip: np.ndarray, direction: tuple[float, float], rig: StereoRig) -> Point:
    """A point SHAFT_LENGTH_M back along the shaft, taken parallel to the image plane at
    the tip's depth: the 2D axis has no depth slope (a drawing aid, not a measurement)."""
    fx, fy = rig.p_left[0, 0], rig.p_left[1, 1]
    d = np.array([direction[0] / fx, direction[1] / fy, 0.0])
    end = tip - SHAFT_LENGTH_M * d / max(np.linalg.norm(d), 1e-12)
    return Point(x=float(end[0]), y=float(end[1]), z=float(end[2]))


def markers_msg(header: Any, results: Sequence[InstrumentResult],
                rig: StereoRig | None) -> MarkerArray:
    """A DELETEALL, then a tip sphere and a shaft line per VALID 3D tip (others skipped)."""
    markers = [Marker(header=header, action=Marker.DELETEALL)]
    for r in results:
        if not r.tip_3d.valid or r.tip_3d.point is None or rig is None:
            continue
        tip = np.asarray(r.tip_3d.point, np.float64)
        base = {"header": header, "id": int(r.track_id), "action": Marker.ADD,
                "color": _colour(int(r.instance.class_id)), "lifetime": MARKER_LIFETIME}
        sphere = Marker(ns="tips", type=Marker.SPHERE, **base)
        sphere.pose.position = Point(x=float(tip[0]), y=float(tip[1]), z=float(tip[2]))
        sphere.pose.orientation.w = 1.0
        sphere.scale.x = sphere.scale.y = sphere.scale.z = TIP_DIAMETER_M
        shaft = Marker(ns="shafts", type=Marker.LINE_STRIP, **base)
        shaft.pose.orientation.w = 1.0
        shaft.scale.x = TIP_DIAMETER_M / 2
        shaft.points = [sphere.pose.position, _shaft_end(tip, r.instance.shaft_axis.direction,
                                                         rig)]
        markers += [sphere, shaft]
    return MarkerArray(markers=markers)
