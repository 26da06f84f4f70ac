"""Sequence plans: the scene, its instruments, and what happens in every frame.

A plan depends only on (seed, sequence index, frames, max_instruments), never on the output
size or the number of sequences. Instrument types: sequence k's first type is entry
``(k - 1) % 7`` of a seed-wide permutation of the seven types, so any 7 consecutive sequences
show every type; the others (distinct types) are those used least so far, so types occur
about equally often; the jawless "Other" tube never works alone while a second instrument
is allowed.

Phases of 6-16 frames follow one another. Each phase either lets ONE instrument perform one
activity (:mod:`synth_motion`) while every other instrument keeps still, or is ``Idle``: all
instruments still, with the endoscope either still or panning/zooming (sometimes away from
every instrument, which gives frames without any). The planner picks the feasible activity
used least so far in the sequence, counted against a weight that makes up for activities only
some instruments can perform, so activities come out roughly balanced over a dataset.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from surg_perception.data import synth_motion as motion
from surg_perception.data.synth_camera import make_camera
from surg_perception.data.synth_effects import Mark, Pool, Smoke, bleeding
from surg_perception.data.synth_geometry import ToolState
from surg_perception.data.synth_path import camera_path
from surg_perception.data.synth_tissue import PALETTES, Plane, make_plane
from surg_perception.data.synth_tools import CUTTERS, ENERGY, GRASPERS, SPECS, SUCTION, TOOL_NAMES

PHASE_FRAMES = (6, 16)
SURVEY_AFTER = 16  # no look-away camera move before this frame
MIN_TISSUE_DISTANCE = 0.05  # metres between the lens and the tissue plane
WEIGHTS = {"Idle": 1.0, "Grasping": 1.0, "Retraction": 1.0, "Tissue_Manipulation": 1.0,
           "Cutting": 3.0, "Cauterization": 1.4, "Suction": 3.4}
_SIDES = (np.pi, 0.0, np.pi / 2, -np.pi / 2)  # shaft comes in from the left/right/bottom/top
_SIDE_P = (0.3, 0.3, 0.3, 0.1)
CAM = make_camera(1280, 1024)


@dataclasses.dataclass(frozen=True)
class Instrument:
    type_id: int
    folder: str
    vqla_name: str
    remote: np.ndarray  # trocar point (world, m)


@dataclasses.dataclass(frozen=True)
class Frame:
    centre: np.ndarray  # endoscope (left eye) position in the world
    tools: tuple[ToolState, ...]
    pulls: tuple[motion.Pull, ...]
    activity: str
    actor: int | None  # index of the acting instrument


@dataclasses.dataclass(frozen=True, eq=False)  # compared and hashed by identity
class Plan:
    plane: Plane
    palette: int
    gain: float
    instruments: tuple[Instrument, ...]
    frames: tuple[Frame, ...]
    pools: tuple[Pool, ...]
    marks: tuple[Mark, ...]
    smokes: tuple[Smoke, ...]


def stream(seed: int, index: int, purpose: int) -> np.random.Generator:
    """Independent random stream of sequence ``index`` (0: dataset-wide) for ``purpose``."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, purpose]))


def sequence_types(seed: int, index: int, max_instruments: int) -> list[int]:
    """Instrument types of sequence ``index`` (1-based), deterministic from the seed.

    The first type cycles through a seed-wide permutation; the others are the types used
    least in sequences 1..index-1 (replayed, so sequence k never depends on later ones),
    ties broken at random: every type occurs about equally often.
    """
    order = stream(seed, 0, 0).permutation(len(SPECS)) + 1
    used = dict.fromkeys(SPECS, 0)
    for k in range(1, index + 1):
        rng = stream(seed, k, 4)
        count = int(rng.integers(1, max_instruments + 1))
        first = int(order[(k - 1) % len(order)])
        if first in SUCTION and count == 1 and max_instruments > 1:
            count = 2
        ties = rng.random(len(SPECS))
        others = sorted((t for t in SPECS if t != first),
                        key=lambda t: (used[t], ties[t - 1]))  # noqa: B023 (used at once)
        types = [first, *others[:count - 1]]
        for t in types:
            used[t] += 1
    return types


