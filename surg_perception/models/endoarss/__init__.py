"""EndoARSS family: frozen DINOv2-style ViT + shared LoRA + TESLA task adapters + SMA.

Importing this package registers the family ``"endoarss"`` with
:func:`surg_perception.models.registry.register_family`, so ``build_model(cfg)`` builds it
for ``cfg.family == "endoarss"``. ``trainable_parameter_groups(model)`` names the trainable
parameters by role (shared LoRA, per-task adapters, SMA, heads).
"""

from surg_perception.models.endoarss.model import (
    EndoARSS,
    build_endoarss,
    trainable_parameter_groups,
)
from surg_perception.models.registry import register_family

register_family("endoarss", build_endoarss)

__all__ = ["EndoARSS", "build_endoarss", "trainable_parameter_groups"]
