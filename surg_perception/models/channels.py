"""Prunable layers and the pruned channel spec (``ModelConfig.channel_widths``).

The pruning tools remove channels physically (a dependency-graph library also shrinks every
consumer), then call :func:`read_channel_widths` and store the result in the spec. Building
from that spec gives exactly the pruned shapes, because every encoder conv reads its width
from the spec and every consumer (next conv, L2Norm, decoder skips, SSD head, memory, activity
and HOG heads) derives its input width from its producer.
"""

from __future__ import annotations

from torch import nn

from surg_perception.errors import ConfigError
from surg_perception.models.encoders.base import Encoder


def _encoder(model: nn.Module) -> Encoder:
    encoder = model if isinstance(model, Encoder) else getattr(model, "encoder", None)
    if not isinstance(encoder, Encoder):
        raise ConfigError(
            f"{type(model).__name__} has no prunable AP-MTL encoder; channel pruning applies "
            "to the apmtl family (vgg16_ssd, mobilenet_v2)"
        )
    return encoder


def prunable_layers(model: nn.Module) -> dict[str, nn.Conv2d]:
    """Stable layer name -> encoder conv, in build order (e.g. ``"conv4_3"``)."""
    return _encoder(model).prunable_convs()


def read_channel_widths(model: nn.Module) -> tuple[tuple[str, int], ...]:
    """``(name, out_channels)`` of every prunable conv, for ``ModelConfig.channel_widths``."""
    return _encoder(model).channel_widths()


def has_prunable_encoder(model: nn.Module) -> bool:
    return isinstance(getattr(model, "encoder", None), Encoder)
