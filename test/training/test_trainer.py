"""The training loop: losses fall, the run directory is complete, resume is exact."""

import dataclasses

import pytest
import torch

from surg_perception.checkpoint import load_checkpoint_dict, load_model
from surg_perception.config import load_spec
from surg_perception.training.config import PhaseConfig, load_train_config
from surg_perception.training.trainer import Trainer

from support.training import overfit_fixed_batch

TASKS = ("seg", "det_loc", "det_conf", "activity", "hog")


def test_overfitting_a_fixed_batch_lowers_every_task_loss(synth_root, tiny_spec, short_cfg,
                                                          tmp_path):
    cfg = dataclasses.replace(short_cfg, augment=False, lr=3e-3,
                              phases=(PhaseConfig("end_to_end", iterations=16),))
    trainer = Trainer(tiny_spec, cfg, synth_root, tmp_path)
    logs = overfit_fixed_batch(trainer, 16)
    for task in TASKS:
        first = sum(log[task] for log in logs[:3]) / 3
        last = sum(log[task] for log in logs[-3:]) / 3
        assert last < first, f"{task}: {first:.4f} -> {last:.4f}"


def test_resume_reproduces_the_uninterrupted_run(synth_root, tiny_spec, short_cfg, tmp_path):
    trainer = Trainer(tiny_spec, short_cfg, synth_root, tmp_path / "full")
    assert trainer.stream.per_epoch == 4  # the 6 steps cross an epoch boundary
    full = trainer.fit()
    assert [h["step"] for h in full] == list(range(1, 7))

    interrupted = tmp_path / "interrupted"
    first = Trainer(tiny_spec, short_cfg, synth_root, interrupted).fit(max_steps=3)
    assert len(first) == 3 and not (interrupted / "model.pt").exists()
    resumed = Trainer(tiny_spec, short_cfg, synth_root, interrupted, resume=True)
    assert resumed.step == 3
    rest = resumed.fit()
    assert [h["step"] for h in rest] == [4, 5, 6]
    for expected, got in zip(full[3:], rest):
        assert got.keys() == expected.keys()
        for key in expected:
            assert got[key] == pytest.approx(expected[key], rel=1e-5, abs=1e-6), key
    final_full = load_checkpoint_dict(tmp_path / "full" / "model.pt")["state_dict"]
    final_resumed = load_checkpoint_dict(interrupted / "model.pt")["state_dict"]
    for name, tensor in final_full.items():
        torch.testing.assert_close(final_resumed[name], tensor, rtol=1e-5, atol=1e-6)
    rows = (interrupted / "train_log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [1, 2, 3, 4, 5, 6]


def test_run_directory_holds_config_logs_and_a_loadable_model(synth_root, tiny_spec, short_cfg,
                                                              tmp_path):
    cfg = dataclasses.replace(short_cfg, phases=(PhaseConfig("detection", iterations=1),))
    Trainer(tiny_spec, cfg, synth_root, tmp_path).fit()
    assert load_spec(tmp_path / "config.yaml") == tiny_spec
    assert load_train_config(tmp_path / "config.yaml") == cfg
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    header, row = (tmp_path / "train_log.csv").read_text().splitlines()[:2]
    assert header.startswith("step,phase,lr,total,seg") and row.startswith("1,detection,")
    state = load_checkpoint_dict(tmp_path / "checkpoints" / "last.pt")["extra"]["train_state"]
    assert state["step"] == 1 and "optimizer" in state and "rng" in state
    model, spec = load_model(tmp_path / "model.pt")
    # save_checkpoint records the channel widths; everything else is the configured model.
    assert dataclasses.replace(spec.model, channel_widths=()) == tiny_spec.model
    out, _ = model(torch.zeros(1, 3, *spec.preprocess.input_size))
    assert out.seg_logits.shape[1] == len(spec.model.seg_classes)
