"""Shared fixtures for the dual-memory tests: tiny CPU shapes (C=16, 6x8 maps)."""

import dataclasses

import pytest
import torch

from surg_perception.config import MemoryConfig
from surg_perception.models.memory import DualMemory

CHANNELS, HEIGHT, WIDTH = 16, 6, 8


@pytest.fixture
def cfg() -> MemoryConfig:
    # beta=-1 keeps the novelty test meaningful for unit-variance random features, whose
    # per-position distance is about sqrt(2 * 16) ~ 5.7.
    return MemoryConfig(
        tau=3,
        n=2,
        capacity=4,
        alpha=-0.5,
        beta=-1.0,
        key_channels=8,
        value_channels=12,
        lstm_bottleneck=8,
        seed=0,
    )


@pytest.fixture
def make_memory(cfg):
    def build(**overrides) -> DualMemory:
        torch.manual_seed(0)  # same weights every time: outputs are comparable across builds
        return DualMemory(CHANNELS, dataclasses.replace(cfg, **overrides)).eval()

    return build


@pytest.fixture
def frames():
    def make(count: int, batch: int = 2, seed: int = 0) -> list[torch.Tensor]:
        gen = torch.Generator().manual_seed(seed)
        return [torch.randn(batch, CHANNELS, HEIGHT, WIDTH, generator=gen) for _ in range(count)]

    return make


def run_sequence(memory, feats, confidence=None, state=None):
    """Read then admit every frame; returns (list of outputs, final state)."""
    state = memory.init_state(feats[0]) if state is None else state
    if confidence is None:
        confidence = torch.zeros(feats[0].shape[0])  # above alpha=-0.5: confident
    outputs = []
    for feat in feats:
        agg, state = memory.read(feat, state)
        state = memory.admit(state, feat, confidence)
        outputs.append(agg)
    return outputs, state


@pytest.fixture
def run():
    return run_sequence
