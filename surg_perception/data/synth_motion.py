"""What each activity looks like: per-frame poses of the acting instrument over one phase.

One function per activity of ``classes.ACTIVITIES`` that the generator shows; each returns a
:class:`Phase` (poses, tissue pulls, the holding state it ends in, scene events) or None when
the random target it drew is not reachable in view. Definitions (also in the README):

- Grasping: open jaws move onto the tissue and close on it (the tool then holds it);
- Retraction: a holding tool pulls back and up, jaws closed; the tissue follows the jaws;
- Tissue_Manipulation: open jaws press onto the tissue and sweep it sideways (dragging it),
  releasing anything held first;
- Cutting (scissors): blades open on the tissue and close, once or twice; an incision grows;
- Cauterization (bipolar, vessel sealer, scissors): closed tip on the tissue, smoke rises
  from it and a char mark grows;
- Suction (suction tube): the tip goes into a blood pool, which shrinks to nothing.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from surg_perception.data.synth_camera import Camera
from surg_perception.data.synth_effects import Mark, Pool, Smoke, pool_shape
from surg_perception.data.synth_geometry import ToolState
from surg_perception.data.synth_path import ease, lerp
from surg_perception.data.synth_tissue import Plane
from surg_perception.data.synth_tools import ToolSpec

CLOSED = 0.06  # jaw opening (rad) when closed on tissue
CONTACT = 0.0015  # tip height above the tissue when touching it (m)


@dataclasses.dataclass
class Actor:
    """Planning state of one instrument."""

    spec: ToolSpec
    type_id: int
    remote: np.ndarray
    state: ToolState
    anchor: np.ndarray | None = None  # tissue point held by the jaws
    lifted: bool = False


@dataclasses.dataclass(frozen=True)
class Pull:
    """Tissue deformation: the point at ``anchor`` appears at ``target`` (world)."""

    anchor: np.ndarray
    target: np.ndarray
    radius: float
    lift: float


@dataclasses.dataclass
class Phase:
    states: list[ToolState]
    pulls: list[Pull | None]
    anchor: np.ndarray | None
    lifted: bool
    pools: list[Pool] = dataclasses.field(default_factory=list)
    marks: list[Mark] = dataclasses.field(default_factory=list)
    smokes: list[Smoke] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Context:
    rng: np.random.Generator
    plane: Plane
    cam: Camera  # canonical camera: plans do not depend on the output size
    centre: np.ndarray
    start: int  # first frame of the phase


def target_near(ctx: Context, point: np.ndarray, spread: float) -> np.ndarray:
    """A tissue point near where ``point`` appears in the view (within its central part)."""
    px = ctx.cam.project(ctx.cam.to_eye(point, ctx.centre))
    uv = (px + 0.5) / (ctx.cam.width, ctx.cam.height) + ctx.rng.normal(0, spread, 2)
    uv = np.clip(uv, 0.15, 0.85)
    return ctx.plane.intersect(ctx.centre, ctx.cam.ray(*uv))


def hold_pull(ctx: Context, actor: Actor, tip: np.ndarray) -> Pull | None:
    """The tissue a holding tool lifts, or None when it is not lifted off the surface."""
    if actor.anchor is None or ctx.plane.height(tip) < 2 * CONTACT:
        return None
    return Pull(actor.anchor, tip - ctx.plane.normal * CONTACT, 0.013, 0.3)


def _pose(state: ToolState, tip, opening: float) -> ToolState:
    return dataclasses.replace(state, tip=tuple(float(v) for v in tip), opening=float(opening))


def grasping(ctx: Context, actor: Actor, n: int) -> Phase:
    top = actor.spec.jaw.max_opening
    q = target_near(ctx, np.asarray(actor.state.tip), 0.06)
    contact = q + ctx.plane.normal * CONTACT
    start, o0 = np.asarray(actor.state.tip), actor.state.opening
    states = []
    for i in range(n):
        s = (i + 1) / n
        if s <= 0.5:
            states.append(_pose(actor.state, lerp(start, contact, ease(s / 0.5)),
                                lerp(o0, top, ease(s / 0.4))))
        else:
            states.append(_pose(actor.state, contact, lerp(top, CLOSED, ease((s - 0.5) / 0.5))))
    return Phase(states, [None] * n, q, False)


def retraction(ctx: Context, actor: Actor, n: int) -> Phase:
    tip = np.asarray(actor.state.tip)
    back = tip - np.asarray(actor.remote)
    back = -back / np.linalg.norm(back)
    direction = 0.75 * back + 0.6 * ctx.plane.normal
    direction /= np.linalg.norm(direction)
    lift = ctx.rng.uniform(0.012, 0.022)
    states, pulls = [], []
    for i in range(n):
        now = tip + direction * lift * ease((i + 1) / n / 0.7)
        states.append(_pose(actor.state, now, CLOSED))
        pulls.append(hold_pull(ctx, actor, now))
    return Phase(states, pulls, actor.anchor, True)


def tissue_manipulation(ctx: Context, actor: Actor, n: int) -> Phase:
    rng, up = ctx.rng, ctx.plane.normal
    tip0, o0 = np.asarray(actor.state.tip), actor.state.opening
    wide = actor.spec.jaw.max_opening * rng.uniform(0.6, 1.0)
    press = ctx.plane.foot(target_near(ctx, tip0, 0.03)) + up * 0.0005
    axis = press - np.asarray(actor.remote)
    sweep = np.cross(up, axis)
    sweep *= rng.choice([-1.0, 1.0]) * rng.uniform(0.010, 0.02) / np.linalg.norm(sweep)
    states, pulls = [], []
    for i in range(n):
        s = (i + 1) / n
        if s <= 0.3:  # release (jaws open) and press onto the tissue
            tip = lerp(tip0, press, ease(s / 0.3))
            pull = hold_pull(ctx, actor, tip) if s < 0.15 else None
        elif s <= 0.85:  # sweep: the tissue is dragged along
            tip = press + sweep * ease((s - 0.3) / 0.55)
            pull = Pull(press, press + 0.6 * (tip - press), 0.012, -0.15)
        else:  # lift off, the tissue springs back
            tip = press + sweep + up * 0.006 * ease((s - 0.85) / 0.15)
            pull = None
        states.append(_pose(actor.state, tip, lerp(o0, wide, ease(s / 0.25))))
        pulls.append(pull)
    return Phase(states, pulls, None, False)


def cutting(ctx: Context, actor: Actor, n: int) -> Phase:
    top = actor.spec.jaw.max_opening
    q = target_near(ctx, np.asarray(actor.state.tip), 0.05)
    contact = q + ctx.plane.normal * 0.001
    along = q - np.asarray(actor.remote)
    along -= np.dot(along, ctx.plane.normal) * ctx.plane.normal
    along /= np.linalg.norm(along)
    snips = 1 if n < 10 else 2
    start, o0 = np.asarray(actor.state.tip), actor.state.opening
    states, marks = [], []
    approach = max(2, int(round(0.3 * n)))
    for i in range(n):
        if i < approach:  # onto the tissue, blades opening
            s = (i + 1) / approach
            states.append(_pose(actor.state, lerp(start, contact, ease(s)), lerp(o0, top, s)))
            continue
        tau = (i - approach + 1) / (n - approach) * snips
        k = min(int(tau), snips - 1)
        s = tau - k
        if s <= 0.65 or k == snips - 1:  # blades close (the last snip stays closed)
            opening = lerp(top, CLOSED, ease(s / 0.65))
        else:
            opening = lerp(CLOSED, top, ease((s - 0.65) / 0.35))
        states.append(_pose(actor.state, contact + along * 0.002 * tau, opening))
    marks.append(Mark("cut", q, q + along * 0.0025 * (snips + 1), 0.0006, ctx.start + approach,
                      ctx.start + n - 1))
    return Phase(states, [None] * n, None, False, marks=marks)


def cauterization(ctx: Context, actor: Actor, n: int) -> Phase:
    start, o0 = np.asarray(actor.state.tip), actor.state.opening
    q = actor.anchor if actor.anchor is not None else target_near(ctx, start, 0.05)
    contact = q + ctx.plane.normal * CONTACT
    touch = max(2, int(round(0.35 * n)))
    states, pulls = [], []
    for i in range(n):
        s = min(1.0, (i + 1) / touch)
        tip = lerp(start, contact, ease(s))
        states.append(_pose(actor.state, tip, lerp(o0, CLOSED * 0.7, ease(s))))
        pulls.append(hold_pull(ctx, actor, tip))
    t0 = ctx.start + touch - 1
    return Phase(states, pulls, actor.anchor, False,
                 marks=[Mark("char", q, q, ctx.rng.uniform(0.0015, 0.003), t0, ctx.start + n - 1)],
                 smokes=[Smoke(contact, t0, ctx.start + n - 1, ctx.rng.uniform(0.5, 0.8))])


def suction(ctx: Context, actor: Actor, n: int) -> Phase:
    rng = ctx.rng
    start = np.asarray(actor.state.tip)
    q = ctx.plane.foot(target_near(ctx, start, 0.05))
    over = q + ctx.plane.normal * CONTACT
    reach = max(2, int(round(0.35 * n)))
    pre = min(ctx.start, int(rng.integers(4, 9)))  # the pool bleeds in before the suction
    pool = Pool(q, rng.uniform(0.006, 0.011), ctx.start - pre, ctx.start - 1 if pre else 0,
                pool_shape(rng), ctx.start + reach, ctx.start + n - 1)
    states = []
    wiggle = ctx.plane.e1 * 0.0015
    for i in range(n):
        if i < reach:
            tip = lerp(start, over, ease((i + 1) / reach))
        else:
            a = (i - reach) * 1.3
            tip = over + wiggle * np.sin(a) + np.cross(ctx.plane.normal, wiggle) * np.cos(a)
        states.append(_pose(actor.state, tip, 0.0))
    return Phase(states, [None] * n, None, False, pools=[pool])


MOTIONS = {"Grasping": grasping, "Retraction": retraction,
           "Tissue_Manipulation": tissue_manipulation, "Cutting": cutting,
           "Cauterization": cauterization, "Suction": suction}
