"""Synthetic surgical videos written in the EndoVis 2017 layout (see ``endovis17.py``).

``surg-perception synth OUT --sequences N --frames F --size W H --seed S`` writes::

    OUT/instrument_dataset_<k>/left_frames/frame<NNN>.png                 RGB frames W x H
    OUT/instrument_dataset_<k>/ground_truth/<Name>_labels/frame<NNN>.png  parts 10/20/30
    OUT/instrument_dataset_<k>/vqla/label/frame<NNN>.txt                  activity (VQLA)
    OUT/README.txt, OUT/manifest.json                                     layout, seed, tools

1-3 instruments of distinct types per sequence move over a tissue texture; their
activity labels follow their motion (``synth_scene.py``). For ``--size 1920 1080`` the scene
is rendered at 1280x1024 inside black side bars, like the original EndoVis frames, so the
loader's crop at (320, 28) recovers it exactly. Same seed -> byte-identical files.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from surg_perception.classes import (ENDOVIS17_CROP_OFFSET, ENDOVIS17_CROP_SIZE,
                                     ENDOVIS17_INSTRUMENT_TYPES)
from surg_perception.data import synth_scene
from surg_perception.data.endovis17 import INSTRUMENT_FOLDER_TYPES
from surg_perception.data.io import write_png
from surg_perception.errors import ConfigError, DatasetError

# type id -> (ground-truth folder base name, name used in VQLA questions)
TOOL_NAMES = {
    1: ("Bipolar_Forceps", "bipolar_forceps"),
    2: ("Prograsp_Forceps", "prograsp_forceps"),
    3: ("Large_Needle_Driver", "large_needle_driver"),
    4: ("Vessel_Sealer", "vessel_sealer"),
    5: ("Grasping_Retractor", "grasping_retractor"),
    6: ("Monopolar_Curved_Scissors", "monopolar_curved_scissors"),
    7: ("Other", "other_instrument"),
}
_EDGES = ("left", "right", "bottom", "top")
_EDGE_P = (0.3, 0.3, 0.3, 0.1)
RAW_SIZE = (1920, 1080)


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """What to generate; ``size`` is (W, H) of the written frames."""

    sequences: int = 4
    frames: int = 24
    size: tuple[int, int] = (320, 256)
    seed: int = 0
    max_instruments: int = 3

    def __post_init__(self) -> None:
        if self.sequences < 1 or self.frames < 1:
            raise ConfigError("synth needs at least 1 sequence and 1 frame")
        if min(self.size) < 64:
            raise ConfigError(f"synth size {self.size} too small; use at least 64x64")
        if not 1 <= self.max_instruments <= len(TOOL_NAMES):
            raise ConfigError(f"max_instruments must be in 1..{len(TOOL_NAMES)}")


@dataclasses.dataclass(frozen=True)
class _Tool:
    type_id: int
    folder: str
    vqla_name: str
    poses: list
    activities: list


def _plan_tools(rng: np.random.Generator, cfg: SynthConfig, width: int, height: int
                ) -> list[_Tool]:
    count = int(rng.integers(1, cfg.max_instruments + 1))
    types = rng.choice(np.arange(1, len(TOOL_NAMES) + 1), size=count, replace=False)
    edges = rng.choice(len(_EDGES), size=count, replace=False, p=_EDGE_P)
    tools = []
    for type_id, edge in zip(types.tolist(), edges.tolist()):
        f = rng.uniform(0.2, 0.8)
        entry = {"left": (0.0, f * height), "right": (width - 1.0, f * height),
                 "bottom": (f * width, height - 1.0), "top": (f * width, 0.0)}[_EDGES[edge]]
        target = (width * rng.uniform(0.35, 0.65), height * rng.uniform(0.35, 0.65))
        angle = math.atan2(target[1] - entry[1], target[0] - entry[0])
        reach = math.hypot(target[0] - entry[0], target[1] - entry[1])
        style = synth_scene.TOOL_STYLES[type_id]
        poses, activities = synth_scene.plan_motion(rng, cfg.frames, entry, angle, reach, style)
        base, vqla_name = TOOL_NAMES[type_id]
        side = "Left_" if entry[0] < width / 2 else "Right_"
        folder = f"{side if type_id in (2, 3) else ''}{base}_labels"
        tools.append(_Tool(type_id, folder, vqla_name, poses, activities))
    return tools


def _vqla_lines(tools: list[_Tool], masks: list[np.ndarray], t: int, offset: tuple[int, int]
                ) -> str:
    lines = []
    for tool, mask in zip(tools, masks):
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box = "0,0,0,0"
        where = "out-of-view"
        if rows.size:
            x1, y1 = cols[0] + offset[0], rows[0] + offset[1]
            x2, y2 = cols[-1] + 1 + offset[0], rows[-1] + 1 + offset[1]
            box = f"{x1},{y1},{x2},{y2}"
            vertical = "top" if rows.mean() < mask.shape[0] / 2 else "bottom"
            where = f"{'left' if cols.mean() < mask.shape[1] / 2 else 'right'}-{vertical}"
        lines.append(f"What is the state of {tool.vqla_name}?|{tool.activities[t]}|{box}")
        lines.append(f"Where is {tool.vqla_name} located?|{where}|{box}")
    return "\n".join(lines) + "\n"


def _write_sequence(seq_dir: Path, rng: np.random.Generator, cfg: SynthConfig) -> list[_Tool]:
    raw = tuple(cfg.size) == RAW_SIZE
    width, height = ENDOVIS17_CROP_SIZE if raw else cfg.size
    offset = ENDOVIS17_CROP_OFFSET if raw else (0, 0)
    tools = _plan_tools(rng, cfg, width, height)
    margin = max(4, int(0.06 * min(width, height)))
    texture = synth_scene.tissue_texture(rng, height + 2 * margin, width + 2 * margin)
    shade = synth_scene.vignette(height, width)
    phase = rng.uniform(0, 2 * math.pi, size=2)
    for t in range(cfg.frames):
        # Slow camera drift: the view slides over a texture slightly larger than the frame.
        ox, oy = (int(round(margin * (1 + 0.8 * math.sin(0.15 * t + p)))) for p in phase)
        image = texture[oy:oy + height, ox:ox + width].copy()
        masks = [synth_scene.draw_tool(image, tool.poses[t], synth_scene.TOOL_STYLES[tool.type_id])
                 for tool in tools]
        for k in range(1, len(masks)):  # later tools occlude earlier ones
            for j in range(k):
                masks[j][masks[k] > 0] = 0
        image = image * shade + rng.normal(0.0, 2.0, image.shape)
        frame = np.clip(image, 0, 255).astype(np.uint8)
        name = f"frame{t:03d}.png"
        write_png(seq_dir / "left_frames" / name, _canvas(frame, raw))
        for tool, mask in zip(tools, masks):
            write_png(seq_dir / "ground_truth" / tool.folder / name, _canvas(mask, raw))
        label = seq_dir / "vqla" / "label" / f"frame{t:03d}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(_vqla_lines(tools, masks, t, offset), encoding="utf-8")
    return tools


def _canvas(array: np.ndarray, raw: bool) -> np.ndarray:
    """Place a 1280x1024 render inside a black 1920x1080 frame when ``raw``."""
    if not raw:
        return array
    canvas = np.zeros((RAW_SIZE[1], RAW_SIZE[0], *array.shape[2:]), np.uint8)
    x, y = ENDOVIS17_CROP_OFFSET
    canvas[y:y + array.shape[0], x:x + array.shape[1]] = array
    return canvas


_README = """Synthetic surgical video dataset (surg_perception synth), EndoVis 2017 layout.

