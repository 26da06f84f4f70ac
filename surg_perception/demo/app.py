"""``make demo``: the main job end to end on this machine, scored on what it shows.

1. writes a synthetic training set and a HELD-OUT synthetic video in the EndoVis 2017 layout
   (:mod:`surg_perception.demo.recipe`: no video frame is a training frame);
2. takes the demo checkpoint from the cache, or trains the model on the fly (ATO, CPU);
3. starts ``apmtl_node`` as a real process (autostart) on ``/jhu_daVinci/left/image_raw``;
4. publishes the video over DDS at video rate and records every output topic (and the
   input) into a rosbag2 (mcap) file (:mod:`surg_perception.ros.demo_live`); first,
   handshake frames until every topic has answered, so no frame of the video is sent
   before discovery is done (:mod:`surg_perception.ros.demo_handshake`; they are neither
   recorded, counted nor scored);
5. renders an overlay video and an image strip from that bag, scores the recorded
   ``SurgicalScene`` messages against the generator's ground truth
   (:mod:`surg_perception.evaluation.stream_scores`) and prints a summary.

``--stereo`` (``make demo STEREO=1``): the held-out video is rendered in stereo, the node
pairs left + right images and builds the rig from both ``camera_info`` topics, and the
summary adds the recorded ``~/instruments`` scored against the generator's 3D ground truth:
median 2D / 3D tip errors (by depth) and id switches per instrument per 300 frames.

Every path comes from the command line (the Makefile passes the repository's configurations):
``python -m surg_perception.demo --work .demo --model-config config/models/tiny.yaml
--train-config config/train/demo.yaml``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import time

from surg_perception.demo import summary as report
from surg_perception.demo.recipe import (
    TRAIN_SET,
    VIDEO_SEED,
    VIDEO_SIZE,
    demo_checkpoint,
    load_right_eye,
    load_video,
    synth_data,
)
from surg_perception.ros import demo_live  # imports rclpy only when the live run starts


def render(out: Path) -> None:
    from surg_perception.bags.render import rendered_frames, write_strip, write_video

    # the node's own overlay (mask, boxes, activity, fps): what RViz shows
    pictures, fps = rendered_frames(out / "bag", f"{demo_live.NODE}/overlay")
    write_video(pictures, out / "overlay.mp4", fps)
    write_strip(pictures, out / "overlay_strip.png")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="cache + output folder")
    parser.add_argument("--model-config", type=Path, required=True, help="model YAML")
    parser.add_argument("--train-config", type=Path, required=True, help="training YAML")
    parser.add_argument("--frames", type=int, default=48, help="frames to publish")
    parser.add_argument("--fps", type=float, default=15.0, help="publishing rate")
    parser.add_argument("--stereo", action="store_true",
                        help="stereo video: left + right + camera_info through the node; the "
                        "summary adds tip errors and id switches of ~/instruments")
    parser.add_argument("--score-threshold", type=float, default=0.5,
                        help="the node's detection.score_threshold: boxes below it are neither "
                        "published, drawn nor scored (-1 = the checkpoint's, e.g. 0.05 for "
                        "tiny.yaml: many low boxes, fit for mAP but not for a picture)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from surg_perception.checkpoint import load_spec_from_checkpoint

    work = args.work.resolve()
    out = work / time.strftime("run-%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    ckpt = demo_checkpoint(work, args.model_config, args.train_config)
    spec = load_spec_from_checkpoint(ckpt)
    video = synth_data(work, "video", 1, args.frames, VIDEO_SIZE, VIDEO_SEED, args.stereo)
    truths = load_video(video, spec)
    stereo = demo_live.Stereo(*load_right_eye(video)) if args.stereo else None
    live = demo_live.run_live(ckpt, [t.image for t in truths], args.fps, args.score_threshold,
                              out, stereo)
    render(out)
    scenes = report.recorded_scenes(out / "bag", demo_live.SCENE_TOPIC)
    scores = report.score_video(scenes, live["stamps"], truths, spec.model)
    instruments = None
    if args.stereo:
        arrays = report.recorded_scenes(out / "bag", demo_live.INSTRUMENTS_TOPIC)
        instruments = report.score_instruments_video(arrays, live["stamps"],
                                                     video / "instrument_dataset_1")
    about = {"model": spec.model.name, "checkpoint": str(ckpt),
             "train_config": args.train_config.name, "train_set": TRAIN_SET,
             "video": {"frames": len(truths), "size": VIDEO_SIZE, "seed": VIDEO_SEED,
                       "sequence": 1, "path": str(video), "stereo": args.stereo},
             "score_threshold": args.score_threshold}
    summary = report.summarise(live, scenes, scores, about, out, instruments)
    report.print_summary(summary)
    return 0 if summary["frames_out"] > 0 else 1
