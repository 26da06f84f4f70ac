"""Per-frame ground truth of a synthetic sequence: VQLA label lines and 3D/2D tool records.

``synth_gt.jsonl`` holds one JSON object per frame::

    {"frame": t, "activity": <frame activity>, "acting": <folder of the acting tool | null>,
     "camera_centre": [x, y, z] (world = left camera at frame 0, m),
     "instruments": [{"folder", "type_id", "activity", "jaw_opening" (rad),
                      "tip_3d": [x, y, z]   left camera optical frame (x right, y down,
                                            z forward, m),
                      "tip_2d": {"left": [u, v], "right": [u, v]}   written-frame pixels,
                      "tip_in_view": {"left": bool, "right": bool},
                      "visible_pixels": mask pixels in the left ground truth,
                      "shaft_axis": {"point": wrist joint [x, y, z], "direction": unit
                                     vector along the shaft towards the tip,
                                     "line_2d": [a, b, c] with a u + b v + c = 0,
                                     a^2 + b^2 = 1, in the left image}}, ...]}

Pixels are those of the written frames (for 1920x1080 the render's offset (320, 28) is
included), so projecting ``tip_3d`` with the manifest's camera ``p`` matrices gives ``tip_2d``.
"""

from __future__ import annotations

import numpy as np

from surg_perception.data.synth_camera import Z_NEAR, Camera
from surg_perception.data.synth_geometry import ToolGeometry
from surg_perception.data.synth_plan import Plan


def _r(values, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values]


def _shaft(geom: ToolGeometry, cam: Camera, centre: np.ndarray, offset) -> dict:
    wrist = cam.to_eye(geom.wrist, centre)
    p1 = cam.project(wrist) + offset
    p2 = cam.project(cam.to_eye(geom.wrist - geom.axis * 0.03, centre)) + offset
    normal = np.array([p1[1] - p2[1], p2[0] - p1[0]])
    normal /= np.linalg.norm(normal)
    return {"point": _r(wrist, 8), "direction": _r(geom.axis, 8),
            "line_2d": _r([normal[0], normal[1], -float(normal @ p1)], 9)}


def frame_record(plan: Plan, t: int, geoms: list[ToolGeometry], masks: list[np.ndarray],
                 cams: list[Camera], offset: tuple[int, int]) -> dict:
    """The ``synth_gt.jsonl`` object of frame ``t`` (``cams``: left and right eye)."""
    frame = plan.frames[t]
    tools = []
    for k, (inst, geom, mask) in enumerate(zip(plan.instruments, geoms, masks)):
        tip_2d, in_view = {}, {}
        for eye, cam in zip(("left", "right"), cams):
            point = cam.to_eye(geom.tip, frame.centre)
            px = cam.project(point)
            tip_2d[eye] = _r(px + offset, 6)
            in_view[eye] = bool(point[2] > Z_NEAR and cam.inside(px))
        tools.append({"folder": inst.folder, "type_id": inst.type_id,
                      "activity": frame.activity if frame.actor == k else "Idle",
                      "jaw_opening": round(float(frame.tools[k].opening), 6),
                      "tip_3d": _r(cams[0].to_eye(geom.tip, frame.centre), 9),
                      "tip_2d": tip_2d, "tip_in_view": in_view,
                      "visible_pixels": int(np.count_nonzero(mask)),
                      "shaft_axis": _shaft(geom, cams[0], frame.centre, offset)})
    acting = None if frame.actor is None else plan.instruments[frame.actor].folder
    return {"frame": t, "activity": frame.activity, "acting": acting,
            "camera_centre": _r(frame.centre, 9), "instruments": tools}


def vqla_lines(plan: Plan, t: int, masks: list[np.ndarray]) -> str:
    """VQLA label file of frame ``t``: a state and a location line per instrument.

    Only the acting instrument (if any) answers a non-Idle state, so the loader's rule
    (first non-Idle activity in file order) yields the frame's activity. Boxes follow the
    released VQLA files (data/activity.py): 1-based, inclusive, in the 1280x1024 render's
    pixels (no raw-layout offset).
    """
    frame = plan.frames[t]
    lines = []
    for k, (inst, mask) in enumerate(zip(plan.instruments, masks)):
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box, where = "0,0,0,0", "out-of-view"
        if rows.size:
            box = f"{cols[0] + 1},{rows[0] + 1},{cols[-1] + 1},{rows[-1] + 1}"
            vertical = "top" if rows.mean() < mask.shape[0] / 2 else "bottom"
            where = f"{'left' if cols.mean() < mask.shape[1] / 2 else 'right'}-{vertical}"
        activity = frame.activity if frame.actor == k else "Idle"
        lines.append(f"What is the state of {inst.vqla_name}?|{activity}|{box}")
        lines.append(f"Where is {inst.vqla_name} located?|{where}|{box}")
    return "\n".join(lines) + "\n"
