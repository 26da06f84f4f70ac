"""Rendering of synthetic surgical scenes: tissue texture, instruments and their motion.

Pure numpy/OpenCV functions driven by a ``numpy.random.Generator``, used by ``synth.py``.
An instrument is a shaft entering from the image border, a wrist and two jaws; its pose
(insertion depth along the shaft axis, axis angle, jaw opening) follows a motion plan of
phases, each phase labelled with the activity its motion shows:

- ``Idle``: nothing moves (identical pose, hence identical mask, frame to frame);
- ``Grasping``: the jaws close while the tool creeps forward;
- ``Retraction``: the tool is pulled back towards its entry border;
- ``Tissue_Manipulation``: the tool pushes in, swings sideways and opens its jaws.

Successive phases always differ, so two consecutive ``Idle`` frames share one phase.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

SHIFT = 4  # fillPoly fixed-point bits: sub-pixel vertices give smooth motion
PHASE_FRAMES = (3, 8)  # phase length range (inclusive)


@dataclasses.dataclass(frozen=True)
class ToolStyle:
    """Look of one instrument type; lengths are fractions of the shorter image side."""

    shaft_width: float
    wrist_length: float
    jaw_length: float
    jaw_width: float  # fraction of the shaft width
    max_opening: float  # radians, full angle between the jaws
    shaft_rgb: tuple[int, int, int]
    jaw_rgb: tuple[int, int, int]


TOOL_STYLES: dict[int, ToolStyle] = {  # EndoVis17 type id -> look
    1: ToolStyle(0.055, 0.05, 0.126, 0.35, 0.7, (40, 40, 45), (170, 170, 175)),
    2: ToolStyle(0.065, 0.06, 0.154, 0.45, 0.8, (30, 30, 35), (190, 190, 200)),
    3: ToolStyle(0.060, 0.05, 0.098, 0.55, 0.4, (35, 35, 40), (150, 150, 160)),
    4: ToolStyle(0.080, 0.07, 0.168, 0.60, 0.5, (60, 60, 70), (120, 120, 130)),
    5: ToolStyle(0.070, 0.04, 0.196, 0.40, 0.9, (80, 80, 90), (200, 200, 205)),
    6: ToolStyle(0.060, 0.06, 0.14, 0.30, 0.6, (25, 25, 30), (210, 200, 150)),
    7: ToolStyle(0.090, 0.05, 0.084, 0.70, 0.3, (200, 200, 210), (220, 220, 225)),
}


@dataclasses.dataclass(frozen=True)
class ToolPose:
    """Entry point (x, y) on the border, axis angle, insertion depth (px), jaw opening (rad)."""

    entry: tuple[float, float]
    angle: float
    depth: float
    opening: float


# ------------------------------------------------------------------------------ tissue
def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Value noise in [0, 1] with features about ``cell`` pixels wide, float32 [H, W]."""
    coarse = rng.random((height // cell + 2, width // cell + 2), dtype=np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def tissue_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Pinkish-red tissue with fatty patches and specular spots, float32 [H, W, 3] RGB 0..255."""
    side = min(height, width)
    base = sum(w * _smooth_noise(rng, height, width, max(2, int(side * c)))
               for w, c in ((0.55, 0.25), (0.3, 0.08), (0.15, 0.025)))
    dark, pink = np.array([110, 25, 35], np.float32), np.array([235, 125, 125], np.float32)
    image = dark + (pink - dark) * base[:, :, None]
    fat = np.clip((_smooth_noise(rng, height, width, max(2, side // 5)) - 0.68) * 4, 0, 1)
    image += (np.array([225, 190, 120], np.float32) - image) * fat[:, :, None]
    spots = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(4, 10))):
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (max(1, int(side * rng.uniform(0.005, 0.02))),) * 2
        cv2.ellipse(spots, center, axes, 0, 0, 360, 1.0, -1)
    spots = cv2.GaussianBlur(spots, (0, 0), max(0.8, side * 0.004))
    return np.clip(image + 255 * spots[:, :, None], 0, 255)


def vignette(height: int, width: int, strength: float = 0.55) -> np.ndarray:
    """Radial darkening factor float32 [H, W, 1], 1 at the centre."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((x - width / 2) / (width / 2)) ** 2 + ((y - height / 2) / (height / 2)) ** 2
    return (1 - strength * r2 / 2)[:, :, None]


# ------------------------------------------------------------------------------ motion
def _ease(t: float) -> float:
    return t * t * (3 - 2 * t)


def _next_activity(state: dict[str, float], limits: dict[str, float], current: str,
                   rng: np.random.Generator) -> str:
    valid = ["Idle"]
    if state["opening"] > 0.4 * limits["max_opening"]:
        valid.append("Grasping")
    if state["depth"] > limits["min_depth"] * 1.3:
        valid.append("Retraction")
    if state["depth"] < limits["max_depth"] * 0.85:
        valid.append("Tissue_Manipulation")
    choices = [a for a in valid if a != current] or ["Idle"]
    return str(rng.choice(choices))


def _phase_target(activity: str, state: dict[str, float], limits: dict[str, float],
                  rng: np.random.Generator) -> dict[str, float]:
    span = limits["max_depth"] - limits["min_depth"]
    target = dict(state)
    if activity == "Grasping":
        target.update(opening=0.0, depth=min(limits["max_depth"], state["depth"] + 0.05 * span))
    elif activity == "Retraction":
        target["depth"] = max(limits["min_depth"], state["depth"] - rng.uniform(0.3, 0.6) * span)
    elif activity == "Tissue_Manipulation":
        deeper = state["depth"] + rng.uniform(0.2, 0.5) * span
        target.update(depth=min(limits["max_depth"], deeper),
                      opening=limits["max_opening"], swing=rng.uniform(-0.25, 0.25))
    return target


def plan_motion(rng: np.random.Generator, frames: int, entry: tuple[float, float],
                angle: float, reach: float, style: ToolStyle) -> tuple[list[ToolPose], list[str]]:
    """Poses and activity names of one instrument for ``frames`` frames.

    ``reach`` is the distance from the entry point to the scene's target point; the
    insertion depth stays within [0.3, 0.85] of it so the tool stays in view.
    """
    limits = {"min_depth": 0.3 * reach, "max_depth": 0.85 * reach,
              "max_opening": style.max_opening}
    state = {"depth": rng.uniform(0.45, 0.7) * reach, "swing": 0.0,
             "opening": rng.uniform(0.3, 1.0) * style.max_opening}
    poses, activities, activity = [], [], ""
    while len(poses) < frames:
        activity = _next_activity(state, limits, activity, rng)
        target = _phase_target(activity, state, limits, rng)
        length = int(rng.integers(PHASE_FRAMES[0], PHASE_FRAMES[1] + 1))
        for i in range(length):
            t = _ease((i + 1) / length)
            now = {k: state[k] + (target[k] - state[k]) * t for k in state}
            poses.append(ToolPose(entry, angle + now["swing"], now["depth"], now["opening"]))
            activities.append(activity)
        state = target
    return poses[:frames], activities[:frames]


# ------------------------------------------------------------------------------ drawing
def _bar(start: np.ndarray, direction: np.ndarray, length: float, w0: float, w1: float
         ) -> np.ndarray:
    """Quadrilateral from ``start`` along unit ``direction``: width w0 at start, w1 at end."""
    normal = np.array([-direction[1], direction[0]])
    end = start + direction * length
    return np.stack([start + normal * w0 / 2, end + normal * w1 / 2,
                     end - normal * w1 / 2, start - normal * w0 / 2])


def tool_parts(pose: ToolPose, style: ToolStyle, side: float) -> list[tuple[int, list]]:
    """(part value, polygons float [K, 2]) for shaft 10, wrist 20 and jaws 30, in draw order."""
    u = np.array([math.cos(pose.angle), math.sin(pose.angle)])
    width = style.shaft_width * side
    entry = np.asarray(pose.entry) - u * 2 * width  # start outside: enters across the border
    shaft = _bar(entry, u, pose.depth + 2 * width, width, width)
    wrist_start = np.asarray(pose.entry) + u * pose.depth
    wrist = _bar(wrist_start, u, style.wrist_length * side, width * 0.9, width * 0.75)
    hinge = wrist_start + u * style.wrist_length * side
    jaws = []
    for sign in (-1.0, 1.0):
        a = pose.angle + sign * pose.opening / 2
        d = np.array([math.cos(a), math.sin(a)])
        jaw_w = style.jaw_width * width
        jaws.append(_bar(hinge - d * jaw_w / 2, d, style.jaw_length * side, jaw_w, jaw_w * 0.4))
    return [(10, [shaft]), (20, [wrist]), (30, jaws)]


def draw_tool(image: np.ndarray, pose: ToolPose, style: ToolStyle) -> np.ndarray:
    """Paint one instrument onto ``image`` (float RGB, in place); return its part mask uint8."""
    height, width = image.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    for value, polygons in tool_parts(pose, style, min(height, width)):
        points = [np.round(p * (1 << SHIFT)).astype(np.int32) for p in polygons]
        cv2.fillPoly(mask, points, int(value), lineType=cv2.LINE_8, shift=SHIFT)
    colours = {10: style.shaft_rgb, 20: tuple(c // 2 for c in style.shaft_rgb),
               30: style.jaw_rgb}
    for value, colour in colours.items():
        image[mask == value] = colour
    # A soft highlight along the shaft axis makes the metal read as a cylinder.
    glow = np.zeros((height, width), np.float32)
    u = np.array([math.cos(pose.angle), math.sin(pose.angle)])
    a = np.asarray(pose.entry) - u * 2 * style.shaft_width * min(height, width)
    b = np.asarray(pose.entry) + u * pose.depth
    thickness = max(1, int(style.shaft_width * min(height, width) / 4))
    cv2.line(glow, tuple(int(v) for v in a), tuple(int(v) for v in b), 1.0, thickness)
    image += (90 * glow * (mask == 10))[:, :, None]
    return mask
