"""BottleneckLSTM cell (Liu & Zhu, "Mobile video object detection with temporally aware
feature maps", CVPR 2018): a ConvLSTM whose convolutions are depth-wise separable and whose
gates read a narrow bottleneck of the input and hidden state instead of their concatenation.

With phi = ReLU6 (as in the paper, for both the candidate and the output non-linearity)::

    b  = phi(W_b * [x, h])                     N channels (the bottleneck)
    i, f, o = sigmoid(W_i * b), sigmoid(W_f * b), sigmoid(W_o * b)
    c' = f . c + i . phi(W_c * b)
    h' = o . phi(c')

where every ``W *`` is a depth-wise 3x3 convolution followed by a point-wise 1x1 one, and
the four gate convolutions share one depth-wise stage. ReLU6 keeps activations bounded,
which the paper chose for quantisation-friendly mobile inference.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class DepthwiseSeparableConv(nn.Module):
    """Depth-wise ``k x k`` conv then point-wise 1x1: ``[B, in, h, w] -> [B, out, h, w]``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels,
            in_channels,
            kernel_size,
            padding=kernel_size // 2,
            groups=in_channels,
            bias=False,
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


class BottleneckLSTMCell(nn.Module):
    """One BottleneckLSTM step: ``(x [B, C, h, w], h, c [B, N, h, w]) -> (h', c')``.

    ``hidden_channels`` N is both the bottleneck width and the hidden/cell width, as in
    the paper. The spatial size is whatever the input has.
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.bottleneck = DepthwiseSeparableConv(
            in_channels + hidden_channels, hidden_channels, kernel_size
        )
        self.gates = DepthwiseSeparableConv(hidden_channels, 4 * hidden_channels, kernel_size)
        with torch.no_grad():
            # Forget-gate bias 1: remember by default early in training (Jozefowicz et al.).
            self.gates.pointwise.bias.zero_()
            self.gates.pointwise.bias[hidden_channels : 2 * hidden_channels].fill_(1.0)

    def zero_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Zero ``(h, c)`` shaped for input ``x`` ``[B, C, h, w]``."""
        b, _, height, width = x.shape
        zeros = x.new_zeros(b, self.hidden_channels, height, width)
        return zeros, zeros

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        b = F.relu6(self.bottleneck(torch.cat([x, h], dim=1)))
        i, f, o, g = self.gates(b).chunk(4, dim=1)
        c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * F.relu6(g)
        h_next = torch.sigmoid(o) * F.relu6(c_next)
        return h_next, c_next
