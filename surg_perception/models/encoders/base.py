"""The output contract shared by every AP-MTL encoder, and its channel-width bookkeeping.

An encoder runs in two halves so the temporal memory can sit *inside* it:
``trunk(x)`` computes everything up to the deepest map shared by the segmentation decoder
and the detection head; ``extend(feats, deepest)`` puts the (memory-aggregated) deepest map
back and computes the detection-only maps below it. ``forward(x)`` is both, without memory.
So the memory acts on the deepest feature that *both* decoders read, and the detection-only
extra layers see the aggregated feature too.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from surg_perception.errors import ConfigError


class EncoderFeatures(NamedTuple):
    """Encoder outputs for one batch.

    taps: maps the segmentation decoder fuses, shallow to deep, strides ``(2, 4, 8, 16, 32)``.
    det_features: maps the SSD head reads, shallow to deep (after ``trunk`` only those down to
        ``deepest``; after ``extend`` all of them).
    deepest: ``[B, C, H/32, W/32]``, the map the temporal memory acts on; it is also
        ``taps[-1]`` and a detection map.
    """

    taps: list[Tensor]
    det_features: list[Tensor]
    deepest: Tensor


def scaled(channels: int, width_mult: float) -> int:
    """``channels * width_mult`` rounded, at least 1."""
    return max(1, int(round(channels * width_mult)))


class Encoder(nn.Module):
    """Base class: subclasses build their layers, fill ``conv_paths`` and implement the halves.

    ``conv_paths`` maps each prunable conv's stable name (e.g. ``"conv4_3"``,
    ``"block5.expand"``) to its module path, so pruning tools and checkpoints address layers by
    name, never by index. Modules are looked up at call time: a pruner that swaps or resizes a
    conv in place is seen as it is now.
    """

    tap_strides: tuple[int, ...] = (2, 4, 8, 16, 32)

    def __init__(self) -> None:
        super().__init__()
        self.conv_paths: dict[str, str] = {}

    # ---------------------------------------------------------------- the contract

    def trunk(self, x: Tensor) -> EncoderFeatures:
        raise NotImplementedError

    def extend(self, feats: EncoderFeatures, deepest: Tensor) -> EncoderFeatures:
        """Put ``deepest`` back and run the detection-only ``self.extras`` blocks below it
        (each reads the previous map), as both AP-MTL encoders do."""
        det = [*feats.det_features[:-1], deepest]
        for block in self.extras:
            det.append(block(det[-1]))
        return EncoderFeatures([*feats.taps[:-1], deepest], det, deepest)

    def forward(self, x: Tensor) -> EncoderFeatures:
        """``[B, 3, H, W] -> EncoderFeatures``; H and W divisible by 32."""
        feats = self.trunk(x)
        return self.extend(feats, feats.deepest)

    def imagenet_layout(self) -> nn.Module:
        """This encoder's layers in the key layout of its torchvision ImageNet ``features``
        (the same module objects), for ``training.init.load_pretrained_encoder``."""
        raise ConfigError(f"{type(self).__name__} has no ImageNet weight layout; set "
                          "train.pretrained_path: null")

    @property
    def tap_channels(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def det_channels(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def deepest_channels(self) -> int:
        return self.tap_channels[-1]

    # ---------------------------------------------------------------- channel widths

    def prunable_convs(self) -> dict[str, nn.Conv2d]:
        """Stable name -> conv, in build order."""
        return {name: self.get_submodule(path) for name, path in self.conv_paths.items()}

    def channel_widths(self) -> tuple[tuple[str, int], ...]:
        """``(name, out_channels)`` of every prunable conv: the spec that rebuilds this model."""
        return tuple((name, conv.out_channels) for name, conv in self.prunable_convs().items())


def check_width_names(widths: dict[str, int], valid: list[str], encoder: str) -> None:
    """Raise :class:`ConfigError` for unknown layer names or non-positive widths."""
    unknown = sorted(set(widths) - set(valid))
    if unknown:
        raise ConfigError(
            f"model.channel_widths: unknown layer(s) {unknown} for encoder {encoder!r}; "
            f"valid names: {valid}"
        )
    bad = {name: w for name, w in widths.items() if not isinstance(w, int) or w < 1}
    if bad:
        raise ConfigError(f"model.channel_widths: widths must be integers >= 1, got {bad}")
