"""Optimisers and the poly learning-rate schedule of each ATO phase."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from surg_perception.training.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class PhaseSpan:
    """A phase placed on the global step axis: steps ``start + 1 .. end``."""

    name: str
    start: int
    end: int
    lr: float

    @property
    def iterations(self) -> int:
        return self.end - self.start


def schedule(cfg: TrainConfig, per_epoch: int) -> list[PhaseSpan]:
    """The phases of ``cfg`` on the global step axis (epochs count ``per_epoch`` steps)."""
    spans, start = [], 0
    for phase in cfg.phases:
        length = phase.iterations or phase.epochs * per_epoch
        lr = cfg.lr if phase.lr is None else phase.lr
        spans.append(PhaseSpan(phase.name, start, start + length, lr))
        start += length
    return spans


class PolyDecay:
    """``(1 - i / total) ** power``: the poly schedule as a picklable plain object.

    A class rather than a lambda so ``LambdaLR.state_dict`` stores its (plain) fields.
    """

    def __init__(self, total: int, power: float) -> None:
        self.total = total
        self.power = power

    def __call__(self, step: int) -> float:
        return max(0.0, 1.0 - step / self.total) ** self.power


def build_optimizer(params: list[nn.Parameter], cfg: TrainConfig, span: PhaseSpan
                    ) -> tuple[torch.optim.Optimizer, LambdaLR]:
    """SGD (momentum, weight decay) or Adam over ``params`` at the phase's lr, with poly decay."""
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=span.lr, momentum=cfg.momentum,
                                    weight_decay=cfg.weight_decay)
    else:
        optimizer = torch.optim.Adam(params, lr=span.lr, weight_decay=cfg.weight_decay)
    return optimizer, LambdaLR(optimizer, PolyDecay(span.iterations, cfg.poly_power))