def _place(rng: np.random.Generator, plane: Plane, type_id: int, side: float,
           cross: tuple[float, float] | None) -> motion.Actor:
    """An instrument entering from ``side`` (image angle); its tip near the centre, or just
    beyond the point ``cross`` (u, v) so that its shaft crosses another instrument."""
    theta = side + rng.normal(0, 0.25)
    if cross is None:
        u = 0.5 + 0.1 * np.cos(theta) + rng.normal(0, 0.07)
        v = 0.5 + 0.1 * np.sin(theta) + rng.normal(0, 0.07)
    else:
        u, v = np.asarray(cross) - 0.1 * np.array([np.cos(theta), np.sin(theta)])
    u, v = np.clip(u, 0.25, 0.75), np.clip(v, 0.25, 0.75)
    q = plane.intersect(np.zeros(3), CAM.ray(u, v))
    tip = q + plane.normal * rng.uniform(0.004, 0.012)
    remote = q + np.array([np.cos(theta), np.sin(theta), 0.0]) * rng.uniform(0.10, 0.14)
    remote[2] = rng.uniform(0.0, 0.025)
    spec = SPECS[type_id]
    top = spec.jaw.max_opening if spec.jaw else 0.0
    state = ToolState(tuple(tip), (rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)),
                      float(rng.choice([-1, 1]) * rng.uniform(0.5, 1.05)),
                      rng.uniform(0.2, 0.7) * top)
    return motion.Actor(spec, type_id, remote, state)


def _uv(actor: motion.Actor) -> tuple[float, float]:
    """Where the middle of the first few centimetres of ``actor``'s shaft appears (u, v)."""
    tip = np.asarray(actor.state.tip)
    mid = tip + (actor.remote - tip) / np.linalg.norm(actor.remote - tip) * 0.03
    px = CAM.project(CAM.to_eye(mid, np.zeros(3)))
    return tuple((px + 0.5) / (CAM.width, CAM.height))


# Ground-truth folder names in the spellings of the real EndoVis 2017 release
# (endovis17_names.RELEASED_FOLDERS): a model prefix, the side as prefix or suffix, names
# without `_labels`, so every loader test on synthetic data meets them.
_FOLDERS = {1: "Maryland_Bipolar_Forceps_labels", 2: "{side}_Prograsp_Forceps_labels",
            3: "Large_Needle_Driver_{side}_labels", 4: "{side}_Vessel_Sealer",
            5: "Grasping_Retractor_labels", 6: "Monopolar_Curved_Scissors_labels",
            7: "Other_labels"}


def _folder(type_id: int, side: float) -> str:
    # EndoVis names some folders by the arm (side of the view) that holds the instrument.
    return _FOLDERS[type_id].format(side="Left" if np.cos(side) < 0 else "Right")


def _visible(tip, centre: np.ndarray, margin: float) -> bool:
    px = CAM.project(CAM.to_eye(np.asarray(tip), centre))
    return bool(CAM.inside(px, margin))


def _any_in_view(actors: list[motion.Actor], centre: np.ndarray) -> bool:
    for actor in actors:
        tip = np.asarray(actor.state.tip)
        axis = (actor.remote - tip) / np.linalg.norm(actor.remote - tip)
        points = tip + axis * np.linspace(0, 0.16, 12)[:, None]
        eye = CAM.to_eye(points, centre)
        eye = eye[eye[:, 2] > 0.02]
        if len(eye) and CAM.inside(CAM.project(eye), -0.04).any():
            return True
    return False


def _feasible(activity: str, actor: motion.Actor) -> bool:
    t = actor.type_id
    return {"Grasping": t in GRASPERS and actor.anchor is None,
            "Retraction": actor.anchor is not None and not actor.lifted,
            "Tissue_Manipulation": actor.spec.jaw is not None,
            "Cutting": t in CUTTERS, "Cauterization": t in ENERGY,
            "Suction": t in SUCTION}[activity]


def _try_activity(activity, index, actors, ctx, n):
    actor = actors[index]
    for _ in range(4):
        phase = motion.MOTIONS[activity](ctx, actor, n)
        if all(_visible(s.tip, ctx.centre, 0.03) for s in phase.states):
            return phase
    return None


