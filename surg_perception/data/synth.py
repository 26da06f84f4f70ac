"""Synthetic surgical videos of a small 3D world, written in the EndoVis 2017 layout.

``surg-perception synth OUT --sequences N --frames F --size H W --seed S [--stereo]`` writes::

    OUT/instrument_dataset_<k>/left_frames/frame<NNN>.png                 RGB frames W x H
    OUT/instrument_dataset_<k>/right_frames/frame<NNN>.png                (--stereo) right eye
    OUT/instrument_dataset_<k>/ground_truth/<Name>_labels/frame<NNN>.png  parts 10/20/30
    OUT/instrument_dataset_<k>/vqla/label/frame<NNN>.txt                  activity (VQLA)
    OUT/instrument_dataset_<k>/synth_gt.jsonl                             3D/2D tool truth
    OUT/README.txt, OUT/manifest.json                                     layout, cameras, tools

Articulated 3D instruments (``synth_tools``, ``synth_geometry``) act on a textured tissue
plane (``synth_tissue``) following a phase plan (``synth_plan``, ``synth_motion``) and are
rendered through a pinhole stereo endoscope (``synth_camera``, ``synth_scene``). For ``--size
1080 1920`` the scene is rendered at 1280x1024 inside black side bars, like the original
EndoVis frames, so the loader's crop at (320, 28) recovers it exactly. Same seed ->
byte-identical files; sequence k does not depend on the number of sequences.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
import sys
import time

import cv2
import numpy as np

from surg_perception.classes import (
    ENDOVIS17_CROP_OFFSET,
    ENDOVIS17_CROP_SIZE,
    ENDOVIS17_INSTRUMENT_TYPES,
)
from surg_perception.cli_checks import add_frame_size, frame_size_wh
from surg_perception.data.endovis17_names import instrument_type_id
from surg_perception.data.io import write_png
from surg_perception.data.synth_camera import BASELINE_M, HFOV_DEG, camera_info, make_camera
from surg_perception.data.synth_gt import frame_record, vqla_lines
from surg_perception.data.synth_plan import WEIGHTS, plan_sequence
from surg_perception.data.synth_readme import README
from surg_perception.data.synth_scene import make_assets, render_frame
from surg_perception.data.synth_tools import TOOL_NAMES
from surg_perception.errors import ConfigError, DatasetError

__all__ = ["RAW_SIZE", "TOOL_NAMES", "SynthConfig", "add_arguments", "run",
           "write_synth_dataset"]
RAW_SIZE = (1920, 1080)


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """What to generate; ``size`` is (W, H) of the written frames, ``stereo`` adds the right
    eye (``right_frames``)."""

    sequences: int = 4
    frames: int = 24
    size: tuple[int, int] = (320, 256)
    seed: int = 0
    max_instruments: int = 3
    stereo: bool = False

    def __post_init__(self) -> None:
        if self.sequences < 1 or self.frames < 1:
            raise ConfigError("synth needs at least 1 sequence and 1 frame")
        if min(self.size) < 64:
            raise ConfigError(f"synth size {self.size} too small; use at least 64x64")
        if not 1 <= self.max_instruments <= len(TOOL_NAMES):
            raise ConfigError(f"max_instruments must be in 1..{len(TOOL_NAMES)}")

    @property
    def raw(self) -> bool:
        """True for 1920x1080: render 1280x1024 inside black bars (EndoVis raw layout)."""
        return tuple(self.size) == RAW_SIZE

    @property
    def render_size(self) -> tuple[int, int]:
        return ENDOVIS17_CROP_SIZE if self.raw else tuple(self.size)

    @property
    def offset(self) -> tuple[int, int]:
        return ENDOVIS17_CROP_OFFSET if self.raw else (0, 0)


def _canvas(array: np.ndarray, raw: bool) -> np.ndarray:
    """Place a 1280x1024 render inside a black 1920x1080 frame when ``raw``."""
    if not raw:
        return array
    canvas = np.zeros((RAW_SIZE[1], RAW_SIZE[0], *array.shape[2:]), np.uint8)
    x, y = ENDOVIS17_CROP_OFFSET
    canvas[y:y + array.shape[0], x:x + array.shape[1]] = array
    return canvas


def _write_sequence(seq_dir: Path, index: int, cfg: SynthConfig) -> dict:
    plan = plan_sequence(cfg.seed, index, cfg.frames, cfg.max_instruments)
    for inst in plan.instruments:  # the loader must accept every folder name written here
        if instrument_type_id(inst.folder) != inst.type_id:
            raise DatasetError(f"{inst.folder}: synth folder name not in the loader table")
    cams = [make_camera(*cfg.render_size, eye) for eye in ("left", "right")]
    assets = make_assets(plan, cams[0], cfg.seed, index)
    lines = []
    for t in range(cfg.frames):
        name = f"frame{t:03d}.png"
        left = render_frame(assets, t, cams[0], 0)
        write_png(seq_dir / "left_frames" / name, _canvas(left.image, cfg.raw))
        if cfg.stereo:
            right = render_frame(assets, t, cams[1], 1)
            write_png(seq_dir / "right_frames" / name, _canvas(right.image, cfg.raw))
        masks = [left.mask(k) for k in range(len(plan.instruments))]
        for inst, mask in zip(plan.instruments, masks):
            write_png(seq_dir / "ground_truth" / inst.folder / name, _canvas(mask, cfg.raw))
        label = seq_dir / "vqla" / "label" / f"frame{t:03d}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(vqla_lines(plan, t, masks), encoding="utf-8")
        lines.append(json.dumps(frame_record(plan, t, left.geometry, masks, cams, cfg.offset),
                                sort_keys=True))
    (seq_dir / "synth_gt.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts = {a: sum(f.activity == a for f in plan.frames) for a in WEIGHTS}
    return {"name": seq_dir.name, "activity_frames": counts, "instruments": [
        {"folder": i.folder, "type_id": i.type_id, "vqla_name": i.vqla_name,
         "type_name": ENDOVIS17_INSTRUMENT_TYPES[i.type_id], "draw_order": k}
        for k, i in enumerate(plan.instruments)]}


def write_synth_dataset(out: str | Path, cfg: SynthConfig | None = None) -> dict:
    """Write the dataset to ``out`` (must be empty or absent); return the manifest dict."""
    cfg = cfg or SynthConfig()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out}: output exists and is not an empty folder; choose another")
    out.mkdir(parents=True, exist_ok=True)
    sequences = [_write_sequence(out / f"instrument_dataset_{k}", k, cfg)
                 for k in range(1, cfg.sequences + 1)]
    cams = [make_camera(*cfg.render_size, eye) for eye in ("left", "right")]
    manifest = {"format": "surg_perception.synth", "version": 2, "layout": "endovis17",
                "seed": cfg.seed, "size": list(cfg.size), "frames": cfg.frames,
                "stereo": cfg.stereo, "max_instruments": cfg.max_instruments,
                "baseline_m": BASELINE_M, "hfov_deg": HFOV_DEG,
                "cameras": {eye: camera_info(cam, cfg.size, cfg.offset)
                            for eye, cam in zip(("left", "right"), cams)},
                "part_values": {"shaft": 10, "wrist": 20, "claspers": 30},
                "jawless_parts": {"Other": {"shaft": 10, "tip": 30}},
                "activities": list(WEIGHTS), "sequences": sequences}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    width, height = cfg.size
    (out / "README.txt").write_text(README.format(
        width=width, height=height, seed=cfg.seed, sequences=cfg.sequences, frames=cfg.frames,
        stereo=" --stereo" if cfg.stereo else "", max_instruments=cfg.max_instruments))
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``surg-perception synth``."""
    parser.add_argument("out", type=Path, help="output folder (must be empty or absent)")
    parser.add_argument("--sequences", type=int, default=4, help="number of sequences")
    parser.add_argument("--frames", type=int, default=24, help="frames per sequence")
    width, height = ENDOVIS17_CROP_SIZE
    add_frame_size(parser, (height, width), "frame (default: the EndoVis 2017 crop; 1080 1920 "
                   "writes EndoVis-like raw frames)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--max-instruments", type=int, default=3,
                        help="at most this many instruments per sequence")
    parser.add_argument("--stereo", action="store_true",
                        help="also render the right eye (right_frames/, 5 mm baseline)")
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenCV threads (default 1: fastest per core; the output does not "
                        "depend on it)")


def run(args: argparse.Namespace) -> int:
    """Run ``surg-perception synth``; returns the exit status."""
    size = frame_size_wh(args, log=lambda text: print(text, file=sys.stderr))
    cfg = SynthConfig(sequences=args.sequences, frames=args.frames, size=size,
                      seed=args.seed, max_instruments=args.max_instruments, stereo=args.stereo)
    if args.threads < 1:
        raise ConfigError(f"--threads {args.threads}: use 1 or more")
    cv2.setNumThreads(args.threads)
    wall, cpu = time.perf_counter(), time.process_time()
    manifest = write_synth_dataset(args.out, cfg)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tools = sum(len(s["instruments"]) for s in manifest["sequences"])
    frames = cfg.sequences * cfg.frames
    print(f"wrote {cfg.sequences} sequence(s) x {cfg.frames} frame(s) "
          f"({tools} instrument tracks{', stereo' if cfg.stereo else ''}) to {args.out} in "
          f"{wall:.1f} s: {frames / wall:.1f} frames/s, {frames / max(cpu, 1e-9):.1f} per CPU "
          "second")
    return 0
