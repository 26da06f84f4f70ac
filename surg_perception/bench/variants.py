"""The networks a benchmark compares: the model, without its memory, and pruned.

Latency depends on shapes only, so variants without a checkpoint are built with random
(seeded) weights. The pruned variant comes from a pruned checkpoint when one is given
(``surg-perception prune`` output); otherwise every prunable encoder conv is narrowed by
one common factor, found by bisection so that the model keeps ``keep_ratio`` of its
parameters (the AP-MTL paper's pruning: 38.1 M -> 22.4 M, ``keep_ratio`` 0.588).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from surg_perception.checkpoint import load_model, rebuild
from surg_perception.config import ModelSpec, load_spec
from surg_perception.model_info import param_count
from surg_perception.models.channels import has_prunable_encoder, read_channel_widths
from surg_perception.models.registry import build_model

PAPER_KEEP_RATIO = 22.4 / 38.1


def _build(spec: ModelSpec, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(spec.model).eval()


def load_base(config: str | Path, checkpoint: str | Path | None) -> tuple[nn.Module, ModelSpec]:
    """The benchmarked model: the checkpoint's weights, else the config with seeded weights."""
    if checkpoint:
        model, spec = load_model(checkpoint)
        return model.eval(), spec
    spec = load_spec(config)
    return _build(spec), spec


def with_memory(model: nn.Module, spec: ModelSpec, enabled: bool) -> tuple[nn.Module, ModelSpec]:
    """The same network with the memory switched on/off (shared weights copied where they fit)."""
    if spec.model.memory.enabled == enabled:
        return model, spec
    memory = dataclasses.replace(spec.model.memory, enabled=enabled)
    spec = dataclasses.replace(spec, model=dataclasses.replace(spec.model, memory=memory))
    torch.manual_seed(0)  # the parts the other variant lacks are seeded, as in _build
    other = rebuild(spec.model, model.state_dict(), "<benchmarked model>", strict=False)
    return other.eval(), spec


def _param_count(spec: ModelSpec, widths: tuple[tuple[str, int], ...]) -> int:
    cfg = dataclasses.replace(spec.model, channel_widths=widths)
    with torch.device("meta"):
        return param_count(build_model(cfg))


def uniform_widths(spec: ModelSpec, keep_ratio: float,
                   steps: int = 14) -> tuple[tuple[str, int], ...]:
    """``channel_widths`` narrowing every prunable conv by one factor to keep ``keep_ratio``.

    Returns the spec's own widths (unpruned) when the family has no prunable encoder.
    """
    with torch.device("meta"):
        model = build_model(spec.model)
    if not has_prunable_encoder(model):
        return spec.model.channel_widths
    full = read_channel_widths(model)
    target = keep_ratio * param_count(model)

    def scaled(factor: float) -> tuple[tuple[str, int], ...]:
        return tuple((name, max(1, round(width * factor))) for name, width in full)

    low, high = 0.0, 1.0
    for _ in range(steps):
        mid = (low + high) / 2
        low, high = (mid, high) if _param_count(spec, scaled(mid)) < target else (low, mid)
    return scaled((low + high) / 2)


def pruned_variant(
    model: nn.Module, spec: ModelSpec, keep_ratio: float, checkpoint: str | Path | None = None
) -> tuple[nn.Module, ModelSpec, str]:
    """The pruned network and how it was made (``"checkpoint PATH"`` or ``"uniform widths"``)."""
    if checkpoint:
        pruned, pruned_spec = load_model(checkpoint)
        memory = spec.model.memory.enabled
        pruned, pruned_spec = with_memory(pruned.eval(), pruned_spec, memory)
        return pruned, pruned_spec, f"checkpoint {checkpoint}"
    widths = uniform_widths(spec, keep_ratio)
    model_cfg = dataclasses.replace(spec.model, channel_widths=widths)
    pruned_spec = dataclasses.replace(spec, model=model_cfg)
    how = f"uniform encoder widths, keep {keep_ratio:.3f} of params"
    return _build(pruned_spec), pruned_spec, how
