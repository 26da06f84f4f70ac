"""``make demo``'s summary: the recorded bag -> latency, counts and the model's scores.

Everything here reads the bag the demo recorded (rosbags decoding, no rclpy): the scores are
those of what the node PUBLISHED, paired with the generator's ground truth by header stamp
(the demo knows the stamp of every frame it sent) and computed by
:mod:`surg_perception.evaluation.stream_scores`. A frame without a recorded
``SurgicalScene`` (the node dropped it) is counted, not scored. Stereo: the recorded
``InstrumentArray`` messages are scored against the generator's 3D ground truth
(:mod:`surg_perception.evaluation.instruments`, matched by box IoU: the messages carry
boxes, not masks), on the frames the node answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from surg_perception.bags import typestore as ts
from surg_perception.bags.decode import detections_from_message, top_activity
from surg_perception.bags.storage import BagReader
from surg_perception.data.sample import FrameSample
from surg_perception.evaluation.instrument_report import summary_lines
from surg_perception.evaluation.instruments import (
    Estimate,
    ScoreConfig,
    read_sequence_truth,
    score_instruments,
)
from surg_perception.evaluation.report import fmt, write_json
from surg_perception.evaluation.stream_scores import FramePrediction, score_stream
from surg_perception.image_msgs import mask_to_numpy


def recorded_scenes(bag: Path, topic: str) -> list[Any]:
    """Every message on ``topic`` of the bag (``SurgicalScene``, ``InstrumentArray``: rosbags
    objects, in receive order)."""
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


def instrument_estimates(array: Any) -> list[Estimate]:
    """One recorded ``InstrumentArray`` -> scored estimates (box, 2D tip, valid 3D tip)."""
    out = []
    for inst in array.instruments:
        c, w, h = inst.box.center.position, inst.box.size_x, inst.box.size_y
        tip_3d = ((inst.tip_3d.x, inst.tip_3d.y, inst.tip_3d.z) if inst.tip_3d_valid
                  else None)
        out.append(Estimate(int(inst.track_id), int(inst.class_id), None,
                            (float(inst.tip_2d.x), float(inst.tip_2d.y)), tip_3d,
                            (c.x - w / 2, c.y - h / 2, c.x + w / 2, c.y + h / 2)))
    return out


def score_instruments_video(arrays: list[Any], stamps: list[int], seq_dir: Path) -> dict:
    """Tip errors, id switches and CLEAR-MOT of the recorded arrays on the frames the node
    answered (paired by stamp with ``stamps``), against ``seq_dir``'s ``synth_gt.jsonl``."""
    by_stamp = {ts.stamp_ns(a.header): a for a in arrays}
    truth = read_sequence_truth(seq_dir)[:len(stamps)]
    kept = [(t, by_stamp[s]) for t, s in zip(truth, stamps) if s in by_stamp]
    scores = score_instruments([([t for t, _ in kept],
                                 [instrument_estimates(a) for _, a in kept])],
                               ScoreConfig(match="box"))
    scores["stereo_arrays"] = sum(bool(a.stereo) for _, a in kept)
    scores["setup"] = {"match": "box", "match_iou": 0.5, "about": "recorded ~/instruments"}
    return scores


def summarise(live: dict, scenes: list[Any], scores: dict, about: dict, out: Path,
              instruments: dict | None = None) -> dict:
    """The summary dict, also written to ``out/summary.json`` (NaN = no value -> null);
    ``instruments``: :func:`score_instruments_video`'s scores (stereo)."""
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
    if instruments is not None:
        summary["instruments"] = instruments
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
    if "instruments" in summary:
        inst = summary["instruments"]
        print(f"instruments (stereo)   : {inst['frames']} frames, {inst['stereo_arrays']} "
              f"with a stereo pair, matched by box IoU >= 0.5")
        for line in summary_lines(inst):
            print(f"  {line}")
    print(f"messages recorded      : {sum(summary['recorded_messages'].values())} "
          f"on {len(summary['recorded_messages'])} topics")
    for name, path in summary["files"].items():
        print(f"{name:<23}: {path}")
