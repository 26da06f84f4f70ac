"""The channel dependency graph of an AP-MTL model and its prunable *units*.

torch-pruning's DepGraph finds, for an encoder conv, every tensor slice that shares its output
channels: BatchNorms, depthwise convs, the whole residual group of a MobileNetV2 stage, the
next conv, L2Norm, the SSD head, decoder skips and the activity/HOG heads. The dual memory is
traced through a stand-in (:class:`MemoryProbe`): its ring buffers and detached admission are
not differentiable paths the tracer could follow, so the memory is resized separately from
the channels this probe reveals (``surgery.slice_memory``).

A *unit* is one DepGraph group rooted at a prunable conv; several prunable convs (a residual
group) can share a unit, and they are masked and removed together.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings

import torch
from torch import Tensor, nn
import torch_pruning as tp

from surg_perception.errors import ConfigError
from surg_perception.models.apmtl import APMTL
from surg_perception.models.channels import prunable_layers


class MemoryProbe(nn.Module):
    """Stand-in for the dual memory while tracing: the memory's read is the identity, and a
    1x1 conv consumes the feature so the graph shows which unit feeds the memory."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.probe = nn.Conv2d(channels, 1, 1)

    def init_state(self, feat: Tensor) -> None:
        return None

    def read(self, feat: Tensor, state: object) -> tuple[Tensor, Tensor]:
        return feat, self.probe(feat)

    def admit(self, state: Tensor, feat: Tensor, confidence: Tensor) -> Tensor:
        return state


@dataclasses.dataclass
class Unit:
    """Prunable convs sharing output channels, pruned as one.

    name: the first member's layer name; members: layer names; width: current channels;
    gate_points: modules whose ``[B, C, H, W]`` output carries the unit's channels (the BN
    after each member conv, or the conv itself), where SE gates and masks act;
    out_modules: every conv/BN producing those channels (zeroed together by a mask);
    feeds_memory: the unit holds the deepest map, which the temporal memory reads.
    """

    name: str
    members: list[str]
    width: int
    gate_points: list[nn.Module]
    out_modules: list[nn.Module]
    feeds_memory: bool


def twin_of(model: nn.Module) -> APMTL:
    """An APMTL sharing ``model``'s modules, with the memory replaced by a probe.

    Pruning the twin's modules in place prunes ``model``'s (they are the same objects).
    """
    if not isinstance(model, APMTL):
        raise ConfigError(
            f"GADP prunes AP-MTL models (model.family: apmtl); got {type(model).__name__}"
        )
    probe = MemoryProbe(model.encoder.deepest_channels)
    return APMTL(model.encoder, model.seg_decoder, model.det_head, model.activity_head,
                 model.hog_head, probe)


def _forward(model: nn.Module, images: Tensor) -> list[Tensor]:
    model.train()  # the tracer switches to eval mode; the HOG head runs in training only
    out, probe = model(images)
    return [t for t in (*out, probe) if t is not None]


def build_graph(twin: APMTL, example: Tensor) -> tp.DependencyGraph:
    """Trace ``twin`` on ``example`` ``[1, 3, H, W]`` (training mode, so the HOG head is seen).

    BatchNorm running statistics touched by the traced forward are restored afterwards.
    """
    buffers = {name: b.clone() for name, b in twin.named_buffers()}
    modes = [(module, module.training) for module in twin.modules()]
    try:
        with warnings.catch_warnings():
            # L2Norm's bare scale parameter is found and pruned on its only dimension.
            warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
            graph = tp.DependencyGraph().build_dependency(
                twin, example_inputs=example, forward_fn=_forward
            )
    finally:
        with torch.no_grad():
            for name, b in twin.named_buffers():
                if name in buffers and b.shape == buffers[name].shape:
                    b.copy_(buffers[name])
        for module, training in modes:
            module.training = training
    return graph


def group_of(graph: tp.DependencyGraph, conv: nn.Conv2d, idxs: list[int]) -> tp.Group:
    return graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=list(idxs))


def _gate_point(graph: tp.DependencyGraph, conv: nn.Conv2d) -> nn.Module:
    """The BatchNorm right after ``conv`` if there is one, else ``conv``."""
    for node in graph.module2node[conv].outputs:
        if isinstance(node.module, nn.BatchNorm2d):
            return node.module
    return conv


def find_units(twin: APMTL, graph: tp.DependencyGraph) -> list[Unit]:
    """The prunable units of the encoder, in build order."""
    layers = prunable_layers(twin)
    owner = {id(conv): name for name, conv in layers.items()}
    units, seen = [], set()
    for name, conv in layers.items():
        if id(conv) in seen:
            continue
        group = group_of(graph, conv, [0])
        out_modules, members, feeds_memory = [], [], False
        for dep, _ in group:
            module = dep.target.module
            is_out = dep.handler.__name__ == "prune_out_channels"
            if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)) and is_out:
                out_modules.append(module)
                if id(module) in owner:
                    members.append(owner[id(module)])
                    seen.add(id(module))
            feeds_memory |= module is twin.memory.probe
        members.sort(key=list(layers).index)
        gates = [_gate_point(graph, layers[m]) for m in members]
        units.append(Unit(members[0], members, conv.out_channels, gates, out_modules,
                          feeds_memory))
    return units


@contextlib.contextmanager
def hooked(modules: list[nn.Module], hook):
    """Register ``hook`` as a forward hook on each module for the ``with`` block."""
    handles = [m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
