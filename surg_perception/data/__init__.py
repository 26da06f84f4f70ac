"""Datasets (EndoVis 2017/2018, VQLA activities, synthetic videos), clips and augmentation.

Loaders return raw uint8 frames, uint8 masks and pixel boxes (:class:`FrameSample`);
normalisation for the network lives in ``surg_perception.processing.preprocess``.

The names below are imported on first use (PEP 562): ``surg-perception synth --help`` and the
bag tools read ``data.io`` without paying for torch, which only the clip/dataset classes need.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "ClipBatch": "clips", "ClipDataset": "clips", "collate_clips": "clips",
    "EndoVis17Dataset": "endovis17", "fold_sequences": "endovis17",
    "EndoVis18Dataset": "endovis18",
    "FrameSample": "sample", "SequenceDataset": "sample",
    "SynthConfig": "synth", "write_synth_dataset": "synth",
    "train_augmentation": "transforms",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
