"""ELA, DMNet's local memory: a BottleneckLSTM over the previous ``tau`` frames, then
non-local attention queried by the current frame.

Each step the LSTM is run from a zero state over the window of previous frames, oldest
first, so the local memory is exactly the last ``tau`` frames (a reset or a cut in the
video leaves no trace in it once the window has moved on). Window slots that hold no frame
yet are skipped: the LSTM state passes through them unchanged and attention masks them.
The current frame is only the query; the memory never holds it before the next step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from surg_perception.models.memory.attention import masked_memory_attention
from surg_perception.models.memory.bottleneck_lstm import BottleneckLSTMCell


class LocalMemory(nn.Module):
    """ELA: ``(feat [B, C, h, w], window [B, tau, C, h, w], valid [B, tau]) -> [B, C, h, w]``.

    Keys have ``key_channels`` (low), values ``value_channels`` (high). The output fuses
    the current frame's value with the attended value, ``concat(v, attended)``, back to
    ``channels`` with a 1x1 convolution.
    """

    def __init__(
        self, channels: int, key_channels: int, value_channels: int, hidden_channels: int
    ) -> None:
        super().__init__()
        self.lstm = BottleneckLSTMCell(channels, hidden_channels)
        self.query_key = nn.Conv2d(channels, key_channels, 1)
        self.query_value = nn.Conv2d(channels, value_channels, 1)
        self.memory_key = nn.Conv2d(hidden_channels, key_channels, 1)
        self.memory_value = nn.Conv2d(hidden_channels, value_channels, 1)
        # Linear fuse without batch norm: batch statistics would make a stream's output
        # depend on the other streams of its batch.
        self.fuse = nn.Conv2d(2 * value_channels, channels, 1)

    def encode_window(self, window: Tensor, valid: Tensor) -> Tensor:
        """LSTM hidden maps ``[B, tau, N, h, w]`` for ``window`` ``[B, tau, C, h, w]``.

        Invalid slots (``valid`` ``[B, tau]`` False) keep the running state unchanged; since
        the window fills from its newest end they are always the oldest slots, so skipping
        them equals starting the LSTM at the first real frame.
        """
        h, c = self.lstm.zero_state(window[:, 0])
        hidden = []
        for slot in range(window.shape[1]):  # static length: unrolled in export
            h_new, c_new = self.lstm(window[:, slot], h, c)
            advance = valid[:, slot].view(-1, 1, 1, 1)
            h = torch.where(advance, h_new, h)
            c = torch.where(advance, c_new, c)
            hidden.append(h)
        return torch.stack(hidden, dim=1)

    def forward(self, feat: Tensor, window: Tensor, valid: Tensor) -> Tensor:
        b, t = window.shape[:2]
        hidden = self.encode_window(window, valid)
        flat = hidden.flatten(0, 1)  # [B*tau, N, h, w]: one conv call for every slot
        keys = self.memory_key(flat).unflatten(0, (b, t))
        values = self.memory_value(flat).unflatten(0, (b, t))
        attended = masked_memory_attention(self.query_key(feat), keys, values, valid)
        return self.fuse(torch.cat([self.query_value(feat), attended], dim=1))
