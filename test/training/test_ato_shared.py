"""ATO's rule for shared parts: no phase moves the trunk under a trained head whose loss is off."""

import dataclasses

import pytest
import torch

from surg_perception.errors import ConfigError
from surg_perception.training import ato
from surg_perception.training.config import (
    PhaseConfig,
    TrainConfig,
    fit_clip_to_memory,
    load_train_config,
)
from surg_perception.training.losses import task_losses, weighted_total
from surg_perception.training.optim import PhaseSpan, build_optimizer
from surg_perception.training.trainer import ClipModel, Trainer


def _clip_losses(trainer: Trainer, batch, phase: str) -> torch.Tensor:
    """The phase's total loss of one clip batch, as ``Trainer.train_step`` computes it."""
    from surg_perception.training.batch import frame_inputs

    steps = [frame_inputs(batch, t, trainer.spec, trainer.device, True)
             for t in range(batch.images.shape[1])]
    outputs = ClipModel(trainer.model)([images for images, _ in steps])
    variances = trainer.spec.model.detection.variances
    return sum(weighted_total(task_losses(out, targets, trainer.priors, variances),
                              trainer.cfg.loss_weights, ato.active_losses(phase))
               for out, (_, targets) in zip(outputs, steps))


@pytest.fixture()
def trainer(synth_root, tiny_spec, short_cfg, tmp_path):
    return Trainer(tiny_spec, dataclasses.replace(short_cfg, augment=False), synth_root, tmp_path)


def test_segmentation_loss_reaches_only_the_segmentation_decoder(trainer):
    model = trainer.model
    ato.apply_phase(model, "segmentation", trainer.base)
    ato.set_train_mode(model, "segmentation")
    _clip_losses(trainer, next(trainer.stream.batches(0)), "segmentation").backward()
    touched = {name.split(".")[0] for name, p in model.named_parameters() if p.grad is not None}
    assert touched == {"seg_decoder"}
    assert all(p.grad is None for p in model.memory.parameters())


def test_a_segmentation_step_leaves_detection_and_activity_outputs_unchanged(trainer):
    model, batch = trainer.model, next(trainer.stream.batches(0))
    images = torch.randn(2, 3, *trainer.spec.preprocess.input_size)

    def heads():
        model.eval()
        with torch.no_grad():
            out, state = model(images[:1])
            out, _ = model(images[1:], state=state)  # through the memory
        return out.det_logits, out.det_deltas, out.activity_logits, out.seg_logits

    before = heads()
    span = PhaseSpan("segmentation", 0, 2, trainer.cfg.lr)
    optimizer, scheduler = build_optimizer(ato.apply_phase(model, "segmentation", trainer.base),
                                           trainer.cfg, span)
    trainer.train_step(ClipModel(model), batch, "segmentation", optimizer, scheduler)
    after = heads()
    for name, old, new in zip(("det_logits", "det_deltas", "activity"), before, after):
        assert torch.equal(old, new), name
    assert not torch.equal(before[3], after[3])  # the segmentation did train


def test_activity_head_trains_with_the_memory_in_the_detection_phase(trainer):
    model = trainer.model
    ato.apply_phase(model, "detection", trainer.base)
    assert {"activity_head", "memory"} <= set(ato.phase_modules(model, "detection"))
    assert "activity" in ato.active_losses("detection")
    # The activity head reads the memory's output: its loss alone moves the memory.
    ato.set_train_mode(model, "detection")
    batch = next(trainer.stream.batches(0))
    from surg_perception.training.batch import frame_inputs

    steps = [frame_inputs(batch, t, trainer.spec, trainer.device, True) for t in range(2)]
    outputs = ClipModel(model)([images for images, _ in steps])
    loss = task_losses(outputs[-1], steps[-1][1], trainer.priors, (0.1, 0.2))["activity"]
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.memory.parameters())


def test_schedules_that_move_the_trunk_under_a_trained_head_are_refused():
    with pytest.raises(ConfigError, match=r"phase 2 \('detection'\).*\['seg'\]"):
        TrainConfig(phases=(PhaseConfig("segmentation", iterations=1),
                            PhaseConfig("detection", iterations=1)))
    with pytest.raises(ConfigError, match="end_to_end"):
        ato.check_schedule(["end_to_end", "detection"])
    for fine in (["detection", "segmentation", "end_to_end"], ["segmentation", "end_to_end"],
                 ["detection", "detection", "segmentation"], ["end_to_end", "segmentation"]):
        ato.check_schedule(fine)


@pytest.mark.parametrize("name", ["ato", "demo", "synthetic", "tiny", "endoarss_tiny"])
def test_shipped_schedules_follow_the_rule_and_fill_the_memory(repo_root, tiny_spec, name):
    cfg = load_train_config(repo_root / "config" / "train" / f"{name}.yaml")  # checks the rule
    if name != "endoarss_tiny":  # the EndoARSS family has no memory (clips of one frame)
        assert cfg.clip_length >= tiny_spec.model.memory.tau
    if name in ("demo", "synthetic"):
        assert cfg.augment


def test_short_clips_are_lengthened_to_tau_with_a_message(synth_root, tiny_spec, short_cfg,
                                                          tmp_path):
    short = dataclasses.replace(short_cfg, clip_length=2)
    fitted, note = fit_clip_to_memory(short, tiny_spec.model.memory)
    assert fitted.clip_length == tiny_spec.model.memory.tau == 4
    assert "clip_length 2" in note and "tau 4" in note
    assert fit_clip_to_memory(fitted, tiny_spec.model.memory) == (fitted, None)
    off = dataclasses.replace(tiny_spec.model.memory, enabled=False)
    assert fit_clip_to_memory(short, off) == (short, None)
    with pytest.warns(UserWarning, match="tau 4"):
        trainer = Trainer(tiny_spec, short, synth_root, tmp_path)
    assert trainer.cfg.clip_length == 4
    assert trainer.stream.batches(0).__next__().images.shape[1] == 4
