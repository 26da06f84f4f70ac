"""Shared fixtures: a tiny synthetic EndoVis-2017 sequence, its bag and a tiny checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from surg_perception.bags.convert import ConvertOptions, convert
from surg_perception.data.synth import SynthConfig, write_synth_dataset

FRAMES = 4
SIZE = (96, 80)  # W, H


@pytest.fixture(scope="session")
def synth_sequence(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_synth_dataset(root, SynthConfig(sequences=1, frames=FRAMES, size=SIZE, seed=3))
    return root / "instrument_dataset_1"


@pytest.fixture(scope="session")
def synth_bag(synth_sequence, tmp_path_factory) -> Path:
    """The synthetic sequence as an mcap bag with ground truth (do not modify)."""
    out = tmp_path_factory.mktemp("bags") / "synth_mcap"
    convert(synth_sequence, out, ConvertOptions(progress=False))
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_config_path) -> Path:
    import torch

    from surg_perception.checkpoint import save_checkpoint
    from surg_perception.config import load_spec
    from surg_perception.models.registry import build_model

    spec = load_spec(tiny_config_path)
    torch.manual_seed(0)
    model = build_model(spec.model).eval()
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", model, spec)
