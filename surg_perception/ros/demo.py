"""``make demo``: the main job end to end on this machine.

1. writes a short synthetic endoscope sequence (and a small training set) in the EndoVis
   2017 layout;
2. takes the demo checkpoint from the cache, or trains the tiny model on the fly (ATO, CPU);
3. starts ``apmtl_node`` as a real process (autostart) on ``/jhu_daVinci/left/image_raw``;
4. publishes the frames over DDS at video rate and records every output topic (and the
   input) into a rosbag2 (mcap) file;
5. renders an overlay video and an image strip from that bag and prints a summary.

Run ``python -m surg_perception.ros.demo --help`` for the options.
"""

from __future__ import annotations

import argparse
import hashlib
import json
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


def log(text: str) -> None:
    print(f"[demo] {text}", flush=True)


# ----------------------------------------------------------------------------- data + model


def synth_data(root: Path, name: str, sequences: int, frames: int, seed: int) -> Path:
    """A synthetic dataset under ``root/name``, reused when it already exists."""
    from surg_perception.data.synth import SynthConfig, write_synth_dataset

    out = root / name
    if not (out / "manifest.json").exists():
        write_synth_dataset(out, SynthConfig(sequences=sequences, frames=frames, seed=seed))
    return out


def demo_checkpoint(work: Path, model_cfg: Path, train_cfg: Path) -> Path:
    """The cached demo model; trained on the fly (tiny model, CPU) when absent."""
    key = hashlib.sha256(model_cfg.read_bytes() + train_cfg.read_bytes()).hexdigest()[:12]
    ckpt = work / "cache" / f"demo-{key}.pt"
    if ckpt.exists():
        log(f"using cached demo model {ckpt}")
        return ckpt
    from surg_perception.config import load_spec
    from surg_perception.training.config import load_train_config
    from surg_perception.training.trainer import Trainer

    data = synth_data(work, "train-data", sequences=4, frames=16, seed=0)
    run_dir = work / "cache" / f"train-{key}"
    log(f"no cached model: training the tiny model on {data} (CPU, about a minute)")
    start = time.perf_counter()
    trainer = Trainer(load_spec(model_cfg), load_train_config(train_cfg), data, run_dir,
                      resume=(run_dir / "checkpoints" / "last.pt").exists())
    trainer.fit()
    (run_dir / "model.pt").replace(ckpt)
    log(f"trained in {time.perf_counter() - start:.1f} s -> {ckpt}")
    return ckpt


def load_frames(seq_dir: Path) -> list[np.ndarray]:
    """BGR frames of one synthetic sequence, in order."""
    import cv2

    paths = sorted((seq_dir / "left_frames").glob("frame*.png"))
    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths]


# ----------------------------------------------------------------------------- live run


