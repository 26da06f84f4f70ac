"""AGA, DMNet's global memory: a bounded bank of confidently predicted, novel frames,
of which ``n`` entries are sampled and read at every step.

Admission (after the frame's prediction): a frame enters its stream's bank only if

- ``confidence > alpha`` (confidence = -mean pixel entropy of the prediction), and
- ``-distance(feat, latest admitted feat) < beta``, i.e. it differs enough from the last
  entry. ``distance`` is the per-position Euclidean (L2 over channels) distance averaged
  over the h x w positions, so it does not grow with the map size. An empty bank skips
  this test: the first confident frame is always admitted.

A full bank overwrites its oldest entry (a ring buffer with a write pointer).

Sampling without a host RNG: every slot gets a pseudo-random score from an integer hash
of ``(seed, the stream's step counter, slot index)`` computed with torch int64 ops
(Park-Miller multiplications modulo 2^31 - 1 around a squaring; every product stays
below 2^62), invalid slots score -1, and the ``n`` best-scoring slots are read. Results
are reproducible for a given seed, differ from step to step, need no ``.item()``, and
export to ONNX (Mod, Mul, TopK, GatherElements).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from surg_perception.models.memory.attention import masked_memory_attention
from surg_perception.models.memory.state import MemoryState

_MODULUS = 2_147_483_647  # 2^31 - 1, the Park-Miller prime
_MULTIPLIER = 48_271


def sample_slots(step: Tensor, valid: Tensor, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """Pick ``n`` valid slots per stream, deterministically from ``seed`` and ``step``.

    Args:
        step: ``[B]`` int64 per-stream step counters.
        valid: ``[B, S]`` bool, slots holding an entry.
        n: entries to read (at most S).
        seed: non-negative python int.

    Returns:
        ``(index [B, n] int64, picked_valid [B, n] bool)``; when a stream has fewer than
        ``n`` valid slots, the extra picks are invalid slots flagged False.
    """
    slots = torch.arange(1, valid.shape[1] + 1, device=step.device)[None, :]
    seed_term = (seed * 1_000_003 + 12_345) % _MODULUS
    x = (seed_term + (step[:, None] % _MODULUS) * 7_919 + slots * 104_729) % _MODULUS
    x = (x * _MULTIPLIER) % _MODULUS
    x = (x * x + slots) % _MODULUS  # the squaring breaks the linearity in slot and step
    x = (x * _MULTIPLIER) % _MODULUS
    uniform = x.to(torch.float32) / _MODULUS  # in [0, 1); invalid slots rank last at -1
    score = torch.where(valid, uniform, torch.full_like(uniform, -1.0))
    index = torch.topk(score, k=min(n, valid.shape[1]), dim=1).indices
    return index, torch.gather(valid, 1, index)


def feature_distance(a: Tensor, b: Tensor) -> Tensor:
    """``[B]`` mean over positions of the L2 distance over channels of ``[B, C, h, w]`` maps."""
    return (a - b).pow(2).sum(dim=1).sqrt().mean(dim=(1, 2))


class GlobalMemory(nn.Module):
    """AGA read and admission over the bank held in a :class:`MemoryState`."""

    def __init__(
        self,
        channels: int,
        key_channels: int,
        value_channels: int,
        n: int,
        alpha: float,
        beta: float,
        seed: int,
    ) -> None:
        super().__init__()
        self.n, self.alpha, self.beta, self.seed = n, alpha, beta, seed
        self.query_key = nn.Conv2d(channels, key_channels, 1)
        self.memory_key = nn.Conv2d(channels, key_channels, 1)
        self.memory_value = nn.Conv2d(channels, value_channels, 1)
        # No bias: with an empty bank the read is exactly zero and AGA is the identity.
        self.out = nn.Conv2d(value_channels, channels, 1, bias=False)

    def forward(self, query: Tensor, state: MemoryState) -> Tensor:
        """Read ``n`` sampled entries: ``query + out(attend)`` for ``query`` ``[B, C, h, w]``."""
        index, picked_valid = sample_slots(state.step, state.bank_valid(), self.n, self.seed)
        keys = _gather_slots(state.bank_keys, index)
        values = _gather_slots(state.bank_values, index)
        attended = masked_memory_attention(self.query_key(query), keys, values, picked_valid)
        return query + self.out(attended)

    def should_admit(self, state: MemoryState, feat: Tensor, confidence: Tensor) -> Tensor:
        """``[B]`` bool: streams that admit ``feat`` ``[B, C, h, w]`` at ``confidence`` ``[B]``."""
        confident = confidence.detach() > self.alpha
        # Detached: admission is a discrete decision, and sqrt'(0) would give NaN gradients.
        distance = feature_distance(feat.detach(), state.last_admitted.detach())
        novel = (-distance < self.beta) | (state.bank_count == 0)
        return confident & novel

    def admit(self, state: MemoryState, feat: Tensor, confidence: Tensor) -> MemoryState:
        """Write ``feat``'s key/value into the bank of each admitting stream (oldest evicted)."""
        admit = self.should_admit(state, feat, confidence)
        slots = torch.arange(state.capacity, device=feat.device)
        target = (slots[None, :] == state.bank_ptr[:, None]) & admit[:, None]  # [B, S]
        target = target[:, :, None, None, None]
        keys = torch.where(target, self.memory_key(feat)[:, None], state.bank_keys)
        values = torch.where(target, self.memory_value(feat)[:, None], state.bank_values)
        added = admit.to(state.bank_count.dtype)
        return dataclasses.replace(
            state,
            bank_keys=keys,
            bank_values=values,
            bank_count=torch.clamp(state.bank_count + added, max=state.capacity),
            bank_ptr=(state.bank_ptr + added) % state.capacity,
            last_admitted=torch.where(admit[:, None, None, None], feat, state.last_admitted),
        )


def _gather_slots(bank: Tensor, index: Tensor) -> Tensor:
    """``bank [B, S, ...]`` at ``index [B, n]`` -> ``[B, n, ...]``."""
    expanded = index.view(*index.shape, *([1] * (bank.dim() - 2))).expand(
        -1, -1, *bank.shape[2:]
    )
    return torch.gather(bank, 1, expanded)
