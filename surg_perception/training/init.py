"""Weight initialisation from local files, run once after ``build_model`` when training starts.

The paths live in the training config (``train.pretrained_path``, ``train.backbone_weights``),
never in the model spec: a checkpoint describes an architecture and holds every weight, so it
loads on a machine where these files do not exist. ``models/`` builds networks and reads no
files; this module is the one place that opens initialisation weights, always with
``torch.load(weights_only=True)`` or safetensors, and nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path
import pickle
from typing import TYPE_CHECKING

import torch
from torch import nn

from surg_perception.errors import CheckpointError, ConfigError

if TYPE_CHECKING:  # timm is the endoarss extra: imported only where an EndoARSS model is
    from timm.models.vision_transformer import VisionTransformer


def initialise(model: nn.Module, pretrained_path: str | None,
               backbone_weights: str | None) -> None:
    """Load the initialisation files a training config names into a freshly built ``model``."""
    if pretrained_path:
        load_pretrained_encoder(model, pretrained_path)
    if backbone_weights:
        load_backbone(model, backbone_weights)


# --------------------------------------------------------------------------- AP-MTL encoders


def load_pretrained_encoder(model: nn.Module, path: str | Path) -> None:
    """Load a torchvision ImageNet ``.pth`` (VGG16 / MobileNetV2) into ``model.encoder``.

    Only the ``features.`` entries are used; the encoder must be at the file's widths
    (``width_mult`` 1, no pruned ``channel_widths``).
    """
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        raise ConfigError(
            f"train.pretrained_path is for AP-MTL encoders, but {type(model).__name__} has "
            "none; an EndoARSS backbone is initialised with train.backbone_weights")
    target = encoder.imagenet_layout()
    file = Path(path)
    if not file.is_file():
        raise ConfigError(
            f"train.pretrained_path: {file} does not exist; copy the torchvision ImageNet "
            "weights there (nothing is downloaded) or set pretrained_path: null"
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise ConfigError(
            f"train.pretrained_path: {file} is not a loadable state_dict ({exc}); use the "
            "torchvision .pth file of the matching architecture"
        ) from exc
    if not isinstance(state, dict):
        raise ConfigError(f"train.pretrained_path: {file} holds a {type(state).__name__}, "
                          "expected a state_dict")
    selected = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    own = target.state_dict()
    missing = sorted(set(own) - set(selected))
    mismatched = [k for k in own if k in selected and selected[k].shape != own[k].shape]
    if missing or mismatched:
        raise ConfigError(
            f"train.pretrained_path: {file} does not fit this encoder (missing {missing[:5]}, "
            f"shape mismatch {mismatched[:5]}); ImageNet weights need width_mult 1.0 and no "
            "channel_widths (a pruned model loads its weights from its checkpoint instead)"
        )
    target.load_state_dict({k: selected[k] for k in own})


# --------------------------------------------------------------------------- EndoARSS backbone


def load_backbone(model: nn.Module, path: str | Path) -> None:
    """Load a local DINOv2 file into an EndoARSS model's frozen ViT (LoRA stays as built)."""
    backbone = getattr(model, "backbone", None)
    if backbone is None or not hasattr(backbone, "vit"):
        raise ConfigError(
            f"train.backbone_weights is for EndoARSS ViT backbones, but {type(model).__name__} "
            "has none; AP-MTL encoders are initialised with train.pretrained_path")
    load_vit_weights(backbone.vit, path)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(
            f"backbone weights not found: {path}; set train.backbone_weights to a local "
            "DINOv2 file (.safetensors or .pth) or to null for a randomly initialised backbone"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"cannot read backbone weights {path}: {exc}; expected a safetensors file or a "
            "tensor-only torch state dict (weights_only=True)"
        ) from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"backbone weights {path}: expected a state dict, got {type(state)}")
    return state


def _lora_keys(vit: VisionTransformer, state: dict[str, torch.Tensor]) -> dict:
    """Point ``blocks.i.attn.qkv.*`` at the frozen Linear a ``LoRAQKV`` wraps, if any."""
    from surg_perception.models.endoarss.lora import LoRAQKV

    wrapped = {f"blocks.{i}.attn.qkv." for i, block in enumerate(vit.blocks)
               if isinstance(block.attn.qkv, LoRAQKV)}
    out = {}
    for key, value in state.items():
        prefix = key[: key.rfind(".") + 1]
        out[f"{prefix}qkv.{key[len(prefix):]}" if prefix in wrapped else key] = value
    return out


def load_vit_weights(vit: VisionTransformer, path: str | Path) -> None:
    """Load a local timm- or DINOv2-layout state dict into ``vit``; every key must match.

    ``vit`` may already carry LoRA (:func:`~surg_perception.models.endoarss.lora.inject_lora`):
    the file fills the frozen projections and the LoRA factors keep their initial values.
    """
    from timm.models.vision_transformer import checkpoint_filter_fn

    state = checkpoint_filter_fn(_read_state_dict(Path(path)), vit)
    state = _lora_keys(vit, {k: v for k, v in state.items() if not k.startswith("head.")})
    try:
        missing, unexpected = vit.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise CheckpointError(
            f"backbone weights {path} do not fit this ViT: {exc}; check model.endoarss.vit_size"
        ) from exc
    missing = [k for k in missing if not k.startswith("head.") and ".lora_" not in k]
    if missing or unexpected:
        raise CheckpointError(
            f"backbone weights {path} do not fit this ViT: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}; check model.endoarss.vit_size/patch_size (registers unsupported)"
        )