instrument_dataset_<k>/left_frames/frame<NNN>.png       RGB frames, {width}x{height}
instrument_dataset_<k>/ground_truth/<Name>_labels/frame<NNN>.png
    one grey mask per instrument: 0 background, 10 shaft, 20 wrist, 30 claspers
instrument_dataset_<k>/vqla/label/frame<NNN>.txt
    lines 'question|answer|x1,y1,x2,y2' (box in pixel edges, x2/y2 exclusive);
    'What is the state of <tool>?' answers Idle / Grasping / Retraction /
    Tissue_Manipulation, following the tool's motion (still / jaws closing /
    pulled back / pushed in with jaws opening)

seed {seed}, {sequences} sequence(s) x {frames} frame(s); tools per sequence in manifest.json.
Regenerate: surg-perception synth OUT --sequences {sequences} --frames {frames} \\
    --size {width} {height} --seed {seed}
"""


def write_synth_dataset(out: str | Path, cfg: SynthConfig | None = None) -> dict:
    """Write the dataset to ``out`` (must be empty or absent); return the manifest dict."""
    cfg = cfg or SynthConfig()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out}: output exists and is not an empty folder; choose another")
    out.mkdir(parents=True, exist_ok=True)
    sequences = []
    for k in range(1, cfg.sequences + 1):
        # One independent stream per sequence: sequence k does not depend on N.
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, k]))
        name = f"instrument_dataset_{k}"
        tools = _write_sequence(out / name, rng, cfg)
        sequences.append({"name": name, "instruments": [
            {"folder": t.folder, "type_id": t.type_id,
             "type_name": ENDOVIS17_INSTRUMENT_TYPES[t.type_id], "vqla_name": t.vqla_name,
             "draw_order": i} for i, t in enumerate(tools)]})
        for tool in tools:  # the loader must accept every folder name written here
            if INSTRUMENT_FOLDER_TYPES.get(tool.folder) != tool.type_id:
                raise DatasetError(f"{tool.folder}: synth folder name not in the loader table")
    manifest = {"format": "surg_perception.synth", "version": 1, "layout": "endovis17",
                "seed": cfg.seed, "size": list(cfg.size), "frames": cfg.frames,
                "part_values": {"shaft": 10, "wrist": 20, "claspers": 30},
                "sequences": sequences}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    width, height = cfg.size
    (out / "README.txt").write_text(_README.format(
        width=width, height=height, seed=cfg.seed, sequences=cfg.sequences, frames=cfg.frames))
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``surg-perception synth``."""
    parser.add_argument("out", type=Path, help="output folder (must be empty or absent)")
    parser.add_argument("--sequences", type=int, default=4, help="number of sequences")
    parser.add_argument("--frames", type=int, default=24, help="frames per sequence")
    parser.add_argument("--size", type=int, nargs=2, default=(320, 256), metavar=("W", "H"),
                        help="frame size; 1920 1080 writes EndoVis-like raw frames")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--max-instruments", type=int, default=3,
                        help="at most this many instruments per sequence")


def run(args: argparse.Namespace) -> int:
    """Run ``surg-perception synth``; returns the exit status."""
    cfg = SynthConfig(sequences=args.sequences, frames=args.frames, size=tuple(args.size),
                      seed=args.seed, max_instruments=args.max_instruments)
    manifest = write_synth_dataset(args.out, cfg)
    tools = sum(len(s["instruments"]) for s in manifest["sequences"])
    print(f"wrote {cfg.sequences} sequence(s) x {cfg.frames} frame(s) "
          f"({tools} instrument tracks) to {args.out}")
    return 0
