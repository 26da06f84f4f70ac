"""``surg-perception synth-gallery OUT.png``: one labelled PNG to check the generator by eye.

Top: each of the seven instrument types alone over tissue, rendered at ``--size`` (default
1280x1024, the EndoVis crop): a full-resolution close-up of the tip with the jaws open and
closed, then the whole frame downscaled 4x (256x320, the network input) and to 96x128 (the
tiny model's input, shown enlarged). Bottom: each activity as four frames spread over one of
its phases, taken from planned sequences of the same seed: the half-width region around the
acting instrument's tip (2x the network input's scale); Idle shows the whole frame, and a
last row shows the endoscope panning away until no instrument is in view.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

import cv2
import numpy as np

from surg_perception.classes import ENDOVIS17_INSTRUMENT_TYPES
from surg_perception.cli_checks import add_frame_size, frame_size_wh
from surg_perception.data.synth_camera import make_camera
from surg_perception.data.synth_geometry import ToolState
from surg_perception.data.synth_plan import WEIGHTS, Frame, Instrument, Plan, plan_sequence
from surg_perception.data.synth_scene import make_assets, render_frame
from surg_perception.data.synth_tissue import make_plane
from surg_perception.data.synth_tools import SPECS, TOOL_NAMES
from surg_perception.errors import ConfigError, DatasetError

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _showcase(type_id: int) -> Plan:
    """One instrument from the lower right, tip at the centre; frame 0 open, 1 closed."""
    plane = make_plane(0.085, (0.25, -0.15))
    q = plane.intersect(np.zeros(3), make_camera(1280, 1024).ray(0.47, 0.47))
    remote = q + np.array([np.cos(0.55), np.sin(0.55), 0.0]) * 0.12
    remote[2] = 0.012
    top = SPECS[type_id].jaw.max_opening if SPECS[type_id].jaw else 0.0
    frames = tuple(Frame(np.zeros(3), (ToolState(tuple(q + plane.normal * 0.006), (0.12, 0.15),
                                                 0.75, opening * top),), (), "Idle", None)
                   for opening in (0.7, 0.0))
    inst = Instrument(type_id, f"{TOOL_NAMES[type_id][0]}_labels", TOOL_NAMES[type_id][1],
                      remote)
    return Plan(plane, 0, 1.0, (inst,), frames, (), (), ())


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    tile = np.ascontiguousarray(tile)
    scale = min(0.45, 0.33 * tile.shape[1] / 250)
    cv2.rectangle(tile, (0, 0), (tile.shape[1], int(40 * scale)), (0, 0, 0), -1)
    cv2.putText(tile, text, (3, int(30 * scale)), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def _crop(image: np.ndarray, centre, size: tuple[int, int], out: tuple[int, int]
          ) -> np.ndarray:
    """``size`` (W, H) window of ``image`` around pixel ``centre``, resized to ``out``."""
    h, w = image.shape[:2]
    x = int(np.clip(centre[0] - size[0] / 2, 0, w - size[0]))
    y = int(np.clip(centre[1] - size[1] / 2, 0, h - size[1]))
    return cv2.resize(image[y:y + size[1], x:x + size[0]], out, interpolation=cv2.INTER_AREA)


def _type_column(type_id: int, seed: int, size: tuple[int, int]) -> np.ndarray:
    cam = make_camera(*size)
    tile = (size[0] // 4, size[1] // 4)
    plan = _showcase(type_id)
    assets = make_assets(plan, cam, seed, 100 + type_id)
    name = f"{type_id} {ENDOVIS17_INSTRUMENT_TYPES[type_id]}"
    tip = cam.project(cam.to_eye(np.asarray(plan.frames[0].tools[0].tip), np.zeros(3)))
    images = [render_frame(assets, t, cam).image for t in (0, 1)]
    tiles = [_label(_crop(image, tip + [tile[0] * 0.05, 0], tile, tile), f"{name} ({state})")
             for image, state in zip(images, ("open", "closed"))]
    small = cv2.resize(images[0], tile, interpolation=cv2.INTER_AREA)
    little = (size[0] // 10, size[1] * 96 // 1024)  # 96x128 for the 1280x1024 crop
    tiny = cv2.resize(images[0], little, interpolation=cv2.INTER_AREA)
    tiny = cv2.resize(tiny, tile, interpolation=cv2.INTER_NEAREST)
    return np.vstack([*tiles, _label(small, f"{tile[1]}x{tile[0]} (network input)"),
                      _label(tiny, f"{little[1]}x{little[0]} (tiny model input)")])


def find_phases(seed: int, frames: int = 64, tries: int = 40) -> dict:
    """activity -> (sequence index, 4 frame numbers spread over one phase of >= 8 frames)."""
    found = {}
    for index in range(1, tries + 1):
        plan = plan_sequence(seed, index, frames, 3)
        t = 0
        while t < frames:
            end, activity = t, plan.frames[t].activity
            while end < frames and plan.frames[end].activity == activity:
                end += 1
            if activity not in found and end - t >= 8:
                found[activity] = (index, [t + (end - t) * k // 8 for k in (1, 3, 5, 7)])
            t = end
        if len(found) == len(WEIGHTS):
            return found
    raise DatasetError(f"seed {seed}: no phase of {sorted(set(WEIGHTS) - set(found))} in "
                       f"{tries} sequences; try another seed")


def find_look_away(seed: int, frames: int = 64, tries: int = 40) -> tuple[int, list[int]]:
    """(sequence index, 4 frames) of an Idle phase in which the endoscope looks away."""
    for index in range(1, tries + 1):
        plan = plan_sequence(seed, index, frames, 3)
        far = [t for t, f in enumerate(plan.frames) if np.linalg.norm(f.centre) > 0.06]
        if far:
            start = far[0]
            while start > 0 and plan.frames[start - 1].activity == "Idle":
                start -= 1  # back to the start of this Idle phase
            return index, [start, (start + far[0]) // 2, far[0], far[len(far) // 2]]
    raise DatasetError(f"seed {seed}: the endoscope never looks away in {tries} sequences")


def _activity_row(seed: int, activity: str, index: int, picks: list[int],
                  size: tuple[int, int]) -> np.ndarray:
    cam = make_camera(*size)
    out = (size[0] * 7 // 32, size[1] * 7 // 32)
    plan = plan_sequence(seed, index, max(picks) + 1, 3)
    assets = make_assets(plan, cam, seed, index)
    first = plan.frames[picks[0]]
    who, tip = "", None
    if first.actor is not None:
        who = f" by {TOOL_NAMES[plan.instruments[first.actor].type_id][1]}"
        tip = cam.project(cam.to_eye(np.asarray(first.tools[first.actor].tip), first.centre))
    tiles = []
    for t in picks:
        image = render_frame(assets, t, cam).image
        tile = (cv2.resize(image, out, interpolation=cv2.INTER_AREA) if tip is None
                else _crop(image, tip, (size[0] // 2, size[1] // 2), out))
        tiles.append(_label(tile, f"{activity}{who} t={t}"))
    return np.hstack(tiles)


def make_gallery(seed: int = 0, size: tuple[int, int] = (1280, 1024)) -> np.ndarray:
    """The gallery image, uint8 RGB; ``size`` is the render size (W, H)."""
    types = np.hstack([_type_column(t, seed, size) for t in SPECS])
    phases = find_phases(seed)
    rows = [_activity_row(seed, a, *phases[a], size) for a in WEIGHTS]
    rows.append(_activity_row(seed, "Idle, endoscope looks away", *find_look_away(seed), size))
    acts = np.vstack([np.hstack(rows[i:i + 2]) for i in range(0, len(WEIGHTS), 2)])
    width = max(types.shape[1], acts.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, width - a.shape[1]), (0, 0)))  # noqa: E731
    title = _label(np.zeros((30, width, 3), np.uint8),
                   f"surg_perception synth, seed {seed}: instrument types (top), activities")
    return np.vstack([title, pad(types), np.zeros((6, width, 3), np.uint8), pad(acts)])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``surg-perception synth-gallery``."""
    parser.add_argument("out", type=Path, help="PNG file to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the scenes")
    add_frame_size(parser, (1024, 1280), "render")


def run(args: argparse.Namespace) -> int:
    """Run ``surg-perception synth-gallery``; returns the exit status."""
    if args.out.suffix.lower() != ".png":
        raise ConfigError(f"{args.out}: the gallery is a PNG; name it *.png")
    size = frame_size_wh(args, log=lambda text: print(text, file=sys.stderr))
    if min(size) < 160:
        raise ConfigError(f"gallery size {size[1]} {size[0]} (H W) too small; use at least "
                          "160 160")
    image = make_gallery(args.seed, size)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", image[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise DatasetError(f"{args.out}: PNG encoding failed")
    args.out.write_bytes(data.tobytes())
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")
    return 0
