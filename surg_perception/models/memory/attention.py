"""Key/value non-local attention over a set of memory maps, shared by ELA and AGA.

Every query position attends to every position of every valid memory map (space-time
memory read, as in the non-local block). Invalid memory maps (empty ring-buffer or bank
slots) are masked so that they get exactly zero weight, and a query with no valid memory
at all reads zeros rather than NaN or garbage.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def masked_memory_attention(
    query: Tensor, keys: Tensor, values: Tensor, valid: Tensor
) -> Tensor:
    """Read ``values`` at the positions whose ``keys`` match ``query``.

    Args:
        query: ``[B, Kc, h, w]`` query keys of the current frame.
        keys: ``[B, T, Kc, hm, wm]`` keys of T memory maps.
        values: ``[B, T, Vc, hm, wm]`` values of the same maps.
        valid: ``[B, T]`` bool, which memory maps hold real entries.

    Returns:
        ``[B, Vc, h, w]``: softmax(q.k / sqrt(Kc)) weighted values; zeros where a stream
        has no valid map.
    """
    b, kc, h, w = query.shape
    t, vc = values.shape[1], values.shape[2]
    q = query.flatten(2).transpose(1, 2)  # [B, P, Kc]
    k = keys.permute(0, 2, 1, 3, 4).reshape(b, kc, -1)  # [B, Kc, T*Q]
    v = values.permute(0, 1, 3, 4, 2).reshape(b, -1, vc)  # [B, T*Q, Vc]
    logits = torch.bmm(q, k) / math.sqrt(kc)  # [B, P, T*Q]
    per_position = valid[:, :, None].expand(b, t, k.shape[2] // t).reshape(b, 1, -1)
    # A finite fill (not -inf) keeps an all-masked row finite: softmax turns it into a
    # uniform row, which the multiplication by the mask then zeroes.
    fill = torch.finfo(logits.dtype).min
    logits = torch.where(per_position, logits, torch.full_like(logits, fill))
    weights = torch.softmax(logits, dim=-1) * per_position.to(logits.dtype)
    out = torch.bmm(weights, v)  # [B, P, Vc]
    return out.transpose(1, 2).reshape(b, vc, h, w)
