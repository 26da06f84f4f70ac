"""``make demo``: the main job end to end on this machine, scored on what it shows.

1. writes a synthetic training set and a HELD-OUT synthetic video in the EndoVis 2017 layout
   (training: generator seed 0, sequences 1..40 at 320x256; video: seed 7, sequence 1 at
   640x512; the generator draws every sequence from ``SeedSequence([seed, k])``, so no video
   frame is a training frame);
2. takes the demo checkpoint from the cache, or trains the tiny model on the fly (ATO, CPU);
3. starts ``apmtl_node`` as a real process (autostart) on ``/jhu_daVinci/left/image_raw``;
4. publishes the video over DDS at video rate and records every output topic (and the
   input) into a rosbag2 (mcap) file;
5. renders an overlay video and an image strip from that bag, scores the recorded
   ``SurgicalScene`` messages against the generator's ground truth
   (:mod:`surg_perception.evaluation.stream_scores`) and prints a summary.

Run ``python -m surg_perception.ros.demo --help`` for the options.
"""

from __future__ import annotations

import argparse
import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CAMERA_TOPIC = "/jhu_daVinci/left/image_raw"
FRAME_ID = "jhu_daVinci_left"
NODE = "/apmtl_node"
SCENE_TOPIC = f"{NODE}/scene"
# The tiny model sees 96x128 whatever the frame size, so training frames are written small
# (cheap to write and read); the video is shown at a camera-like size. Sizes are explicit:
# the generator's own default is not the demo's business.
# Many short sequences generalise better than a few long ones (more scenes, same frames).
TRAIN_SET = {"sequences": 40, "frames": 12, "size": (320, 256), "seed": 0}
VIDEO_SIZE, VIDEO_SEED = (640, 512), 7


def log(text: str) -> None:
    print(f"[demo] {text}", flush=True)


# ----------------------------------------------------------------------------- data + model


