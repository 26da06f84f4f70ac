"""Shared fixtures for the model tests: small specs that run in well under a second on CPU."""

from __future__ import annotations

import dataclasses
from pathlib import Path
import types

import pytest
import torch

from surg_perception.config import (
    HogConfig,
    MemoryConfig,
    ModelConfig,
    ModelSpec,
    PreprocessConfig,
    load_spec,
)

# CI has 2 shared cores: torch's intra-op threads spinning against other jobs make these tiny
# models 20-40x slower than one thread does.
torch.set_num_threads(1)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "models"


def tiny_spec() -> ModelSpec:
    return load_spec(CONFIG_DIR / "tiny.yaml")


def vgg_test_spec(memory: bool = False) -> ModelSpec:
    """VGG16-SSD at 1/8 width and 64x96 input: the full model's code paths, CPU-sized."""
    model = ModelConfig(
        name="vgg_test",
        encoder="vgg16_ssd",
        width_mult=0.125,
        decoder_channels=8,
        memory=MemoryConfig(enabled=memory, capacity=4, key_channels=4, value_channels=8,
                            lstm_bottleneck=8),
        hog=HogConfig(image_size=(32, 32), pixels_per_cell=8),
    )
    return ModelSpec(model=model, preprocess=PreprocessConfig(input_size=(64, 96)))


def with_model(spec: ModelSpec, **changes) -> ModelSpec:
    return dataclasses.replace(spec, model=dataclasses.replace(spec.model, **changes))


@pytest.fixture
def tiny() -> ModelSpec:
    return tiny_spec()


@pytest.fixture
def tiny_no_memory() -> ModelSpec:
    spec = tiny_spec()
    return with_model(spec, memory=dataclasses.replace(spec.model.memory, enabled=False))


@pytest.fixture
def vgg_small() -> ModelSpec:
    return vgg_test_spec()


@pytest.fixture
def specs() -> types.SimpleNamespace:
    """The helpers above, for tests (conftest is not importable under importlib mode)."""
    return types.SimpleNamespace(
        tiny=tiny_spec, vgg=vgg_test_spec, with_model=with_model, config_dir=CONFIG_DIR
    )