def start_node(ckpt: Path, log_path: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "surg_perception.ros.node", "--ros-args",
           "-p", f"model.checkpoint:={ckpt}", "-p", "autostart:=true",
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


def image_message(frame: np.ndarray, index: int, fps: float, t0_ns: int):
    from surg_perception.ros.conversions import numpy_to_image
    from std_msgs.msg import Header

    header = Header(frame_id=FRAME_ID)
    stamp = t0_ns + int(round(index * 1e9 / fps))
    header.stamp.sec, header.stamp.nanosec = divmod(stamp, 1_000_000_000)
    return numpy_to_image(frame, "bgr8", header)


def run_live(ckpt: Path, frames: list[np.ndarray], fps: float, out: Path) -> dict:
    """Node process + publisher + recorder; returns what the summary needs."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from surg_perception.msg import SurgicalScene
    from surg_perception.ros.offline import output_topics
    from surg_perception.ros.recorder import TopicRecorder

    rclpy.init()
    node = rclpy.create_node("surg_perception_demo")
    proc = start_node(ckpt, out / "node.log")
    scenes: list = []
    diagnostics: list = []
    node.create_subscription(SurgicalScene, f"{NODE}/scene", scenes.append, 100)
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    pub = node.create_publisher(Image, CAMERA_TOPIC,
                                QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    topics = list(output_topics(NODE).values())  # exactly what the node publishes
    topics.append((CAMERA_TOPIC, "sensor_msgs/msg/Image"))
    try:
        with TopicRecorder(node, topics, out / "bag") as recorder:
            wait_for(node, lambda: pub.get_subscription_count() > 0 and
                     node.count_publishers(f"{NODE}/scene") > 0, proc, 120, "node to activate")
            log(f"node active; publishing {len(frames)} frames at {fps:g} fps")
            t0 = time.time_ns()
            for i, frame in enumerate(frames):
                pub.publish(image_message(frame, i, fps, t0))
                rclpy.spin_once(node, timeout_sec=0)
                next_at = t0 + (i + 1) * 1e9 / fps
                while time.time_ns() < next_at:
                    rclpy.spin_once(node, timeout_sec=max(0.0, (next_at - time.time_ns()) / 1e9))
            watch = GrowthWatch(scenes, seconds=5.0)
            wait_for(node, lambda: len(scenes) >= len(frames) or watch.stalled(), proc, 60,
                     "outputs to drain")
            wait_for(node, lambda: bool(diagnostics), proc, 5, "diagnostics", required=False)
            counts = recorder.counts
    finally:
        code = stop_node(proc)
        node.destroy_node()
        rclpy.shutdown()
    return {"scenes": scenes, "diagnostics": diagnostics, "counts": counts, "node_exit": code}


class GrowthWatch:
    """Tells when a list stopped growing for ``seconds`` (the node dropped the remaining frames)."""

    def __init__(self, items: list, seconds: float) -> None:
        self.items, self.seconds = items, seconds
        self.count, self.since = -1, time.monotonic()

    def stalled(self) -> bool:
        if len(self.items) != self.count:
            self.count, self.since = len(self.items), time.monotonic()
        return time.monotonic() - self.since > self.seconds


def wait_for(node, condition, proc, timeout: float, what: str, required: bool = True) -> bool:
    import rclpy

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            raise RuntimeError(f"apmtl_node exited with {proc.returncode} while waiting for {what}")
        rclpy.spin_once(node, timeout_sec=0.1)
    if required:
        raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
    return False


# ----------------------------------------------------------------------------- summary


def diagnostics_values(diagnostics: list) -> dict[str, str]:
    values: dict[str, str] = {}
    for array in diagnostics[-1:]:
        for status in array.status:
            values.update({kv.key: kv.value for kv in status.values})
    return values


def summarise(live: dict, sent: int, out: Path) -> dict:
    latencies = np.array([s.latency_ms for s in live["scenes"]], dtype=np.float64)
    diag = diagnostics_values(live["diagnostics"])
    summary = {
        "frames_sent": sent,
        "frames_out": len(live["scenes"]),
        "dropped": diag.get("dropped", "n/a"),
        "rejected": diag.get("rejected", "n/a"),
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies.size else None,
        "latency_ms_p99": float(np.percentile(latencies, 99)) if latencies.size else None,
        "memory_resets": int(sum(s.memory_reset for s in live["scenes"])),
        "recorded_messages": live["counts"],
        "node_exit_code": live["node_exit"],
        "files": {"bag": str(out / "bag"), "video": str(out / "overlay.mp4"),
                  "strip": str(out / "overlay_strip.png"), "node_log": str(out / "node.log")},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def render(out: Path) -> None:
    from surg_perception.bags.render import rendered_frames, write_strip, write_video

    # the node's own overlay (mask, boxes, activity, fps): what RViz shows
    pictures, fps = rendered_frames(out / "bag", f"{NODE}/overlay")
    write_video(pictures, out / "overlay.mp4", fps)
    write_strip(pictures, out / "overlay_strip.png")


def print_summary(summary: dict) -> None:
    p50, p99 = summary["latency_ms_p50"], summary["latency_ms_p99"]
    lat = f"{p50:.1f} / {p99:.1f} ms" if p50 is not None else "n/a"
    print("\n=== surg_perception demo ===")
    print(f"frames in / out        : {summary['frames_sent']} / {summary['frames_out']}")
    print(f"dropped / rejected     : {summary['dropped']} / {summary['rejected']}")
    print(f"latency p50 / p99      : {lat} (image received -> results ready)")
    print(f"messages recorded      : {sum(summary['recorded_messages'].values())} "
          f"on {len(summary['recorded_messages'])} topics")
    for name, path in summary["files"].items():
        print(f"{name:<23}: {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=REPO / ".demo",
                        help="cache + output folder (default: .demo/)")
    parser.add_argument("--frames", type=int, default=48, help="frames to publish")
    parser.add_argument("--fps", type=float, default=15.0, help="publishing rate")
    parser.add_argument("--model-config", type=Path, default=REPO / "config/models/tiny.yaml")
    parser.add_argument("--train-config", type=Path, default=REPO / "config/train/demo.yaml")
    args = parser.parse_args(argv)

    work = args.work.resolve()
    out = work / time.strftime("run-%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    ckpt = demo_checkpoint(work, args.model_config, args.train_config)
    video = synth_data(work, f"video-{args.frames}", sequences=1, frames=args.frames, seed=7)
    frames = load_frames(video / "instrument_dataset_1")
    live = run_live(ckpt, frames, args.fps, out)
    render(out)
    summary = summarise(live, len(frames), out)
    print_summary(summary)
    return 0 if summary["frames_out"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
