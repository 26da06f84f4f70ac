"""``make demo``'s summary: the recorded bag -> latency, counts and the model's scores.

Everything here reads the bag the demo recorded (rosbags decoding, no rclpy): the scores are
those of what the node PUBLISHED, paired with the generator's ground truth by header stamp
(the demo knows the stamp of every frame it sent) and computed by
:mod:`surg_perception.evaluation.stream_scores`. A frame without a recorded
``SurgicalScene`` (the node dropped it) is counted, not scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from surg_perception.bags import typestore as ts
from surg_perception.bags.decode import detections_from_message, top_activity
from surg_perception.bags.storage import BagReader
from surg_perception.data.sample import FrameSample
from surg_perception.evaluation.report import fmt, write_json
from surg_perception.evaluation.stream_scores import FramePrediction, score_stream
from surg_perception.image_msgs import mask_to_numpy


def recorded_scenes(bag: Path, topic: str) -> list[Any]:
    """Every ``SurgicalScene`` on ``topic`` of the bag (rosbags objects, in receive order)."""
    with BagReader(bag) as reader:
        return [ts.deserialize(m.raw, m.msgtype) for m in reader.messages({topic})]


def scene_prediction(scene: Any) -> FramePrediction:
    """One ``SurgicalScene`` -> :class:`FramePrediction` (camera pixels, as published)."""
    boxes, scores, labels = detections_from_message(scene.detections)
    mask = np.array(mask_to_numpy(scene.mask))
    return FramePrediction(mask, boxes, scores, labels, top_activity(scene.activity))


def stream_predictions(scenes: list[Any], stamps: list[int]) -> list[FramePrediction | None]:
    """One prediction per frame sent (``stamps`` in ns), paired by header stamp; None when the
    node published nothing for that frame. Scenes of other stamps are ignored."""
    by_stamp = {ts.stamp_ns(scene.header): scene for scene in scenes}
    return [scene_prediction(by_stamp[s]) if s in by_stamp else None for s in stamps]


def score_video(scenes: list[Any], stamps: list[int], truths: list[FrameSample],
                model: Any) -> dict:
    """The model's scores on exactly the frames it was shown (``model``: its ModelConfig)."""
    return score_stream(stream_predictions(scenes, stamps), truths, model.seg_classes,
                        len(model.activity_classes))


def summarise(live: dict, scenes: list[Any], scores: dict, about: dict, out: Path) -> dict:
    """The summary dict, also written to ``out/summary.json`` (NaN = no value -> null)."""
    latencies = np.array([s.latency_ms for s in scenes], dtype=np.float64)
    diag = live["diagnostics"]  # the node's last /diagnostics values
    summary = {
        **about,
        "frames_sent": len(live["stamps"]),
        "frames_out": len(scenes),
        # what the node says it published (the demo drained until the bag held all of them)
        "frames_processed": diag.get("processed", "n/a"),
        "dropped": diag.get("dropped", "n/a"),
        "rejected": diag.get("rejected", "n/a"),
        "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies.size else None,
        "latency_ms_p99": float(np.percentile(latencies, 99)) if latencies.size else None,
        "memory_resets": int(sum(bool(s.memory_reset) for s in scenes)),
        "scores": scores,
        "recorded_messages": live["counts"],
        "node_exit_code": live["node_exit"],
        "files": {"bag": str(out / "bag"), "video": str(out / "overlay.mp4"),
                  "strip": str(out / "overlay_strip.png"), "node_log": str(out / "node.log")},
    }
    write_json(out / "summary.json", summary)
    return summary


def print_summary(summary: dict) -> None:
    p50, p99 = summary["latency_ms_p50"], summary["latency_ms_p99"]
    lat = f"{p50:.1f} / {p99:.1f} ms" if p50 is not None else "n/a"
    train, video, s = summary["train_set"], summary["video"], summary["scores"]
    isinet = s.get("protocol", {})
    threshold = summary["score_threshold"]
    kept = f"score >= {threshold:g}" if threshold >= 0 else "the checkpoint's score threshold"
    print("\n=== surg_perception demo ===")
    print(f"model                  : {summary['model']} ({summary['train_config']}), trained "
          f"on {train['sequences']} x {train['frames']} synthetic frames "
          f"{train['size'][0]}x{train['size'][1]}, seed {train['seed']}")
    print(f"video (held out)       : {video['frames']} frames {video['size'][0]}x"
          f"{video['size'][1]}, seed {video['seed']}: no frame of it was trained on")
    print(f"frames in / out        : {summary['frames_sent']} / {summary['frames_out']}")
    print(f"dropped / rejected     : {summary['dropped']} / {summary['rejected']} "
          "(the node's last /diagnostics)")
    print(f"latency p50 / p99      : {lat} (image received -> results ready)")
    print(f"scores on the video    : {s['frames_scored']} of {s['frames']} frames scored "
          f"(frames without output are not)")
    print(f"  binary Dice / IoU    : {fmt(s['binary_dice'])} / {fmt(s['binary_iou'])}")
    print(f"  type Dice / IoU      : {fmt(s['type_dice'])} / {fmt(s['type_iou'])}")
    print(f"  ISINet IoU / Ch. IoU : {fmt(isinet.get('iou'))} / "
          f"{fmt(isinet.get('challenge_iou'))}, mcIoU {fmt(isinet.get('mc_iou'))}")
    print(f"  mAP@0.5              : {fmt(s['map50'])} (published boxes: {kept})")
    print(f"  activity accuracy    : {fmt(s.get('activity_accuracy'))}")
    print(f"messages recorded      : {sum(summary['recorded_messages'].values())} "
          f"on {len(summary['recorded_messages'])} topics")
    for name, path in summary["files"].items():
        print(f"{name:<23}: {path}")
