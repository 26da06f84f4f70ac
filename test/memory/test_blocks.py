"""BottleneckLSTM cell and the masked memory attention on hand-built inputs."""

import torch

from surg_perception.models.memory.attention import masked_memory_attention
from surg_perception.models.memory.bottleneck_lstm import BottleneckLSTMCell


def test_bottleneck_lstm_shapes_and_relu6_bounds():
    torch.manual_seed(0)
    cell = BottleneckLSTMCell(16, 8)
    x = torch.randn(2, 16, 6, 8) * 10
    h, c = cell.zero_state(x)
    for _ in range(3):
        h, c = cell(x, h, c)
    assert h.shape == c.shape == (2, 8, 6, 8)
    assert (h >= 0).all() and (h <= 6).all()  # h = o * ReLU6(c), o in (0, 1)
    assert (c >= 0).all()  # c accumulates ReLU6 candidates from a zero start


def test_attention_all_masked_reads_zeros_not_nan():
    query = torch.randn(2, 4, 3, 5)
    keys = torch.randn(2, 3, 4, 3, 5)
    values = torch.full((2, 3, 6, 3, 5), float(1e6))
    out = masked_memory_attention(query, keys, values, torch.zeros(2, 3, dtype=torch.bool))
    assert out.shape == (2, 6, 3, 5)
    assert torch.equal(out, torch.zeros_like(out))


def test_attention_ignores_invalid_slots():
    query = torch.randn(1, 4, 3, 5)
    keys = torch.randn(1, 2, 4, 3, 5)
    values = torch.randn(1, 2, 6, 3, 5)
    valid = torch.tensor([[True, False]])
    garbage = values.clone()
    garbage[:, 1] = 1e6
    reference = masked_memory_attention(query, keys[:, :1], values[:, :1], valid[:, :1])
    torch.testing.assert_close(masked_memory_attention(query, keys, garbage, valid), reference)


def test_attention_with_one_memory_position_copies_its_value():
    query = torch.randn(1, 4, 2, 2)
    keys = torch.randn(1, 1, 4, 1, 1)
    values = torch.randn(1, 1, 6, 1, 1)
    out = masked_memory_attention(query, keys, values, torch.ones(1, 1, dtype=torch.bool))
    torch.testing.assert_close(out, values[:, 0].expand(1, 6, 2, 2))
