"""TESLA: task-specific low-rank adapters beside the shared (frozen + LoRA) backbone.

Design (how this package realises the paper's "explicit gradient separation" at the cost
of ONE backbone pass):

* The trunk - frozen ViT plus the shared q/v LoRA - runs once per image.
* Each task ``t`` owns a low-rank residual adapter on the trunk's final tokens,
  ``f_t = f + up_t(down_t(f))`` (rank ``adapter_rank``, ``up_t`` zero at init so both task
  features start equal to the trunk's). The per-task features differ only in the adapters.
* Task ``t``'s head reads only ``f_t``, and nothing downstream mixes tasks across the batch
  (SMA uses per-sample GroupNorm, each head its own modules). So the segmentation loss is a
  function of the segmentation adapter but not of the activity adapter and vice versa: each
  adapter's gradient comes from its own loss only, exactly (not approximately) zero from the
  other, while the shared LoRA receives the sum of both. ``test_gradient_separation`` checks it.

Running the trunk once and branching late keeps inference at one ViT pass; putting per-task
adapters inside every block instead would need one trunk pass per task.
"""

from __future__ import annotations

import torch
from torch import nn

from surg_perception.models.endoarss.lora import LowRank

TASKS: tuple[str, str] = ("seg", "activity")


class TaskAdapter(nn.Module):
    """Residual low-rank adapter: ``x [..., C] -> x + up(down(x))``; identity at init."""

    def __init__(self, dim: int, rank: int) -> None:
        super().__init__()
        self.delta = LowRank(dim, dim, rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.delta(x)


class Tesla(nn.Module):
    """One adapter per task in :data:`TASKS`.

    ``forward(tokens [B, N, C]) -> (seg_tokens [B, N, C], activity_tokens [B, N, C])``.
    """

    def __init__(self, dim: int, rank: int) -> None:
        super().__init__()
        self.adapters = nn.ModuleDict({task: TaskAdapter(dim, rank) for task in TASKS})

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.adapters["seg"](tokens), self.adapters["activity"](tokens)
