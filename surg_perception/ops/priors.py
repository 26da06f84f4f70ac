"""SSD prior (default) boxes: a pure function of the geometry config and the feature-map sizes.

The order of the priors matches the SSD head's output order: feature map by feature map,
row-major over cells, then per cell ``[s_k square, sqrt(s_k * s'_k) square, then for each
aspect ratio a: (wide a, tall a), then the map's extra shapes]``.

Sizes are relative to the input's shorter side (``DetectionConfig.scale_reference`` of it),
so the same config gives priors of the same relative size at every input size; which maps
can hold which sizes does depend on the input size (a prior needs a grid step well under its
own size to reach IoU 0.5 with an off-centre box): check with ``model-info --prior-coverage``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from surg_perception.config import DetectionConfig
from surg_perception.errors import ConfigError

Shape = tuple[float, float]  # (w, h) as fractions of the input's shorter side


def priors_per_location(cfg: DetectionConfig) -> tuple[int, ...]:
    """Priors per cell of each map: ``2 + 2 * len(aspect_ratios[k]) + len(extra_shapes[k])``."""
    extra = cfg.extra_shapes or ((),) * len(cfg.aspect_ratios)
    return tuple(2 + 2 * len(ratios) + len(more) for ratios, more in zip(cfg.aspect_ratios, extra))


def check_detection_config(cfg: DetectionConfig, num_maps: int) -> None:
    """Raise :class:`ConfigError` unless the geometry lists one entry per feature map."""
    lengths = {
        "min_scales": len(cfg.min_scales),
        "max_scales": len(cfg.max_scales),
        "aspect_ratios": len(cfg.aspect_ratios),
    }
    if cfg.extra_shapes:
        lengths["extra_shapes"] = len(cfg.extra_shapes)
    wrong = {name: n for name, n in lengths.items() if n != num_maps}
    if wrong:
        raise ConfigError(
            f"model.detection: the encoder gives {num_maps} detection feature maps but "
            f"{wrong} entries were configured; give exactly {num_maps} values in each list"
        )
    bad = [r for ratios in cfg.aspect_ratios for r in ratios if r <= 0]
    bad += [v for shapes in cfg.extra_shapes for shape in shapes for v in shape if v <= 0]
    if bad or min(cfg.min_scales) <= 0 or min(cfg.max_scales) <= 0 or cfg.scale_reference <= 0:
        raise ConfigError("model.detection: scales, shapes, aspect ratios and scale_reference "
                          "must be positive")


def cell_shapes(cfg: DetectionConfig, k: int) -> list[Shape]:
    """(w, h) of the priors of one cell of map ``k``, as fractions of the shorter side."""
    unit = 1.0 / cfg.scale_reference
    s, s_next = cfg.min_scales[k] * unit, cfg.max_scales[k] * unit
    shapes = [(s, s), (math.sqrt(s * s_next),) * 2]
    for ratio in cfg.aspect_ratios[k]:
        r = math.sqrt(ratio)
        shapes += [(s * r, s / r), (s / r, s * r)]
    if cfg.extra_shapes:
        shapes += [(w * unit, h * unit) for w, h in cfg.extra_shapes[k]]
    return shapes


def grid_priors(shapes: list[Shape], feature_size: tuple[int, int],
                image_size: tuple[int, int]) -> Tensor:
    """Priors of one map: every shape at every cell centre, ``[h * w * A, 4]`` float64 cxcywh.

    Args:
        shapes: A ``(w, h)`` pairs, fractions of the shorter side of ``image_size`` (so a
            square shape is square in pixels on non-square inputs).
        feature_size: ``(h, w)`` cells of the map.
        image_size: ``(H, W)`` of the network input.
    """
    height, width = image_size
    short = min(height, width)
    fh, fw = feature_size
    sizes = torch.tensor([(w * short / width, h * short / height) for w, h in shapes],
                         dtype=torch.float64)  # [A, 2]
    cy, cx = torch.meshgrid(
        (torch.arange(fh, dtype=torch.float64) + 0.5) / fh,
        (torch.arange(fw, dtype=torch.float64) + 0.5) / fw,
        indexing="ij",
    )
    centers = torch.stack([cx, cy], dim=-1).reshape(-1, 1, 2)  # [h*w, 1, 2]
    cells = torch.cat(torch.broadcast_tensors(centers, sizes[None]), dim=-1)  # [h*w, A, 4]
    return cells.reshape(-1, 4)


def make_priors(
    cfg: DetectionConfig,
    feature_sizes: list[tuple[int, int]],
    image_size: tuple[int, int],
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Prior boxes for one input size.

    Args:
        cfg: prior geometry; sizes are fractions of the image's shorter side (divided by
            ``cfg.scale_reference``), so priors stay square in pixels on non-square inputs.
        feature_sizes: ``(h, w)`` of each detection feature map, as the encoder produced them.
        image_size: ``(H, W)`` of the network input.

    Returns:
        ``[P, 4]`` (cx, cy, w, h) normalised to [0, 1],
        ``P = sum_k h_k * w_k * priors_per_location(cfg)[k]``.
    """
    check_detection_config(cfg, len(feature_sizes))
    priors = torch.cat([grid_priors(cell_shapes(cfg, k), size, image_size)
                        for k, size in enumerate(feature_sizes)])
    if cfg.clip_priors:
        priors = priors.clamp(0.0, 1.0)
    return priors.to(dtype=dtype, device=device)
