"""Articulated instrument poses -> 3D primitives (world frame, metres).

A pose (:class:`ToolState`) is what the motion planner moves: the tool-tip point, the wrist
bend (pitch, yaw of the jaw axis against the shaft axis), the roll of the jaw pivot and the
jaw opening. The shaft passes through the instrument's remote centre (its trocar, outside the
view), so the shaft axis follows from the tip: a pose is always a reachable, rigid tool.

Primitives: :class:`Cylinder` (shaft with ring bands, wrist, suction tube; axis samples with a
radius each and a colour per segment) and :class:`Plate` (a jaw: cross-sections along its
axis, sideways direction ``side`` = the pivot axis, thickness direction ``up``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from surg_perception.data.synth_tools import MM, ToolSpec, jaw_slices, jaw_windows

_JOINT_RGB = (0.05, 0.05, 0.06)
_SHAFT_SHOWN = 0.16  # metres of shaft modelled behind the wrist (it leaves the view first)


@dataclasses.dataclass(frozen=True)
class ToolState:
    """Pose of one instrument: tip (world, m), wrist bend (rad), roll (rad), opening (rad)."""

    tip: tuple[float, float, float]
    bend: tuple[float, float] = (0.0, 0.0)
    roll: float = 0.7
    opening: float = 0.0


@dataclasses.dataclass(frozen=True)
class Cylinder:
    part: int
    points: np.ndarray  # [S + 1, 3] axis samples
    radii: np.ndarray  # [S + 1]
    colours: np.ndarray  # [S, 3] albedo per segment, 0..1
    gloss: float


@dataclasses.dataclass(frozen=True)
class Plate:
    part: int
    centres: np.ndarray  # [S, 3] cross-section centres
    side: np.ndarray  # [3] width direction (pivot axis)
    up: np.ndarray  # [3] thickness direction, away from the other jaw
    half_width: np.ndarray  # [S]
    half_thick: np.ndarray  # [S]
    rgb: tuple[float, float, float]
    gloss: float
    windows: list[np.ndarray]  # [K, 3] outlines on the face
    stripe: np.ndarray | None  # [K, 3] painted insert outline on the face
    stripe_rgb: tuple[float, float, float] | None


@dataclasses.dataclass(frozen=True)
class ToolGeometry:
    """Primitives plus the key points written as ground truth."""

    primitives: list
    tip: np.ndarray  # tool-tip point: midway between the jaw tips, or the tube's end
    wrist: np.ndarray  # wrist joint = end of the shaft
    axis: np.ndarray  # unit shaft direction, towards the tip


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    q1 = _unit(np.cross(axis, helper))
    return q1, np.cross(axis, q1)


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation of ``v`` about unit ``axis``."""
    return (v * np.cos(angle) + np.cross(axis, v) * np.sin(angle)
            + axis * np.dot(axis, v) * (1 - np.cos(angle)))


def _shaft(spec: ToolSpec, wrist: np.ndarray, axis: np.ndarray) -> Cylinder:
    """Shaft from far behind the wrist to the wrist joint, split at the band edges."""
    cuts = {0.0, _SHAFT_SHOWN, 0.04, 0.08}
    for start, length, _ in spec.bands:
        cuts |= {start, start + length}
    dist = np.array(sorted(cuts, reverse=True))  # distance behind the wrist, far -> near
    colours = []
    for far, near in zip(dist[:-1], dist[1:]):
        mid = (far + near) / 2
        band = [rgb for s, n, rgb in spec.bands if s <= mid <= s + n]
        colours.append(band[0] if band else spec.shaft_rgb)
    points = wrist - axis * dist[:, None]
    return Cylinder(10, points, np.full(len(dist), spec.shaft_radius), np.array(colours),
                    spec.shaft_gloss)


def _tube_tip(spec: ToolSpec, tip: np.ndarray, axis: np.ndarray) -> Cylinder:
    """Suction tube end: darker tip with two holes (dark rings) and a rounded end."""
    r = spec.shaft_radius
    ang = np.linspace(0.0, np.pi / 2, 9)[1:]
    dist = np.concatenate([[spec.tip_length, 0.7 * spec.tip_length, 0.6 * spec.tip_length,
                            0.4 * spec.tip_length, 0.3 * spec.tip_length, r],
                           r * (1 - np.sin(ang))])  # a hemisphere closes the end
    radii = np.concatenate([np.full(6, r), r * np.maximum(np.cos(ang), 0.2)])
    hole = (0.08, 0.08, 0.09)
    colours = [spec.tip_rgb, hole, spec.tip_rgb, hole] + [spec.tip_rgb] * (len(dist) - 5)
    return Cylinder(30, tip - axis * dist[:, None], radii, np.array(colours), 1.0)


