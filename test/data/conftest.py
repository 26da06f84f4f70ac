"""Shared fixtures: one small synthetic EndoVis17-layout dataset per test session."""

from __future__ import annotations

import json
from pathlib import Path
import shutil

import pytest

from surg_perception.data.synth import SynthConfig, write_synth_dataset

SYNTH = SynthConfig(sequences=3, frames=12, size=(128, 96), seed=7)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 sequences x 12 frames at 128x96 (read-only: copy before changing files)."""
    root = tmp_path_factory.mktemp("synth") / "data"
    write_synth_dataset(root, SYNTH)
    return root


@pytest.fixture(scope="session")
def manifest(synth_root: Path) -> dict:
    return json.loads((synth_root / "manifest.json").read_text())


@pytest.fixture()
def one_sequence(synth_root: Path, tmp_path: Path) -> Path:
    """Copy instrument_dataset_1 under ``tmp_path`` (writable); return the new root."""
    root = tmp_path / "root"
    shutil.copytree(synth_root / "instrument_dataset_1", root / "instrument_dataset_1")
    return root
