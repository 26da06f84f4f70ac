"""EndoARSS wiring: frozen ViT (+ shared LoRA) -> TESLA adapters -> SMA -> task heads.

Only :func:`build_endoarss` knows the recipe; :class:`EndoARSS` receives its parts.
"""

from __future__ import annotations

import torch
from torch import nn

from surg_perception.config import EndoArssConfig, ModelConfig
from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.models.endoarss.heads import ActivityHead, SegmentationHead
from surg_perception.models.endoarss.lora import inject_lora, lora_parameters
from surg_perception.models.endoarss.sma import SMA
from surg_perception.models.endoarss.tesla import Tesla
from surg_perception.models.endoarss.vit import (
    ViTBackbone,
    build_vit,
    freeze,
    tokens_to_map,
)
from surg_perception.models.outputs import ModelOutput


class EndoARSS(nn.Module):
    """Segmentation + activity recognition on a frozen foundation ViT.

    ``forward(images [B, 3, H, W], state=None) -> (ModelOutput, None)``; ``images`` are
    normalised, any H, W (the backbone resizes to multiples of 14 internally).
    ``seg_logits [B, S, H, W]`` at the input size, ``activity_logits [B, A]``;
    ``det_logits``, ``det_deltas`` and ``hog`` are None. There is no temporal memory: any
    ``state`` passed in is ignored and the returned state is None.

    The trunk runs once; both task feature maps go through SMA as one batch ``[2B, ...]``.
    """

    has_detection = False
    has_activity = True
    has_memory = False
    has_parts = False  # the part head is an AP-MTL-family head (models/decoders)

    def __init__(
        self,
        backbone: ViTBackbone,
        tesla: Tesla,
        sma: SMA,
        seg_head: SegmentationHead,
        activity_head: ActivityHead,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.tesla = tesla
        self.sma = sma
        self.seg_head = seg_head
        self.activity_head = activity_head

    def forward(self, images: torch.Tensor, state: object = None) -> tuple[ModelOutput, None]:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ImageFormatError(
                f"EndoARSS expects normalised images [B, 3, H, W], got {tuple(images.shape)}"
            )
        tokens, grid = self.backbone(images)
        seg_tokens, act_tokens = self.tesla(tokens)
        prefix = self.backbone.num_prefix
        maps = torch.cat(
            [tokens_to_map(seg_tokens, prefix, grid), tokens_to_map(act_tokens, prefix, grid)]
        )
        seg_map, act_map = self.sma(maps).chunk(2, dim=0)
        out = ModelOutput(
            seg_logits=self.seg_head(seg_map, tuple(images.shape[-2:])),
            det_logits=None,
            det_deltas=None,
            activity_logits=self.activity_head(act_map, act_tokens[:, 0]),
            hog=None,
        )
        return out, None

    def priors(self, height: int, width: int) -> torch.Tensor:
        raise ConfigError(
            "EndoARSS has no detection head, so it has no prior boxes; check "
            "model.has_detection before decoding detections"
        )


def _check_supported(cfg: ModelConfig) -> None:
    """Reject options this family does not implement instead of silently ignoring them."""
    unsupported = {
        "model.detection.enabled": cfg.detection.enabled,
        "model.memory.enabled": cfg.memory.enabled,
        "model.hog.enabled": cfg.hog.enabled,
        "model.channel_widths": bool(cfg.channel_widths),
        "model.part_classes": bool(cfg.part_classes),
    }
    enabled = [name for name, on in unsupported.items() if on]
    if enabled:
        raise ConfigError(
            "family 'endoarss' supports neither detection, memory, HOG, a part head nor pruned "
            f"widths; set {enabled} to false/empty in the model config"
        )


def build_endoarss(cfg: ModelConfig) -> EndoARSS:
    """Build the EndoARSS model for ``cfg`` (``cfg.endoarss`` or its defaults).

    Order: ViT -> freeze -> inject LoRA -> task modules. Local DINOv2 weights are loaded into
    the frozen ViT afterwards, by ``training.init.load_backbone`` (``train.backbone_weights``).
    """
    _check_supported(cfg)
    arss = cfg.endoarss if cfg.endoarss is not None else EndoArssConfig()
    vit = build_vit(arss.vit_size, arss.patch_size)
    freeze(vit)
    inject_lora(vit, arss.lora_rank)
    backbone = ViTBackbone(vit)
    dim = backbone.embed_dim
    return EndoARSS(
        backbone=backbone,
        tesla=Tesla(dim, arss.adapter_rank),
        sma=SMA(dim, arss.sma_patch),
        seg_head=SegmentationHead(dim, len(cfg.seg_classes), arss.aspp_channels),
        activity_head=ActivityHead(dim, len(cfg.activity_classes), arss.aspp_channels),
    )


def trainable_parameter_groups(model: EndoARSS) -> dict[str, list[nn.Parameter]]:
    """Trainable parameters by role: shared_lora, seg_adapter, activity_adapter, sma, heads.

    Raises ``RuntimeError`` if any trainable parameter falls outside these groups (e.g. a
    backbone weight that was not frozen), so training can rely on the split.
    """
    groups = {
        "shared_lora": lora_parameters(model.backbone),
        "seg_adapter": list(model.tesla.adapters["seg"].parameters()),
        "activity_adapter": list(model.tesla.adapters["activity"].parameters()),
        "sma": list(model.sma.parameters()),
        "heads": list(model.seg_head.parameters()) + list(model.activity_head.parameters()),
    }
    grouped = {id(p) for params in groups.values() for p in params}
    stray = [
        name for name, p in model.named_parameters() if p.requires_grad and id(p) not in grouped
    ]
    frozen = [name for name, params in groups.items() if not all(p.requires_grad for p in params)]
    if stray or frozen:
        raise RuntimeError(
            f"EndoARSS parameter split broken: trainable outside groups {stray[:5]}, "
            f"groups with frozen params {frozen}"
        )
    return groups