def _jaws(spec: ToolSpec, pivot: np.ndarray, direction: np.ndarray, side: np.ndarray,
          opening: float) -> list[Plate]:
    jaw = spec.jaw
    u, centre, half, thick = jaw_slices(jaw)
    plates = []
    for sign in (1.0, -1.0):
        d = _rotate(direction, side, sign * opening / 2)  # each jaw swings away from the other
        up = sign * _unit(np.cross(side, d))
        # Closed jaws stack along their thickness: this jaw's centre line is offset by it.
        centres = (pivot + d * u[:, None] + side * centre[:, None] + up * thick[:, None])

        def face(outline: np.ndarray, d=d, up=up) -> np.ndarray:
            v_off = jaw.curve * jaw.length * (outline[:, 0] / jaw.length) ** 2
            t = np.interp(outline[:, 0], u, thick)
            return (pivot + d * outline[:, :1] + side * (outline[:, 1:] + v_off[:, None])
                    + up * t[:, None])

        stripe = None
        if jaw.stripe_rgb is not None:
            su = np.linspace(0.1 * jaw.length, 0.9 * jaw.length, 6)
            sw = 0.22 * np.interp(su, u, half)
            stripe = face(np.concatenate([np.stack([su, sw], 1), np.stack([su, -sw], 1)[::-1]]))
        plates.append(Plate(30, centres, side, up, half, thick, jaw.rgb, jaw.gloss,
                            [face(w) for w in jaw_windows(jaw)], stripe, jaw.stripe_rgb))
    return plates


def build_tool(spec: ToolSpec, state: ToolState, remote: np.ndarray) -> ToolGeometry:
    """3D primitives of the instrument ``spec`` in ``state``; ``remote`` is its trocar point."""
    tip = np.asarray(state.tip, float)
    a0 = _unit(tip - remote)
    if spec.jaw is None:  # rigid tube: no wrist, the tip is the rounded end
        shaft = _shaft(spec, tip - a0 * spec.tip_length, a0)
        return ToolGeometry([shaft, _tube_tip(spec, tip, a0)], tip,
                            tip - a0 * spec.tip_length, a0)
    q1, q2 = _basis(a0)
    b = _unit(a0 + np.tan(state.bend[0]) * q1 + np.tan(state.bend[1]) * q2)
    # Roll is measured against the view from the world origin: 0 shows the jaw faces,
    # pi/2 their profile (opening in the image plane).
    r1 = np.cross(b, _unit(tip))
    r1 = _unit(r1) if np.linalg.norm(r1) > 1e-6 else q1
    side = _unit(np.cos(state.roll) * r1 + np.sin(state.roll) * np.cross(b, r1))
    pivot = tip - b * spec.jaw.length * np.cos(state.opening / 2)
    wrist = pivot - b * spec.wrist_length
    axis = _unit(wrist - remote)
    gap = min(1.2 * MM, 0.15 * spec.wrist_length)
    wrist_cyl = Cylinder(20, np.stack([wrist + b * 0.3 * gap, wrist + b * gap, pivot]),
                         np.array([spec.wrist_radius * 0.9, spec.wrist_radius,
                                   spec.wrist_radius * 0.85]),
                         np.array([_JOINT_RGB, spec.wrist_rgb]), 0.8)
    # The joint itself: a dark knuckle along the bisector closes the gap a bend opens.
    bisector = _unit(axis + b)
    knuckle = Cylinder(20, np.stack([wrist - bisector * 0.45 * spec.shaft_radius,
                                     wrist + bisector * 0.45 * spec.shaft_radius]),
                       np.full(2, 0.97 * spec.shaft_radius), np.array([_JOINT_RGB]), 0.5)
    jaws = _jaws(spec, pivot, b, side, state.opening)
    # The tool-tip point: midway between the jaw tips (curved jaws bend it off the axis).
    tip_point = (jaws[0].centres[-1] + jaws[1].centres[-1]) / 2
    return ToolGeometry([_shaft(spec, wrist, axis), knuckle, wrist_cyl, *jaws], tip_point,
                        wrist, axis)
