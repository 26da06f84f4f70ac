"""``build_model(cfg)``: plain dict registries of encoders and model families.

Builder order (as timm's): instantiate each part at the widths of ``cfg`` (pruned
``channel_widths`` included, so the shapes are final); files are never read here (weights
from files are a training step, ``training/init.py``; trained weights are the caller's,
``checkpoint.load_model``). A family in its own package is a lazy entry of
:data:`FAMILIES` (``"module:function"``), imported on first use: the family package does not
import this module back, so there is no import cycle and no registration by side effect.
"""

from __future__ import annotations

from collections.abc import Callable
import importlib

from torch import nn

from surg_perception.config import ModelConfig
from surg_perception.errors import ConfigError
from surg_perception.models.apmtl import APMTL
from surg_perception.models.decoders.skip_scse_decoder import SkipSCSEDecoder
from surg_perception.models.encoders.base import Encoder
from surg_perception.models.encoders.mobilenet_v2 import build_mobilenet_v2
from surg_perception.models.encoders.vgg16_ssd import build_vgg16_ssd
from surg_perception.models.heads.activity_head import ActivityHead
from surg_perception.models.heads.hog_head import HogHead
from surg_perception.models.heads.ssd_head import SSDHead
from surg_perception.models.memory import DualMemory

ENCODERS: dict[str, Callable[[ModelConfig], Encoder]] = {
    "vgg16_ssd": build_vgg16_ssd,
    "mobilenet_v2": build_mobilenet_v2,
}
# family -> builder, or "module:function" of a builder imported on first use
FAMILIES: dict[str, Callable[[ModelConfig], nn.Module] | str] = {
    "endoarss": "surg_perception.models.endoarss.model:build_endoarss",
}


def register_family(name: str, builder: Callable[[ModelConfig], nn.Module]) -> None:
    """Make ``build_model`` build ``cfg.family == name`` with ``builder(cfg)``."""
    FAMILIES[name] = builder


def _lookup(table: dict[str, Callable], key: str, what: str) -> Callable:
    try:
        return table[key]
    except KeyError:
        raise ConfigError(
            f"model.{what}: unknown value {key!r}; valid values: {sorted(table)}"
        ) from None


def _family_builder(name: str) -> Callable[[ModelConfig], nn.Module]:
    builder = _lookup(FAMILIES, name, "family")
    if isinstance(builder, str):
        module, function = builder.split(":")
        builder = getattr(importlib.import_module(module), function)
        FAMILIES[name] = builder
    return builder


def build_encoder(cfg: ModelConfig) -> Encoder:
    return _lookup(ENCODERS, cfg.encoder, "encoder")(cfg)


def build_apmtl(cfg: ModelConfig) -> APMTL:
    """The AP-MTL recipe: encoder -> {memory, Skip-scSE decoder, SSD, activity, HOG heads}."""
    if len(cfg.seg_classes) < 2:
        raise ConfigError("model.seg_classes: need at least 2 classes (background first)")
    if cfg.decoder_channels < 1:
        raise ConfigError(f"model.decoder_channels must be >= 1, got {cfg.decoder_channels}")
    encoder = build_encoder(cfg)
    deep = encoder.deepest_channels
    if len(cfg.part_classes) == 1:
        raise ConfigError("model.part_classes: give at least 2 classes (background first) "
                          "or none (no part head)")
    decoder = SkipSCSEDecoder(encoder.tap_channels, cfg.decoder_channels, len(cfg.seg_classes),
                              cfg.decoder_head)
    det_head = activity_head = hog_head = memory = None
    if cfg.detection.enabled and cfg.det_classes:
        det_head = SSDHead(encoder.det_channels, len(cfg.det_classes), cfg.detection)
    if cfg.activity_classes:
        activity_head = ActivityHead(deep, len(cfg.activity_classes), pool=cfg.activity_pool)
    if cfg.hog.enabled:
        hog_head = HogHead(deep, cfg.hog)
    if cfg.memory.enabled:
        memory = DualMemory(deep, cfg.memory)
    if cfg.part_classes:  # last: the other parts' seeded weights do not depend on it
        decoder.attach_part_head(len(cfg.part_classes))
    return APMTL(encoder, decoder, det_head, activity_head, hog_head, memory)


register_family("apmtl", build_apmtl)


def build_model(cfg: ModelConfig) -> nn.Module:
    """Build the network described by ``cfg`` with random (seeded by the caller) weights."""
    if not isinstance(cfg, ModelConfig):
        raise ConfigError(f"build_model expects a ModelConfig, got {type(cfg).__name__}")
    return _family_builder(cfg.family)(cfg)
