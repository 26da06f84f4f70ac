"""Squeeze-excite attention gates on the prunable units, and their per-channel statistics.

Each gate point (the BatchNorm after a prunable conv, or the conv) gets an SE gate through a
removable forward hook: ``y * g(y)`` with ``g = 2 sigmoid(fc2(relu(fc1(mean_hw(y)))))`` in
(0, 2), exactly 1 at initialisation, so attaching the gates leaves the network unchanged.
Only the gates train; the statistic ``a(l, c)`` is the mean gate value of channel ``c`` of
unit ``l`` over the data (averaged over a residual group's members).
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn
import torch.nn.functional as F

from surg_perception.pruning.graph import Unit


class SEGate(nn.Module):
    """``y [B, C, H, W] -> g [B, C]``, the channel gate of one gate point."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(2, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        nn.init.zeros_(self.fc2.weight)  # identity gate at start: the frozen model is unchanged
        nn.init.zeros_(self.fc2.bias)

    def forward(self, y: Tensor) -> Tensor:
        return 2.0 * torch.sigmoid(self.fc2(F.relu(self.fc1(y.mean(dim=(2, 3))))))


class UnitAttention(nn.Module):
    """SE gates for every gate point of every unit; collects ``a(l, c)`` while attached."""

    def __init__(self, units: list[Unit], reduction: int = 4) -> None:
        super().__init__()
        self.units = units
        self.gates = nn.ModuleList(
            nn.ModuleList(SEGate(unit.width, reduction) for _ in unit.gate_points)
            for unit in units
        )
        self.step_gates: list[Tensor] = []  # this step's gate tensors (sparsity penalty)
        self.sums = [torch.zeros(unit.width) for unit in units]
        self.counts = [0] * len(units)
        self.collecting = False

    def _hook(self, unit_index: int, gate: SEGate):
        def hook(module: nn.Module, inputs, output: Tensor) -> Tensor:
            g = gate(output)
            self.step_gates.append(g)
            if self.collecting:
                self.sums[unit_index] += g.detach().sum(dim=0).cpu().float()
                self.counts[unit_index] += g.shape[0]
            return output * g[:, :, None, None]

        return hook

    @contextlib.contextmanager
    def attached(self):
        """Gates act on the network inside the ``with`` block only."""
        handles = [
            point.register_forward_hook(self._hook(i, gate))
            for i, unit in enumerate(self.units)
            for point, gate in zip(unit.gate_points, self.gates[i])
        ]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
            self.step_gates.clear()

    def sparsity(self) -> Tensor:
        """Mean gate value of the last forward(s): an L1 push towards closing useless gates."""
        return torch.stack([g.mean() for g in self.step_gates]).mean()

    def reset_statistics(self) -> None:
        self.sums = [torch.zeros(unit.width) for unit in self.units]
        self.counts = [0] * len(self.units)

    def statistics(self) -> dict[str, Tensor]:
        """``a(l, c)``: unit name -> ``[C_l]`` mean gate value over the collected data."""
        return {
            unit.name: total / max(1, count)
            for unit, total, count in zip(self.units, self.sums, self.counts)
        }
