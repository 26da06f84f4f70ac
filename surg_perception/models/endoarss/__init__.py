"""EndoARSS family: frozen DINOv2-style ViT + shared LoRA + TESLA task adapters + SMA.

``surg_perception.models.registry.FAMILIES`` names :func:`build_endoarss` lazily, so
``build_model(cfg)`` builds it for ``cfg.family == "endoarss"`` (importing this package
registers nothing). ``trainable_parameter_groups(model)`` names the trainable
parameters by role (shared LoRA, per-task adapters, SMA, heads).
"""

from surg_perception.models.endoarss.model import (
    EndoARSS,
    build_endoarss,
    trainable_parameter_groups,
)

__all__ = ["EndoARSS", "build_endoarss", "trainable_parameter_groups"]
