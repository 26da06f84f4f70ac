"""`make demo` end to end: train (tiny schedule), node process over DDS, bag, overlays, summary."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed (run `make env`)")


@pytest.mark.slow
@pytest.mark.ros
def test_demo_runs_end_to_end(tmp_path, repo_root):
    work = tmp_path / "demo"
    cmd = [sys.executable, "-m", "surg_perception.demo", "--work", str(work),
           "--frames", "16", "--model-config", str(repo_root / "config/models/tiny.yaml"),
           "--train-config", str(repo_root / "config/train/tiny.yaml")]
    proc = subprocess.run(cmd, cwd=repo_root, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "=== surg_perception demo ===" in proc.stdout

    (run,) = sorted(work.glob("run-*"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["frames_sent"] == 16
    assert 0 < summary["frames_out"] <= 16
    for path in summary["files"].values():
        assert (run / path.split("/")[-1]).exists(), path
    assert (run / "overlay.mp4").stat().st_size > 0
    counts = summary["recorded_messages"]
    for topic in ("/apmtl_node/scene", "/apmtl_node/overlay", "/apmtl_node/detections",
                  "/apmtl_node/label_info/segmentation", "/jhu_daVinci/left/image_raw"):
        assert counts.get(topic, 0) > 0, f"nothing recorded on {topic}: {counts}"
    assert counts["/apmtl_node/scene"] == summary["frames_out"]
    # every scene the node published is in the bag (the drain waits for it, no tolerance)
    assert summary["frames_out"] == int(summary["frames_processed"])
    # scored on exactly the frames the node answered, against the held-out video's truth
    scores = summary["scores"]
    assert scores["frames"] == 16 and scores["frames_scored"] == summary["frames_out"]
    assert summary["video"]["seed"] != summary["train_set"]["seed"]
    for key in ("binary_dice", "type_dice", "type_iou", "map50", "activity_accuracy"):
        assert scores[key] is None or 0.0 <= scores[key] <= 1.0, (key, scores)
    assert scores["binary_dice"] is not None  # every synthetic frame shows an instrument
    assert "binary Dice" in proc.stdout and "mAP@0.5" in proc.stdout
    # a second run (stereo: make demo STEREO=1) reuses the cached model instead of training
    again = subprocess.run([*cmd, "--stereo"], cwd=repo_root, capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "using cached demo model" in again.stdout
    assert "instruments (stereo)" in again.stdout and "3D tip error at" in again.stdout
    assert "id switches" in again.stdout
    stereo_run = next(r for r in sorted(work.glob("run-*")) if r != run)
    stereo = json.loads((stereo_run / "summary.json").read_text())
    counts = stereo["recorded_messages"]
    for topic in ("/apmtl_node/instruments", "/jhu_daVinci/right/image_raw",
                  "/jhu_daVinci/left/camera_info", "/jhu_daVinci/right/camera_info"):
        assert counts.get(topic, 0) > 0, f"nothing recorded on {topic}: {counts}"
    inst = stereo["instruments"]
    assert inst["frames"] == counts["/apmtl_node/instruments"] == stereo["frames_out"]
    assert 0 < inst["stereo_arrays"] <= inst["frames"]  # the rig and pairs reached the node
    assert inst["mot"]["id_switches_per_instrument_300"] >= 0.0
