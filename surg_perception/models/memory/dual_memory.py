"""DMNet dual memory: ELA (local, last ``tau`` frames) then AGA (global, admitted frames).

Per frame, for a stream of feature maps ``feat`` ``[B, C, h, w]``::

    state = mem.init_state(feat)               # once, or after a reset
    agg, state = mem.read(feat, state)         # agg [B, C, h, w], uses past frames only
    ... predict from agg, compute confidence [B] = -mean pixel entropy ...
    state = mem.admit(state, feat, confidence)

``read`` pushes ``feat`` into the local window only after reading it, and ``admit`` runs
after the frame's prediction, so frame t never sees itself or any later frame in memory.
Every stream of a batch is independent: all updates are per-stream ``torch.where``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from surg_perception.config import MemoryConfig
from surg_perception.errors import ConfigError
from surg_perception.models.memory.global_memory import GlobalMemory
from surg_perception.models.memory.local_memory import LocalMemory
from surg_perception.models.memory.state import MemoryState


class DualMemory(nn.Module):
    """ELA + AGA over ``channels``-channel feature maps; ``out_channels == channels``."""

    def __init__(self, channels: int, cfg: MemoryConfig) -> None:
        super().__init__()
        _check_config(channels, cfg)
        self.channels = channels
        self.out_channels = channels
        self.cfg = cfg
        self.local = LocalMemory(
            channels, cfg.key_channels, cfg.value_channels, cfg.lstm_bottleneck
        )
        self.global_ = GlobalMemory(
            channels, cfg.key_channels, cfg.value_channels, cfg.n, cfg.alpha, cfg.beta, cfg.seed
        )

    def init_state(self, feat: Tensor) -> MemoryState:
        """Empty state for ``feat`` ``[B, C, h, w]`` (same device and dtype)."""
        self._check_feat(feat)
        return MemoryState.zeros(
            feat, self.cfg.tau, self.cfg.capacity, self.cfg.key_channels, self.cfg.value_channels
        )

    def read(self, feat: Tensor, state: MemoryState) -> tuple[Tensor, MemoryState]:
        """Aggregate ``feat`` ``[B, C, h, w]`` with the memory; returns ``(agg, new_state)``.

        ELA attends over the previous frames, AGA then reads ``n`` sampled bank entries
        queried by the ELA output (residual). Afterwards ``feat`` enters the local window
        and the step counter advances.
        """
        self._check_feat(feat, state)
        local = self.local(feat, state.local_feats, state.local_valid())
        agg = self.global_(local, state)
        window = torch.cat([state.local_feats[:, 1:], feat[:, None]], dim=1)
        new_state = dataclasses.replace(
            state,
            local_feats=window,
            local_count=torch.clamp(state.local_count + 1, max=state.tau),
            step=state.step + 1,
        )
        return agg, new_state

    def admit(self, state: MemoryState, feat: Tensor, confidence: Tensor) -> MemoryState:
        """AGA admission of ``feat`` ``[B, C, h, w]`` with prediction ``confidence`` ``[B]``."""
        self._check_feat(feat, state)
        if confidence.shape != (feat.shape[0],):
            raise ConfigError(
                f"confidence must have shape [{feat.shape[0]}] (one value per stream), "
                f"got {tuple(confidence.shape)}"
            )
        return self.global_.admit(state, feat, confidence)

    def _check_feat(self, feat: Tensor, state: MemoryState | None = None) -> None:
        # Static shape checks only (python ints): no tensor values, so export is unaffected.
        if feat.dim() != 4 or feat.shape[1] != self.channels:
            raise ConfigError(
                f"DualMemory({self.channels}) expects features [B, {self.channels}, h, w], "
                f"got {tuple(feat.shape)}"
            )
        if state is not None and state.last_admitted.shape != feat.shape:
            raise ConfigError(
                f"memory state was built for features {tuple(state.last_admitted.shape)} but "
                f"got {tuple(feat.shape)}; call init_state(feat) after a batch or size change"
            )


def _check_config(channels: int, cfg: MemoryConfig) -> None:
    sizes = {
        "channels": channels,
        "tau": cfg.tau,
        "n": cfg.n,
        "capacity": cfg.capacity,
        "key_channels": cfg.key_channels,
        "value_channels": cfg.value_channels,
        "lstm_bottleneck": cfg.lstm_bottleneck,
    }
    bad = {name: value for name, value in sizes.items() if value < 1}
    if bad:
        raise ConfigError(f"memory sizes must be >= 1, got {bad}; fix model.memory in the config")
    if cfg.n > cfg.capacity:
        raise ConfigError(
            f"memory.n ({cfg.n}) exceeds memory.capacity ({cfg.capacity}): cannot read more "
            "entries than the bank holds; lower n or raise capacity"
        )
    if cfg.seed < 0:
        raise ConfigError(f"memory.seed must be >= 0, got {cfg.seed}")
