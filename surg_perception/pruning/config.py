"""``PruneConfig``: the GADP schedule, read from the ``prune:`` section of a YAML file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from surg_perception.config import from_dict, load_yaml
from surg_perception.errors import ConfigError
from surg_perception.training.config import LossWeights

METRICS = ("binary_dice", "type_dice", "activity_accuracy")


@dataclasses.dataclass(frozen=True)
class PruneConfig:
    """GADP settings (paper names in brackets).

    A channel of unit ``l`` is masked when its share of the unit's attention is below
    ``threshold / C_l`` [t]. Rounds repeat while the drop of ``metric`` (absolute, against
    the unpruned model) stays at most ``max_drop`` [d], until ``rounds`` or until
    ``target_ratio`` of the parameters are gone (the paper: 38.1 M -> 22.4 M, ~0.41).
    """

    attention_iterations: int = 200  # [I] SE-gate training steps per round
    finetune_iterations: int = 500  # [N] masked fine-tuning steps per round
    threshold: float = 0.6  # [t]
    max_drop: float = 0.02  # [d]
    rounds: int = 5
    target_ratio: float = 0.41
    lr: float = 1e-4  # masked fine-tuning and end-to-end regularisation (Adam)
    attention_lr: float = 1e-2
    sparsity: float = 0.05  # weight of the mean gate value in the attention loss
    se_reduction: int = 4
    regularise_iterations: int = 200
    batch_size: int = 2
    clip_length: int = 2
    eval_batches: int = 0  # 0 = the whole validation set
    metric: str = "binary_dice"
    latency_runs: int = 20
    seed: int = 0
    # Task weights of the clip loss; None = the pruned run's own (the checkpoint's
    # train_config.loss_weights, see pruning.data.with_run_loss_weights), else the defaults.
    loss_weights: LossWeights | None = None

    def __post_init__(self) -> None:
        counts = {k: getattr(self, k) for k in ("attention_iterations", "finetune_iterations",
                                                 "rounds", "regularise_iterations",
                                                 "eval_batches", "latency_runs")}
        if any(v < 0 for v in counts.values()):
            raise ConfigError(f"prune: iteration counts must be >= 0, got {counts}")
        if self.batch_size < 1 or self.clip_length < 1 or self.se_reduction < 1:
            raise ConfigError("prune: batch_size, clip_length and se_reduction must be >= 1")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"prune.threshold must be in (0, 1) (a fraction of the uniform "
                              f"attention share), got {self.threshold}")
        if not 0.0 < self.target_ratio < 1.0 or self.max_drop < 0.0:
            raise ConfigError("prune: target_ratio must be in (0, 1) and max_drop >= 0")
        if self.lr <= 0.0 or self.attention_lr <= 0.0 or self.sparsity < 0.0:
            raise ConfigError("prune: lr and attention_lr must be > 0, sparsity >= 0")
        if self.metric not in METRICS:
            raise ConfigError(f"prune.metric {self.metric!r} unknown; use one of {METRICS}")


def load_prune_config(path: str | Path) -> PruneConfig:
    """Read the ``prune:`` mapping of a YAML file (or the whole file if it has none)."""
    data = load_yaml(path)
    try:
        return from_dict(PruneConfig, data.get("prune", data), "prune")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
