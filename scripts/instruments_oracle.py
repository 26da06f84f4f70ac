"""Oracle benchmark of the instrument geometry: the pipeline on GROUND-TRUTH masks.

    OMP_NUM_THREADS=1 python scripts/instruments_oracle.py --sequences 3 --frames 100 \
        --size 1024 1280 --seed 1000 [--no-boxes] [--json OUT.json]

Renders held-out synthetic stereo sequences (``--seed`` unlike the training data's) in
memory with the generator of ``surg-perception synth --stereo``, builds each eye's type and
part masks from its ground truth (the generator writes only the left eye's; the right eye's
come from the same render), hands the ground-truth boxes in as detections (unless
``--no-boxes``), and runs :class:`surg_perception.instruments.InstrumentPipeline`
(instances -> tracks -> stereo tips). It scores with
:func:`surg_perception.evaluation.instruments.score_instruments` against the ground truth
records (the ``synth_gt.jsonl`` objects). No network runs: this measures the geometry
(tip rule, tracking, matching, triangulation) on perfect masks, an upper bound for a model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import cv2
import numpy as np

from surg_perception.data.synth_camera import camera_info, make_camera
from surg_perception.data.synth_gt import frame_record
from surg_perception.data.synth_plan import plan_sequence
from surg_perception.data.synth_scene import make_assets, render_frame
from surg_perception.evaluation.instrument_report import summary_lines
from surg_perception.evaluation.instruments import Estimate, FrameTruth, score_instruments
from surg_perception.instruments import (
    BoxDetections,
    EyeMasks,
    InstrumentPipeline,
    StereoRig,
    extract_instances,
)

PART_LUT = np.zeros(256, np.uint8)
PART_LUT[[10, 20, 30]] = [1, 2, 3]  # ground-truth part values -> part classes


def eye_masks(rendered, plan, boxes: bool) -> tuple[EyeMasks, dict[str, np.ndarray]]:
    """Type/part masks (+ ground-truth boxes) of one rendered eye, and each tool's mask."""
    types = np.zeros(rendered.instance.shape, np.uint8)
    masks, det = {}, []
    for k, inst in enumerate(plan.instruments):
        visible = rendered.instance == k + 1
        types[visible] = inst.type_id
        masks[inst.folder] = visible
        rows, cols = np.flatnonzero(visible.any(1)), np.flatnonzero(visible.any(0))
        if rows.size:
            det.append(([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], inst.type_id))
    dets = None
    if boxes and det:
        dets = BoxDetections(np.array([b for b, _ in det], np.float64), np.ones(len(det)),
                             np.array([c for _, c in det]))
    return EyeMasks(types, PART_LUT[rendered.part], dets), masks


def run_sequence(seed: int, index: int, frames: int, size: tuple[int, int], boxes: bool,
                 timing: list[float]) -> tuple[list[FrameTruth], list[list[Estimate]]]:
    width, height = size
    plan = plan_sequence(seed, index, frames, 3)
    cams = [make_camera(width, height, eye) for eye in ("left", "right")]
    infos = [camera_info(cam, size) for cam in cams]
    pipeline = InstrumentPipeline(rig=StereoRig.from_camera_info(*infos))
    assets = make_assets(plan, cams[0], seed, index)
    truth, estimates = [], []
    for t in range(frames):
        left, right = (render_frame(assets, t, cam, eye) for eye, cam in enumerate(cams))
        lm, masks = eye_masks(left, plan, boxes)
        rm, _ = eye_masks(right, plan, boxes)
        record = json.loads(json.dumps(frame_record(
            plan, t, left.geometry, [left.mask(k) for k in range(len(plan.instruments))],
            cams, (0, 0))))
        start = time.perf_counter()
        extract_instances(lm.types, lm.parts, lm.detections)
        timing.append(time.perf_counter() - start)
        results = pipeline.step(lm, rm, stamp=t / 30.0)
        truth.append(FrameTruth(record, masks))
        estimates.append([Estimate(r.track_id, r.instance.class_id, r.instance.mask,
                                   r.instance.tip_2d, r.tip_3d.point) for r in results])
    return truth, estimates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", type=int, default=3)
    parser.add_argument("--first-sequence", type=int, default=1)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--size", type=int, nargs=2, default=(1024, 1280), metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=1000, help="held-out seed (default 1000)")
    parser.add_argument("--no-boxes", action="store_true",
                        help="masks only: no ground-truth boxes as detections")
    parser.add_argument("--json", default=None, help="write the scores here")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    size = (args.size[1], args.size[0])
    timing: list[float] = []
    start = time.perf_counter()
    runs = [run_sequence(args.seed, k, args.frames, size, not args.no_boxes, timing)
            for k in range(args.first_sequence, args.first_sequence + args.sequences)]
    scores = score_instruments(runs)
    scores["extraction_ms_per_frame"] = {"median": 1000 * float(np.median(timing)),
                                         "p90": 1000 * float(np.percentile(timing, 90))}
    scores["setup"] = {"sequences": args.sequences, "frames": args.frames,
                       "size_wh": list(size), "seed": args.seed, "boxes": not args.no_boxes,
                       "wall_s": time.perf_counter() - start}
    print(summary(scores))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(scores, f, indent=2)
    return 0


def summary(scores: dict) -> str:
    ms = scores["extraction_ms_per_frame"]
    return "\n".join([
        f"oracle (ground-truth masks{' + boxes' if scores['setup']['boxes'] else ''}), "
        f"{scores['frames']} frames, {scores['gt_instrument_frames']} instrument-frames",
        *summary_lines(scores),
        f"extraction (one eye, instances + axis + tip): median {ms['median']:.1f} ms per "
        f"frame, p90 {ms['p90']:.1f} ms"])


if __name__ == "__main__":
    sys.exit(main())