def generator_key() -> str:
    """Hash of the synthetic generator's code: a new generator means new data and model."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "surg_perception" / "data").glob("synth*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def synth_data(root: Path, name: str, sequences: int, frames: int, size: tuple[int, int],
               seed: int) -> Path:
    """A synthetic dataset under ``root``, reused when the same recipe was written before."""
    from surg_perception.data.synth import SynthConfig, write_synth_dataset

    width, height = size
    out = root / f"{name}-{sequences}x{frames}-{width}x{height}-seed{seed}-{generator_key()}"
    if not (out / "manifest.json").exists():
        log(f"writing {sequences} synthetic sequence(s) x {frames} frames at {width}x{height} "
            f"(seed {seed}) -> {out}")
        write_synth_dataset(out, SynthConfig(sequences=sequences, frames=frames,
                                             size=(width, height), seed=seed))
    return out


def demo_checkpoint(work: Path, model_cfg: Path, train_cfg: Path) -> Path:
    """The cached demo model; trained on the fly (tiny model, CPU) when absent."""
    recipe = model_cfg.read_bytes() + train_cfg.read_bytes() + repr(TRAIN_SET).encode()
    key = hashlib.sha256(recipe + generator_key().encode()).hexdigest()[:12]
    ckpt = work / "cache" / f"demo-{key}.pt"
    if ckpt.exists():
        log(f"using cached demo model {ckpt}")
        return ckpt
    from surg_perception.config import load_spec
    from surg_perception.training.config import load_train_config
    from surg_perception.training.trainer import Trainer

    data = synth_data(work, "train-data", **TRAIN_SET)
    run_dir = work / "cache" / f"train-{key}"
    log(f"no cached model: training the tiny model on {data} (CPU, about two minutes)")
    start = time.perf_counter()
    trainer = Trainer(load_spec(model_cfg), load_train_config(train_cfg), data, run_dir,
                      resume=(run_dir / "checkpoints" / "last.pt").exists())
    trainer.fit()
    (run_dir / "model.pt").replace(ckpt)
    log(f"trained in {time.perf_counter() - start:.1f} s -> {ckpt}")
    return ckpt


def load_video(root: Path, spec) -> list:
    """The video's frames with ground truth (:class:`FrameSample`), in camera pixels.

    ``crop="none"``: the node publishes its mask for the whole camera frame, so the truth
    must cover the whole frame too; the mask kind (type ids) is the model's.
    """
    from surg_perception.data.endovis17 import EndoVis17Dataset
    from surg_perception.data.endovis17 import mask_target

    dataset = EndoVis17Dataset(root, [1], target=mask_target(spec), frame_size=None,
                               crop="none")
    return [dataset[i] for i in range(len(dataset))]


# ----------------------------------------------------------------------------- live run


def start_node(ckpt: Path, log_path: Path, score_threshold: float) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "surg_perception.ros.node", "--ros-args",
           "-p", f"model.checkpoint:={ckpt}", "-p", "autostart:=true",
           "-p", f"detection.score_threshold:={score_threshold:g}",
           "-p", "input.qos:=reliable", "-r", f"image:={CAMERA_TOPIC}"]
    log(f"starting apmtl_node: {' '.join(cmd[1:])}")
    return subprocess.Popen(cmd, stdout=log_path.open("w"), stderr=subprocess.STDOUT, cwd=REPO)


def stop_node(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def frame_stamp(t0_ns: int, index: int, fps: float) -> int:
    """Header stamp (ns) of frame ``index`` of a video started at ``t0_ns``."""
    return t0_ns + int(round(index * 1e9 / fps))


def image_message(frame: np.ndarray, stamp_ns: int):
    from std_msgs.msg import Header

    from surg_perception.ros.conversions import numpy_to_image

    header = Header(frame_id=FRAME_ID)
    header.stamp.sec, header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    return numpy_to_image(frame, "rgb8", header)


def run_live(ckpt: Path, frames: list[np.ndarray], fps: float, score_threshold: float,
             out: Path) -> dict:
    """Node process + publisher + recorder; returns what the summary needs.

    The recorder is the only subscriber to the outputs: the drain waits on ITS count of
    ``SurgicalScene`` messages and the counts are read after it closed, so the summary and
    the bag cannot disagree (a second subscription, drained separately, once let the count
    be read while the recorder's copy of the last scene was still queued).
    """
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from surg_perception.ros.recorder import TopicRecorder
    from surg_perception.topics import output_topics

    rclpy.init()
    node = rclpy.create_node("surg_perception_demo")
    proc = start_node(ckpt, out / "node.log", score_threshold)
    diagnostics: list = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    pub = node.create_publisher(Image, CAMERA_TOPIC,
                                QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    topics = list(output_topics(NODE).values())  # exactly what the node publishes
    topics.append((CAMERA_TOPIC, "sensor_msgs/msg/Image"))
    stamps = []
    try:
        with TopicRecorder(node, topics, out / "bag") as recorder:
            wait_for(node, lambda: pub.get_subscription_count() > 0 and
                     node.count_publishers(SCENE_TOPIC) > 0, proc, 120, "node to activate")
            log(f"node active; publishing {len(frames)} frames at {fps:g} fps")
            t0 = time.time_ns()
            for i, frame in enumerate(frames):
                stamps.append(frame_stamp(t0, i, fps))
                pub.publish(image_message(frame, stamps[-1]))
                rclpy.spin_once(node, timeout_sec=0)
                next_at = t0 + (i + 1) * 1e9 / fps
                while time.time_ns() < next_at:
                    rclpy.spin_once(node, timeout_sec=max(0.0, (next_at - time.time_ns()) / 1e9))
            def scenes() -> int:  # what the bag holds, not what another subscriber saw
                return recorder.counts.get(SCENE_TOPIC, 0)

            watch = GrowthWatch(scenes, seconds=5.0)
            wait_for(node, lambda: scenes() >= len(frames) or watch.stalled(), proc, 60,
                     "outputs to drain")
            wait_for(node, lambda: bool(diagnostics), proc, 5, "diagnostics", required=False)
        counts = recorder.counts  # final: the bag is closed, nothing can be added any more
    finally:
        code = stop_node(proc)
        node.destroy_node()
        rclpy.shutdown()
    return {"stamps": stamps, "diagnostics": diagnostics, "counts": counts, "node_exit": code}


class GrowthWatch:
    """Tells when a count stopped growing for ``seconds`` (the node dropped the rest)."""

    def __init__(self, count, seconds: float) -> None:
        self.count_now, self.seconds = count, seconds
        self.count, self.since = -1, time.monotonic()

    def stalled(self) -> bool:
        if self.count_now() != self.count:
            self.count, self.since = self.count_now(), time.monotonic()
        return time.monotonic() - self.since > self.seconds


def wait_for(node, condition, proc, timeout: float, what: str, required: bool = True) -> bool:
    import rclpy

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            raise RuntimeError(f"apmtl_node exited with {proc.returncode} while waiting for "
                               f"{what}")
        rclpy.spin_once(node, timeout_sec=0.1)
    if required:
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
    return False


# ----------------------------------------------------------------------------- outputs


def render(out: Path) -> None:
    from surg_perception.bags.render import rendered_frames, write_strip, write_video

    # the node's own overlay (mask, boxes, activity, fps): what RViz shows
    pictures, fps = rendered_frames(out / "bag", f"{NODE}/overlay")
    write_video(pictures, out / "overlay.mp4", fps)
    write_strip(pictures, out / "overlay_strip.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=REPO / ".demo",
                        help="cache + output folder (default: .demo/)")
    parser.add_argument("--frames", type=int, default=48, help="frames to publish")
    parser.add_argument("--fps", type=float, default=15.0, help="publishing rate")
    parser.add_argument("--score-threshold", type=float, default=0.5,
                        help="the node's detection.score_threshold: boxes below it are neither "
                        "published, drawn nor scored (-1 = the checkpoint's, e.g. 0.05 for "
                        "tiny.yaml: many low boxes, fit for mAP but not for a picture)")
    parser.add_argument("--model-config", type=Path, default=REPO / "config/models/tiny.yaml")
    parser.add_argument("--train-config", type=Path, default=REPO / "config/train/demo.yaml")
    args = parser.parse_args(argv)
    from surg_perception.checkpoint import load_spec_from_checkpoint
    from surg_perception.ros import demo_summary as report

    work = args.work.resolve()
    out = work / time.strftime("run-%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    ckpt = demo_checkpoint(work, args.model_config, args.train_config)
    spec = load_spec_from_checkpoint(ckpt)
    video = synth_data(work, "video", 1, args.frames, VIDEO_SIZE, VIDEO_SEED)
    truths = load_video(video, spec)
    live = run_live(ckpt, [t.image for t in truths], args.fps, args.score_threshold, out)
    render(out)
    scenes = report.recorded_scenes(out / "bag", SCENE_TOPIC)
    scores = report.score_video(scenes, live["stamps"], truths, spec.model)
    about = {"model": spec.model.name, "checkpoint": str(ckpt),
             "train_config": args.train_config.name, "train_set": TRAIN_SET,
             "video": {"frames": len(truths), "size": VIDEO_SIZE, "seed": VIDEO_SEED,
                       "sequence": 1, "path": str(video)},
             "score_threshold": args.score_threshold}
    summary = report.summarise(live, scenes, scores, about, out)
    report.print_summary(summary)
    return 0 if summary["frames_out"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
