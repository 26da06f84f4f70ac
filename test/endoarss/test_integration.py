"""EndoARSS through every shared interface: train, evaluate, export, process-bag, the node.

One short training run (``config/train/endoarss_tiny.yaml``, tiny ViT, CPU) produces the
checkpoint every other test loads, exactly as a user switches family by checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
import signal

import numpy as np
import pytest
import torch

from surg_perception.checkpoint import load_model
from surg_perception.cli import main as cli_main
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.errors import ConfigError
from surg_perception.models.endoarss import EndoARSS, trainable_parameter_groups
from surg_perception.training import ato
from surg_perception.training.config import PhaseConfig, load_train_config
from surg_perception.training.trainer import Trainer

from support.training import overfit_fixed_batch

REPO = Path(__file__).resolve().parents[2]
MODEL_YAML = REPO / "config" / "models" / "endoarss_tiny.yaml"
TRAIN_YAML = REPO / "config" / "train" / "endoarss_tiny.yaml"
WIDTH, HEIGHT = 128, 96
START_TIMEOUT_S = 120.0  # bounds a wait, never asserts on speed


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("arss_synth")
    write_synth_dataset(root, SynthConfig(sequences=2, frames=4, size=(WIDTH, HEIGHT), seed=0))
    return root


@pytest.fixture(scope="module")
def trained(synth_root, tiny_spec, tmp_path_factory):
    """The configured schedule run to its end: (trainer, history, frozen params before)."""
    torch.set_num_threads(1)
    trainer = Trainer(tiny_spec, load_train_config(TRAIN_YAML), synth_root,
                      tmp_path_factory.mktemp("arss_run"))
    frozen = {name: p.detach().clone() for name, p in trainer.model.named_parameters()
              if not p.requires_grad}
    history = trainer.fit()
    return trainer, history, frozen


@pytest.fixture(scope="module")
def checkpoint(trained) -> Path:
    return trained[0].run_dir / "model.pt"


# --------------------------------------------------------------------------- training


def test_schedule_trains_seg_and_activity_with_finite_falling_losses(trained):
    trainer, history, _ = trained
    assert len(history) == trainer.total_steps == 12
    for log in history:
        assert set(log) == {"step", "seg", "activity", "total"}  # no det/hog terms
        assert all(np.isfinite(v) for v in log.values())
        # the configured weighting: seg 1.0, activity 0.5 (one frame per clip)
        assert log["total"] == pytest.approx(log["seg"] + 0.5 * log["activity"], rel=1e-5)
    first = np.mean([h["total"] for h in history[:4]])
    last = np.mean([h["total"] for h in history[-4:]])
    assert last < first, (first, last)


def test_frozen_backbone_unchanged_and_only_adapters_trained(trained):
    trainer, _, frozen = trained
    params = dict(trainer.model.named_parameters())
    assert frozen and all(name.startswith("backbone.vit.") for name in frozen)
    for name, before in frozen.items():
        assert torch.equal(params[name], before), name
    # raises if a trainable parameter lies outside LoRA / adapters / SMA / heads
    groups = trainable_parameter_groups(trainer.model)
    trainable = {id(p) for p in trainer.model.parameters() if p.requires_grad}
    assert trainable == {id(p) for group in groups.values() for p in group}
    # zero-initialised LoRA "up" factors moved: the shared LoRA did train
    assert any(bool(p.abs().sum() > 0) for p in groups["shared_lora"])


def test_fixed_batch_overfits_both_tasks(synth_root, tiny_spec, tmp_path):
    cfg = dataclasses.replace(load_train_config(TRAIN_YAML),
                              phases=(PhaseConfig("end_to_end", iterations=12),))
    trainer = Trainer(tiny_spec, cfg, synth_root, tmp_path)
    logs = overfit_fixed_batch(trainer, 12)
    for task in ("seg", "activity"):
        first = np.mean([log[task] for log in logs[:3]])
        last = np.mean([log[task] for log in logs[-3:]])
        assert last < first, f"{task}: {first:.4f} -> {last:.4f}"


@pytest.mark.parametrize("phase", ["detection", "segmentation"])
def test_apmtl_only_phases_are_refused_with_a_remedy(tiny_spec, phase):
    from surg_perception.models.registry import build_model

    model = build_model(tiny_spec.model)
    with pytest.raises(ConfigError, match="end_to_end phase only"):
        ato.apply_phase(model, phase, ato.base_trainable(model))


def test_model_pt_loads_as_the_trained_endoarss(trained, checkpoint, tiny_spec):
    trainer, _, _ = trained
    model, spec = load_model(checkpoint)
    assert isinstance(model, EndoARSS) and spec.model.family == "endoarss"
    assert dataclasses.replace(spec.model, channel_widths=()) == tiny_spec.model
    images = torch.randn(2, 3, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want, _ = trainer.model.eval()(images)
        got, state = model.eval()(images)
    assert state is None
    torch.testing.assert_close(got.seg_logits, want.seg_logits)
    torch.testing.assert_close(got.activity_logits, want.activity_logits)


def test_train_command_selects_the_family_from_the_model_config(synth_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["train", "--model-config", str(MODEL_YAML), "--train-config",
                     str(TRAIN_YAML), "--data", str(synth_root), "--out", str(out)]) == 0
    assert "model written to" in capsys.readouterr().out
    model, spec = load_model(out / "model.pt")
    assert isinstance(model, EndoARSS) and spec.model.family == "endoarss"
    assert "family: endoarss" in (out / "config.yaml").read_text()


# --------------------------------------------------------------------------- evaluation


def test_evaluate_reports_null_map_without_a_detection_head(checkpoint, synth_root, tmp_path,
                                                            capsys):
    assert cli_main(["evaluate", str(checkpoint), "--data", str(synth_root), "--out",
                     str(tmp_path), "--max-frames", "2"]) == 0
    assert "mAP@0.5 n/a" in capsys.readouterr().out
    report = json.loads((tmp_path / "report.json").read_text())
    overall = report["overall"]
    assert overall["frames"] == 4 and overall["map50"] is None
    assert all(s["map50"] is None for s in report["sequences"].values())
    assert 0.0 <= overall["box_fill_on"]["binary_dice"] <= 1.0
    assert 0.0 <= overall["activity_accuracy"] <= 1.0
    lines = (tmp_path / "report.md").read_text().splitlines()
    header = next(line for line in lines if "mAP@0.5" in line).split("|")
    row = next(line for line in lines if line.startswith("| box fill on")).split("|")
    assert row[header.index(" mAP@0.5 ")].strip() == "n/a"


# --------------------------------------------------------------------------- export


def test_export_has_no_state_or_detection_outputs_and_matches_eager(checkpoint, tmp_path,
                                                                   capsys):
    pytest.importorskip("onnxruntime")
    from surg_perception.export.onnx import ATOL, read_metadata, verify_onnx

    path = tmp_path / "arss.onnx"
    assert cli_main(["export", str(checkpoint), "--out", str(path),
                     "--verify-frames", "2"]) == 0
    assert "onnxruntime matches PyTorch" in capsys.readouterr().out
    meta = read_metadata(path)
    assert json.loads(meta["inputs"]) == ["image"]
    assert json.loads(meta["outputs"]) == ["seg_logits", "class_mask", "activity_probs"]
    assert json.loads(meta["state_names"]) == []
    assert json.loads(meta["spec"])["model"]["family"] == "endoarss"
    model, spec = load_model(checkpoint)
    assert verify_onnx(path, model, spec, frames=2, seed=5) <= ATOL


# --------------------------------------------------------------------------- bags


def test_process_bag_writes_the_node_outputs_without_detections(checkpoint, tmp_path):
    pytest.importorskip("rclpy", reason="process-bag builds the node's messages with rclpy")
    from surg_perception.bags import typestore as ts
    from surg_perception.bags.convert import ConvertOptions, convert
    from surg_perception.bags.storage import BagReader
    from surg_perception.ros.process_bag import process_bag

    write_synth_dataset(tmp_path / "seq", SynthConfig(sequences=1, frames=3, size=(96, 80)))
    convert(tmp_path / "seq" / "instrument_dataset_1", tmp_path / "in",
            ConvertOptions(progress=False))
    result = process_bag(tmp_path / "in", tmp_path / "out", checkpoint, progress=False)
    assert result["frames"] == 3
    ns = "/apmtl_node/"
    with BagReader(tmp_path / "out") as reader:
        topics = set(reader.topics)
        assert {ns + n for n in ("mask", "activity", "scene", "label_info/detection")} <= topics
        assert ns + "detections" not in topics
        infos = {m.topic: ts.deserialize(m.raw, m.msgtype)
                 for m in reader.messages([ns + "label_info/detection",
                                           ns + "label_info/segmentation"])}
        scenes = [ts.deserialize(m.raw, m.msgtype) for m in reader.messages([ns + "scene"])]
    assert list(infos[ns + "label_info/detection"].class_map) == []
    assert len(infos[ns + "label_info/segmentation"].class_map) > 1
    assert [len(s.detections.detections) for s in scenes] == [0, 0, 0]
    assert (scenes[0].mask.width, scenes[0].mask.height) == (96, 80)
    assert "map50" not in result["metrics"]


# --------------------------------------------------------------------------- the node


@pytest.mark.ros
def test_node_serves_an_endoarss_checkpoint(start_node, make_probe, checkpoint):
    pytest.importorskip("rclpy")
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Classification, Detection2DArray, LabelInfo

    from surg_perception.msg import SurgicalScene
    from surg_perception.ros.conversions import numpy_to_image
    from surg_perception.ros.messages import diagnostics_values

    name = "arss_node"
    node = start_node(name, {"model.checkpoint": str(checkpoint), "model.device": "cpu",
                             "model.warmup_steps": 1, "autostart": True})
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    probe = make_probe("arss_probe")
    outputs = {topic: probe.subscribe(kind, f"/{name}/{topic}", reliable) for topic, kind in
               {"mask": Image, "scene": SurgicalScene, "activity": Classification,
                "detections": Detection2DArray}.items()}
    infos = {head: probe.subscribe(LabelInfo, f"/{name}/label_info/{head}", latched)
             for head in ("segmentation", "detection", "activity")}
    diagnostics = probe.subscribe(DiagnosticArray, "/diagnostics", 10)
    images = probe.node.create_publisher(Image, "/image", 10)
    try:
        # node names first: a loaded machine may need well over 30 s to import torch + rclpy
        probe.wait_for(lambda: node.alive() and name in probe.node.get_node_names(), "the node",
                       START_TIMEOUT_S)
        probe.wait_for(lambda: node.alive() and probe.state(name) == "active", "autostart",
                       START_TIMEOUT_S)
        probe.wait_for(lambda: images.get_subscription_count() > 0, "the image subscription")
        stamps = []
        for index in range(3):
            pixels = np.random.default_rng(index).integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8)
            msg = numpy_to_image(pixels, "rgb8")
            msg.header.stamp.sec, msg.header.frame_id = 50 + index, "endoscope"
            stamps.append(50 + index)
            for _ in range(3):  # resend if the frame was dropped for a newer one
                images.publish(msg)
                if _wait_quietly(probe, lambda s=50 + index: _has_stamp(outputs["scene"], s)):
                    break
        for topic in ("mask", "scene", "activity"):
            probe.wait_for(lambda t=topic: all(_has_stamp(outputs[t], s) for s in stamps),
                           f"3 frames on ~/{topic}")
        for head, received in infos.items():
            probe.wait_for(lambda r=received: r, f"LabelInfo of {head}")
        values = probe.wait_for(lambda: _node_diagnostics(diagnostics, name, diagnostics_values),
                                "diagnostics")
    finally:
        node.stop(signal.SIGINT)
    assert {(m.width, m.height, m.encoding) for m in outputs["mask"]} == {(WIDTH, HEIGHT, "mono8")}
    for activity in outputs["activity"]:
        assert sum(r.score for r in activity.results) == pytest.approx(1.0, abs=1e-4)
    assert all(len(s.detections.detections) == 0 and len(s.activity.results) > 1
               for s in outputs["scene"])
    assert outputs["detections"] == []  # no detection head: ~/detections stays silent
    assert list(infos["detection"][0].class_map) == []
    assert infos["segmentation"][0].class_map[0].class_name == "background"
    assert len(infos["activity"][0].class_map) > 1
    assert values["has_detection"] == "False" and values["has_activity"] == "True"


def _has_stamp(msgs: list, sec: int) -> bool:
    return any(m.header.stamp.sec == sec for m in msgs)


def _wait_quietly(probe, predicate) -> bool:
    try:
        return bool(probe.wait_for(predicate, "a scene", 20.0))
    except AssertionError:
        return False


def _node_diagnostics(msgs: list, name: str, values_of) -> dict:
    for msg in reversed(msgs):
        values = values_of(msg, f"/{name}")
        if values:
            return values
    return {}
