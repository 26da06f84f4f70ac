"""LoRA on the query and value projections of a timm ViT's fused ``qkv`` Linear.

timm computes q, k and v with one ``Linear(C, 3C)`` whose output is laid out ``[q | k | v]``
along the last dimension. :class:`LoRAQKV` keeps that frozen Linear and adds low-rank
updates ``up(down(x))`` to the q and v slices only (k untouched, as in the LoRA paper and
EndoARSS). ``up`` starts at zero, so the wrapped model initially equals the frozen one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from surg_perception.errors import ConfigError


class LowRank(nn.Module):
    """``x [..., C_in] -> up(down(x)) [..., C_out]`` with rank ``r``; output zero at init."""

    def __init__(self, in_features: int, out_features: int, rank: int) -> None:
        super().__init__()
        if rank <= 0:
            raise ConfigError(f"low-rank update needs rank >= 1, got {rank}")
        self.down = nn.Linear(in_features, rank, bias=False)
        self.up = nn.Linear(rank, out_features, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.up.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))


class LoRAQKV(nn.Module):
    """Frozen fused ``qkv`` Linear plus trainable rank-``r`` updates of q and v.

    ``forward(x [B, N, C]) -> [B, N, 3C]`` laid out ``[q + dq | k | v + dv]``.
    """

    def __init__(self, qkv: nn.Linear, rank: int, alpha: float | None = None) -> None:
        super().__init__()
        dim = qkv.in_features
        if qkv.out_features != 3 * dim:
            raise ConfigError(
                f"LoRAQKV expects a fused Linear({dim}, {3 * dim}), got out_features "
                f"{qkv.out_features}"
            )
        self.qkv = qkv
        self.lora_q = LowRank(dim, dim, rank)
        self.lora_v = LowRank(dim, dim, rank)
        self.scaling = (rank if alpha is None else alpha) / rank  # alpha / r, as in LoRA

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q + self.scaling * self.lora_q(x)
        v = v + self.scaling * self.lora_v(x)
        return torch.cat([q, k, v], dim=-1)


def inject_lora(vit: nn.Module, rank: int) -> list[LoRAQKV]:
    """Replace every ``blocks[i].attn.qkv`` of a timm ViT by a :class:`LoRAQKV` (in place).

    Call after loading the backbone weights and freezing them: the new LoRA parameters
    are the only trainable ones inside the backbone. Returns the wrappers, block order.
    """
    wrappers = []
    for block in vit.blocks:
        attn = block.attn
        if isinstance(attn.qkv, LoRAQKV):
            raise ConfigError("inject_lora: this ViT already has LoRA on its qkv projections")
        attn.qkv = LoRAQKV(attn.qkv, rank)
        wrappers.append(attn.qkv)
    if not wrappers:
        raise ConfigError("inject_lora: the ViT has no attention blocks to adapt")
    return wrappers


def lora_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The LoRA parameters (q and v low-rank factors) found anywhere inside ``module``."""
    params: list[nn.Parameter] = []
    for sub in module.modules():
        if isinstance(sub, LoRAQKV):
            params += list(sub.lora_q.parameters()) + list(sub.lora_v.parameters())
    return params
