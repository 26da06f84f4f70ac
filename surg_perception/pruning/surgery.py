"""Physical channel removal, and the rebuild that proves the result is a plain model.

``remove_channels`` prunes the masked channels of every unit through the DepGraph (every
consumer shrinks: next conv, BatchNorms, L2Norm, SSD head, decoder skips, activity and HOG
heads), then applies the widths the builder *derives* from the pruned ones (a decoder skip is
reduced to a quarter of its tap's channels: its lowest-L1 filters go) and resizes the dual
memory to the new deepest width. ``rebuild`` builds a fresh model from the pruned
``channel_widths`` and loads the pruned weights into it: if anything were inconsistent, this
is where it would fail.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from surg_perception.checkpoint import rebuild as rebuild_model
from surg_perception.config import ModelConfig, ModelSpec
from surg_perception.errors import ConfigError
from surg_perception.models.channels import prunable_layers, read_channel_widths
from surg_perception.models.registry import build_model
from surg_perception.pruning.graph import Unit, build_graph, group_of, twin_of


def with_widths(cfg: ModelConfig, widths: dict[str, int]) -> ModelConfig:
    """``cfg`` with ``channel_widths`` updated by ``widths`` (other layers keep theirs)."""
    merged = dict(cfg.channel_widths)
    merged.update(widths)
    return dataclasses.replace(cfg, channel_widths=tuple(merged.items()))


def widths_for(units: list[Unit], masks: dict[str, Tensor]) -> dict[str, int]:
    """Layer name -> kept channels, for every member of every unit."""
    return {member: int(masks[unit.name].sum()) for unit in units for member in unit.members}


def _reference(cfg: ModelConfig, model: nn.Module) -> nn.Module:
    with torch.device("meta"):
        return build_model(with_widths(cfg, dict(read_channel_widths(model))))


def _apply_derived_widths(model: nn.Module, cfg: ModelConfig, graph) -> None:
    """Shrink convs whose width the builder derives from a pruned one (decoder skips)."""
    reference = dict(_reference(cfg, model).named_modules())
    encoder_convs = {id(conv) for conv in prunable_layers(model).values()}
    for name, module in model.named_modules():
        if name.startswith("memory") or id(module) in encoder_convs:
            continue
        target = reference.get(name)
        if not isinstance(module, nn.Conv2d) or not isinstance(target, nn.Conv2d):
            continue
        excess = module.out_channels - target.out_channels
        if excess > 0:
            norms = module.weight.detach().flatten(1).abs().sum(dim=1)
            drop = norms.argsort()[:excess].tolist()
            group_of(graph, module, drop).prune()


def slice_memory(memory: nn.Module, keep: Tensor) -> nn.Module:
    """A memory for ``len(keep)`` feature channels holding ``memory``'s weights of ``keep``.

    Every tensor dimension that depends on the feature width holds the feature channels
    first (inputs are ``cat([x, h])``), so the kept slice is ``keep`` then the unchanged tail.
    """
    old_c = memory.channels
    new = type(memory)(len(keep), memory.cfg)
    old_state = memory.state_dict()
    sliced = {}
    for key, target in new.state_dict().items():
        tensor = old_state[key]
        for dim, (old, size) in enumerate(zip(tensor.shape, target.shape)):
            if old == size:
                continue
            if old - size != old_c - len(keep):
                raise ConfigError(f"memory tensor {key}: dimension {dim} is {old}, expected "
                                  f"{size}; cannot map it to the pruned feature channels")
            tail = torch.arange(old_c, old, device=tensor.device)
            index = torch.cat([keep.to(tensor.device), tail])
            tensor = tensor.index_select(dim, index)
        sliced[key] = tensor
    new.load_state_dict(sliced)
    param = next(memory.parameters())
    return new.to(device=param.device, dtype=param.dtype)


def remove_channels(model: nn.Module, cfg: ModelConfig, units: list[Unit],
                    masks: dict[str, Tensor], example: Tensor) -> nn.Module:
    """Remove every masked channel of ``model`` in place; returns ``model``.

    Args:
        model: the AP-MTL model the ``units`` were found on.
        cfg: its model config (for the widths the builder derives).
        units, masks: unit name -> ``[C]`` bool keep, in the unit's current channel order.
        example: ``[1, 3, H, W]`` input used to trace the dependency graph.
    """
    twin = twin_of(model)
    graph = build_graph(twin, example)
    layers = prunable_layers(model)
    deep_keep = None
    for unit in units:
        keep = masks[unit.name]
        if bool(keep.all()):
            continue
        drop = (~keep).nonzero().flatten().tolist()
        group = group_of(graph, layers[unit.name], drop)
        if not graph.check_pruning_group(group):
            raise ConfigError(f"unit {unit.name}: removing {len(drop)} of {keep.numel()} "
                              "channels would leave a layer empty")
        group.prune()
        if unit.feeds_memory:
            deep_keep = keep.nonzero().flatten()
    _apply_derived_widths(model, cfg, graph)
    if model.has_memory and deep_keep is not None:
        model.memory = slice_memory(model.memory, deep_keep)
    return model


def rebuild(model: nn.Module, spec: ModelSpec) -> tuple[nn.Module, ModelSpec]:
    """A fresh model built from ``model``'s channel widths, holding ``model``'s weights.

    Raises:
        CheckpointError: some tensor does not fit the rebuilt architecture (a consumer that
            did not shrink), naming the keys and shapes.
    """
    widths = read_channel_widths(model)
    new_spec = dataclasses.replace(spec, model=with_widths(spec.model, dict(widths)))
    rebuilt = rebuild_model(new_spec.model, model.state_dict(), "<pruned model>")
    param = next(model.parameters())
    return rebuilt.to(device=param.device, dtype=param.dtype).train(model.training), new_spec
