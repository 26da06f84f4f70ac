"""Shared fixtures: the tiny model, its prunable units and a small synthetic dataset."""

from __future__ import annotations

import copy
from pathlib import Path
import types

import pytest
import torch

from surg_perception.config import load_spec
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.models.registry import build_model
from surg_perception.pruning.graph import build_graph, find_units, twin_of

REPO = Path(__file__).resolve().parents[2]


def run_frames(model, frames):
    """Outputs of ``model`` over ``frames`` with the memory state carried (eval, no grad)."""
    model.eval()
    outputs, state = [], None
    with torch.no_grad():
        for images in frames:
            out, state = model(images, state=state)
            outputs.append([t for t in out if t is not None])
    return outputs


@pytest.fixture(scope="session")
def tiny_spec():
    return load_spec(REPO / "config" / "models" / "tiny.yaml")


@pytest.fixture(scope="session")
def _tiny_model(tiny_spec):
    torch.manual_seed(0)
    return build_model(tiny_spec.model).eval()


@pytest.fixture
def tiny_model(_tiny_model):
    """A fresh copy of one randomly initialised tiny model (tests may prune it)."""
    return copy.deepcopy(_tiny_model)


@pytest.fixture
def analysed():
    """``analysed(model, spec) -> (units, example)``."""

    def analyse(model, spec):
        example = torch.zeros(1, 3, *spec.preprocess.input_size)
        twin = twin_of(model)
        return find_units(twin, build_graph(twin, example)), example

    return analyse


@pytest.fixture
def frames(tiny_spec):
    generator = torch.Generator().manual_seed(3)
    return [torch.randn(1, 3, *tiny_spec.preprocess.input_size, generator=generator)
            for _ in range(3)]


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prune_synth") / "data"
    write_synth_dataset(root, SynthConfig(sequences=1, frames=4, size=(128, 96), seed=5))
    return root


@pytest.fixture
def helpers():
    return types.SimpleNamespace(run_frames=run_frames)
