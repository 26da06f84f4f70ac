"""Training helpers shared by the trainer tests of both model families."""

from __future__ import annotations

from surg_perception.training import ato
from surg_perception.training.optim import PhaseSpan, build_optimizer
from surg_perception.training.trainer import ClipModel, Trainer

# A two-step CLI training run (one detection step, one end-to-end step) on batches of one clip.
TWO_STEP_TRAIN_YAML = """\
train:
  optimizer: adam
  lr: 1.0e-3
  batch_size: 1
  clip_length: 4
  workers: 0
  amp: false
  log_interval: 1
  ckpt_interval: 1
  phases:
    - {name: detection, iterations: 1}
    - {name: end_to_end, iterations: 1}
"""


def overfit_fixed_batch(trainer: Trainer, steps: int) -> list[dict[str, float]]:
    """``steps`` end-to-end steps on the first batch at an almost constant lr; the step logs."""
    batch = next(trainer.stream.batches(0))
    span = PhaseSpan("end_to_end", 0, 1000, trainer.cfg.lr)  # long span: lr barely decays
    optimizer, scheduler = build_optimizer(
        ato.apply_phase(trainer.model, "end_to_end", trainer.base), trainer.cfg, span)
    net = ClipModel(trainer.model)
    return [trainer.train_step(net, batch, "end_to_end", optimizer, scheduler)
            for _ in range(steps)]
