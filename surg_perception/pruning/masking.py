"""Channel masks that behave exactly like the removal they announce.

A masked channel is zeroed at the output of every conv and BatchNorm that produces it (a
residual group's members included), so consumers see zeros, as if the channel were gone;
activations map 0 to 0. For the unit that feeds the temporal memory, the memory's outputs
on those channels are zeroed too, since removal shrinks them as well.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from surg_perception.pruning.graph import Unit


def threshold_keep(stats: Tensor, t: float) -> Tensor:
    """GADP's proportional threshold on one unit's statistics.

    Args:
        stats: ``[C]`` attention statistics ``a(l, c)`` of the channels still kept.
        t: threshold factor; channel ``c`` is masked when its share of the unit's attention,
            ``a(l, c) / sum_c a(l, c)``, is below ``t / C_l``.

    Returns:
        ``[C]`` bool, True = keep. At least one channel (the most attended) is always kept.
    """
    stats = stats.float()
    share = stats / stats.sum().clamp_min(1e-12)
    keep = share >= t / stats.numel()
    if not bool(keep.any()):
        keep[int(stats.argmax())] = True
    return keep


def next_masks(stats: dict[str, Tensor], masks: dict[str, Tensor], t: float
               ) -> dict[str, Tensor]:
    """Tighten ``masks`` (unit name -> ``[C]`` bool keep) with one round's statistics."""
    updated = {}
    for name, keep in masks.items():
        new = keep.clone()
        new[keep] = threshold_keep(stats[name][keep], t)
        updated[name] = new
    return updated


def _zero_hook(keep: Tensor):
    def hook(module: nn.Module, inputs, output: Tensor) -> Tensor:
        if output.dim() != 4 or output.shape[1] != keep.numel():
            return output
        return output * keep.to(output)[None, :, None, None]

    return hook


def _memory_outputs(model: nn.Module, channels: int) -> list[nn.Module]:
    """The memory's sub-modules whose output has the deepest map's channels (its results)."""
    if not model.has_memory:
        return []
    memory = model.memory
    # ELA's and AGA's results both carry the feature's channels (AGA's is the aggregate);
    # the hook itself skips any output whose channel count differs.
    return list(memory.children())


@contextlib.contextmanager
def masked(model: nn.Module, units: list[Unit], masks: dict[str, Tensor]):
    """Apply ``masks`` to ``model`` inside the ``with`` block (removable forward hooks)."""
    handles = []
    for unit in units:
        keep = masks[unit.name]
        if bool(keep.all()):
            continue
        modules = list(unit.out_modules)
        if unit.feeds_memory:
            modules += _memory_outputs(model, unit.width)
        handles += [m.register_forward_hook(_zero_hook(keep)) for m in modules]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def initial_masks(units: list[Unit]) -> dict[str, Tensor]:
    return {unit.name: torch.ones(unit.width, dtype=torch.bool) for unit in units}
