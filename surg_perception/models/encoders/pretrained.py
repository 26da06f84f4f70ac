"""Local ImageNet weights for the encoders: read from a file, never downloaded."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from surg_perception.errors import ConfigError


def load_into(module: nn.Module, path: str, prefix: str) -> None:
    """Load the ``prefix``-ed entries of a torchvision state_dict file into ``module``.

    Args:
        module: e.g. the ``features`` Sequential of a torchvision VGG16 / MobileNetV2, built
            at the same widths as the file (width_mult 1, no pruned channel_widths).
        path: a ``.pth`` state_dict saved by torchvision (``torch.load(weights_only=True)``).
        prefix: key prefix to select and strip, e.g. ``"features."``.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(
            f"model.pretrained_path: {file} does not exist; copy the torchvision ImageNet "
            "weights there (nothing is downloaded) or set pretrained_path: null"
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise ConfigError(
            f"model.pretrained_path: {file} is not a loadable state_dict ({exc}); use the "
            "torchvision .pth file of the matching architecture"
        ) from exc
    if not isinstance(state, dict):
        raise ConfigError(f"model.pretrained_path: {file} holds a {type(state).__name__}, "
                          "expected a state_dict")
    selected = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    own = module.state_dict()
    missing = sorted(set(own) - set(selected))
    mismatched = [k for k in own if k in selected and selected[k].shape != own[k].shape]
    if missing or mismatched:
        raise ConfigError(
            f"model.pretrained_path: {file} does not fit this encoder (missing {missing[:5]}, "
            f"shape mismatch {mismatched[:5]}); ImageNet weights need width_mult 1.0 and no "
            "channel_widths (a pruned model loads its weights from its checkpoint instead)"
        )
    module.load_state_dict({k: selected[k] for k in own})
