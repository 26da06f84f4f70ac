"""Shared fixtures: the tiny model of ``config/models/tiny.yaml`` and frame makers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from surg_perception.config import ModelSpec, load_spec
from surg_perception.models.registry import build_model


@pytest.fixture(scope="session")
def tiny_spec() -> ModelSpec:
    return load_spec(Path(__file__).parents[2] / "config" / "models" / "tiny.yaml")


@pytest.fixture(scope="session")
def tiny_model(tiny_spec: ModelSpec) -> nn.Module:
    """Randomly initialised (seeded) tiny model; tests must not modify it."""
    torch.manual_seed(0)
    return build_model(tiny_spec.model).eval()


@pytest.fixture
def random_frame():
    """``random_frame(h, w, seed)`` -> ``[h, w, 3]`` uint8 noise."""

    def make(height: int, width: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)

    return make