def _idle_frames(rng, actors, plane: Plane, centre, n: int, start: int) -> list[np.ndarray]:
    """Endoscope positions of an Idle phase: still, panning, or looking away and back;
    the lens stays MIN_TISSUE_DISTANCE from the tissue."""
    allowed = lambda c: plane.height(c) >= MIN_TISSUE_DISTANCE  # noqa: E731
    move = start > 0 and rng.random() < 0.6
    survey = move and start >= SURVEY_AFTER and n >= 12 and rng.random() < 0.5
    clear = (lambda far: not _any_in_view(actors, far)) if survey else None
    return camera_path(rng, centre, n, allowed, clear) if move else [centre] * n


def plan_sequence(seed: int, index: int, frames: int, max_instruments: int) -> Plan:
    """Plan sequence ``index`` (1-based) of ``frames`` frames."""
    rng = stream(seed, index, 1)
    plane = make_plane(rng.uniform(0.07, 0.11), (rng.uniform(-0.35, 0.35),
                                                 rng.uniform(-0.35, 0.35)))
    palette, gain = int(rng.integers(len(PALETTES))), float(rng.uniform(0.85, 1.2))
    types = sequence_types(seed, index, max_instruments)
    sides = [_SIDES[s] for s in rng.choice(4, size=len(types), replace=False, p=_SIDE_P)]
    actors = []
    for t, s in zip(types, sides):  # now and then a shaft crosses the first instrument's
        first = actors[0] if actors and rng.random() < 0.4 else None
        cross = None if first is None else _uv(first)
        actors.append(_place(rng, plane, t, s, cross))
    instruments = tuple(Instrument(t, _folder(t, s), TOOL_NAMES[t][1], a.remote)
                        for t, s, a in zip(types, sides, actors))
    pools, marks, smokes = bleeding(rng, plane, CAM, frames), [], []
    counts = dict.fromkeys(WEIGHTS, 0)
    centre, out = np.zeros(3), []
    while len(out) < frames:
        n = int(rng.integers(PHASE_FRAMES[0], PHASE_FRAMES[1] + 1))
        ctx = motion.Context(rng, plane, CAM, centre, len(out))
        last = (out[-1].activity, out[-1].actor) if out else None
        activity, index_acting, phase = _choose(rng, actors, counts, ctx, n, last)
        held = [motion.hold_pull(ctx, a, np.asarray(a.state.tip)) for a in actors]
        if phase is None:
            for c in _idle_frames(rng, actors, plane, centre, n, len(out)):
                out.append(Frame(c, tuple(a.state for a in actors),
                                 tuple(p for p in held if p), "Idle", None))
            centre = out[-1].centre
        else:
            held[index_acting] = None
            for state, pull in zip(phase.states, phase.pulls):
                tools = [a.state for a in actors]
                tools[index_acting] = state
                out.append(Frame(centre, tuple(tools), tuple(p for p in [*held, pull] if p),
                                 activity, index_acting))
            actor = actors[index_acting]
            actor.state, actor.anchor, actor.lifted = phase.states[-1], phase.anchor, phase.lifted
            pools, marks, smokes = pools + phase.pools, marks + phase.marks, smokes + phase.smokes
        counts[activity] += n
    return Plan(plane, palette, gain, instruments, tuple(out[:frames]), tuple(pools),
                tuple(marks), tuple(smokes))


def _choose(rng, actors, counts, ctx, n, last):
    """(activity, acting index, phase) of the least-used feasible activity; Idle: no phase.

    The phase just played (``last``: activity, actor) is not repeated at once, so phases
    stay 6-16 frames long.
    """
    order = sorted(WEIGHTS, key=lambda a: (counts[a] + 1) / WEIGHTS[a] * rng.uniform(0.9, 1.1))
    for activity in order:
        if activity == "Idle":
            break
        able = [i for i, a in enumerate(actors) if _feasible(activity, a)
                and (activity, i) != last and _visible(a.state.tip, ctx.centre, 0.05)]
        for i in rng.permutation(able).tolist() if able else []:
            phase = _try_activity(activity, i, actors, ctx, n)
            if phase is not None:
                return activity, i, phase
    return "Idle", None, None
