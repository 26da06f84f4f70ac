"""Frozen DINOv2-style ViT backbone (timm ``VisionTransformer``, patch 14, no registers).

The architecture is timm's; this module adds what the EndoARSS family needs around it:

* weights come from the checkpoint, or at the start of training from a local file
  (``training/init.py``: ``train.backbone_weights``); nothing here reads files;
* every backbone weight is frozen (LoRA, injected later by :mod:`.lora`, is what trains);
* inputs of any size: the package's input contract is ``H, W % 32 == 0`` while the ViT needs
  multiples of the patch size, so the image is resized (bilinear) to the nearest multiple of
  14 in each dimension and the position embedding is resampled to the resulting grid.

The position embedding is resampled here rather than with timm's ``dynamic_img_size``:
timm uses antialiased bicubic interpolation, which has no ONNX export; plain bicubic is
what the original DINOv2 code uses and exports as an ONNX ``Resize``.
"""

from __future__ import annotations

from timm.models.vision_transformer import VisionTransformer
import torch
from torch import nn
import torch.nn.functional as F

from surg_perception.errors import ConfigError

# name -> (embed_dim, depth, num_heads, pretraining image size). The image size fixes the
# stored position-embedding grid (518 / 14 = 37, as DINOv2 checkpoints have it).
VIT_SIZES: dict[str, tuple[int, int, int, int]] = {
    "tiny": (64, 2, 2, 224),  # tests only
    "small": (384, 12, 6, 518),
    "base": (768, 12, 12, 518),
}


def tokens_to_map(tokens: torch.Tensor, num_prefix: int, grid: tuple[int, int]) -> torch.Tensor:
    """Patch tokens ``[B, prefix + h*w, C]`` -> feature map ``[B, C, h, w]``.

    Tokens are laid out row-major over the patch grid, so they are reshaped to
    ``[B, h, w, C]`` first and only then moved channel-first (reshaping straight to
    ``[B, C, h, w]`` would scramble positions and channels).
    """
    h, w = grid
    batch, count, channels = tokens.shape
    if count != num_prefix + h * w:
        raise ValueError(
            f"tokens_to_map: {count} tokens do not match {num_prefix} prefix + {h}x{w} grid"
        )
    return tokens[:, num_prefix:].reshape(batch, h, w, channels).permute(0, 3, 1, 2)


def patch_multiple_size(height: int, width: int, patch: int) -> tuple[int, int]:
    """Nearest multiple of ``patch`` (at least one patch) for each side."""
    return max(1, round(height / patch)) * patch, max(1, round(width / patch)) * patch


class ViTBackbone(nn.Module):
    """Frozen ViT returning all tokens and the patch grid.

    ``forward(images [B, 3, H, W]) -> (tokens [B, 1 + h*w, C], (h, w))`` with
    ``h, w = round(H / 14), round(W / 14)``; token 0 is the class token.
    """

    def __init__(self, vit: VisionTransformer) -> None:
        super().__init__()
        if vit.num_reg_tokens or vit.no_embed_class or vit.pos_embed is None:
            raise ConfigError("ViTBackbone expects a register-free ViT with a learned pos_embed")
        self.vit = vit
        self.patch_size = vit.patch_embed.patch_size[0]
        self.num_prefix = vit.num_prefix_tokens
        self.embed_dim = vit.embed_dim

    def _pos_embed(self, grid: tuple[int, int]) -> torch.Tensor:
        """Position embedding ``[1, prefix + h*w, C]`` for ``grid`` (bicubic, no antialias)."""
        pos = self.vit.pos_embed
        stored = tuple(self.vit.patch_embed.grid_size)
        if stored == grid:
            return pos
        prefix, patches = pos[:, : self.num_prefix], pos[:, self.num_prefix :]
        patches = patches.reshape(1, stored[0], stored[1], -1).permute(0, 3, 1, 2)
        patches = F.interpolate(patches.float(), size=grid, mode="bicubic", align_corners=False)
        patches = patches.to(pos.dtype).permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)
        return torch.cat([prefix, patches], dim=1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        height, width = images.shape[-2:]
        size = patch_multiple_size(int(height), int(width), self.patch_size)
        if size != (height, width):
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        x = self.vit.patch_embed(images)  # [B, h, w, C] (timm NHWC output)
        batch, h, w, channels = x.shape
        x = x.reshape(batch, h * w, channels)
        cls = self.vit.cls_token.expand(batch, -1, -1)
        x = torch.cat([cls, x], dim=1) + self._pos_embed((h, w))
        x = self.vit.norm_pre(x)
        x = self.vit.blocks(x)
        return self.vit.norm(x), (h, w)


def build_vit(size: str, patch_size: int = 14) -> VisionTransformer:
    """Randomly initialised DINOv2-layout ViT (LayerScale 1e-5, class token, no registers)."""
    if size not in VIT_SIZES:
        raise ConfigError(f"unknown vit_size {size!r}; valid sizes: {sorted(VIT_SIZES)}")
    if patch_size <= 0:
        raise ConfigError(f"patch_size must be positive, got {patch_size}")
    dim, depth, heads, img_size = VIT_SIZES[size]
    return VisionTransformer(
        img_size=img_size,
        patch_size=patch_size,
        embed_dim=dim,
        depth=depth,
        num_heads=heads,
        num_classes=0,
        init_values=1e-5,
        dynamic_img_size=True,  # NHWC, non-strict patch embed; the pos embed is resampled here
    )


def freeze(module: nn.Module) -> None:
    """Stop gradients for every parameter of ``module``."""
    for param in module.parameters():
        param.requires_grad_(False)
