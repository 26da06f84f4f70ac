"""Shared fixtures: a tiny synthetic EndoVis17-layout set and small training configs."""

from pathlib import Path

import pytest
import torch

from surg_perception.config import load_spec
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.training.config import PhaseConfig, TrainConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_synth_dataset(root, SynthConfig(sequences=2, frames=8, size=(128, 96), seed=0))
    return root


@pytest.fixture(scope="session")
def tiny_spec():
    return load_spec(REPO / "config" / "models" / "tiny.yaml")


@pytest.fixture()
def short_cfg() -> TrainConfig:
    """Two steps per ATO phase, one clip of four frames (the memory's tau) per batch, 4 clips
    per epoch.

    Six steps cross an epoch boundary, so resume is tested across a reshuffle too.
    """
    torch.set_num_threads(1)
    return TrainConfig(optimizer="adam", lr=2e-3, weight_decay=0.0, batch_size=1, clip_length=4,
                       clip_stride=4, augment=True, workers=0, amp=False, log_interval=1,
                       ckpt_interval=2, phases=(PhaseConfig("detection", iterations=2),
                                                PhaseConfig("segmentation", iterations=2),
                                                PhaseConfig("end_to_end", iterations=2, lr=1e-3)))
