"""MobileNetV2 encoder (DMNet's backbone) with SSDLite-style extra detection maps.

torchvision's ``mobilenet_v2(width_mult=...)`` features are split into stages wherever a
block has stride 2 (found from the blocks themselves, not from indices):
stage1 (stride 2: stem, block1), stage2 (4), stage3 (8), stage4 (16), stage5 (32). Their
outputs are the five taps; stage3..stage5 plus three stride-2 extra blocks are the six
detection maps; stage5's output is the deepest map the memory acts on. torchvision's final
1x1 conv to 1280 channels exists for ImageNet classification and is dropped.

Prunable convs: ``stem``, ``block{i}.expand`` (the hidden width; the depthwise conv follows
it) and ``block{i}.project`` (a block's output; inside a residual group it must equal the
group's input width, so it is derived from the producer unless given consistently).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn
import torchvision
from torchvision.models.mobilenetv2 import InvertedResidual

from surg_perception.config import ModelConfig
from surg_perception.errors import ConfigError
from surg_perception.models.blocks.extras import ExtraBlock
from surg_perception.models.encoders.base import (
    Encoder,
    EncoderFeatures,
    check_width_names,
    scaled,
)

EXTRAS = (("extra1", 128, 256), ("extra2", 64, 128), ("extra3", 64, 128))


def _stride(module: nn.Module) -> int:
    if isinstance(module, InvertedResidual):
        return module.stride
    return module[0].stride[0]  # the stem: Conv2dNormActivation


def _conv_like(conv: nn.Conv2d, in_channels: int, out_channels: int) -> nn.Conv2d:
    """A fresh conv with ``conv``'s hyper-parameters at new widths (depthwise stays so)."""
    groups = in_channels if conv.groups > 1 else 1
    return nn.Conv2d(in_channels, out_channels, conv.kernel_size, conv.stride, conv.padding,
                     conv.dilation, groups, conv.bias is not None)


def _resize(seq: nn.Sequential, index: int, in_channels: int, out_channels: int) -> None:
    """Resize the conv at ``seq[index]`` and the BatchNorm after it, if their widths differ."""
    conv = seq[index]
    if (conv.in_channels, conv.out_channels) == (in_channels, out_channels):
        return
    seq[index] = _conv_like(conv, in_channels, out_channels)
    seq[index + 1] = nn.BatchNorm2d(out_channels)
    if hasattr(seq, "out_channels"):
        seq.out_channels = out_channels


def _adapt_block(block: InvertedResidual, name: str, in_ch: int, widths: dict[str, int]) -> int:
    """Set one block's widths from the pruned spec; returns its output width."""
    layers = block.conv
    has_expand = len(layers) == 4  # [expand, depthwise, project, bn] or [depthwise, project, bn]
    hidden = widths.get(f"{name}.expand", layers[0][0].out_channels) if has_expand else in_ch
    project = layers[-2]
    out = widths.get(f"{name}.project", in_ch if block.use_res_connect else project.out_channels)
    if block.use_res_connect and out != in_ch:
        raise ConfigError(
            f"model.channel_widths: {name}.project = {out} but {name} adds its input "
            f"({in_ch} channels) to its output; residual widths must match (prune the whole "
            "residual group together)"
        )
    if has_expand:
        _resize(layers[0], 0, in_ch, hidden)
    _resize(layers[-3], 0, hidden, hidden)
    _resize(layers, len(layers) - 2, hidden, out)
    block.out_channels = out
    return out


class MobileNetV2Encoder(Encoder):
    """MobileNetV2 encoder. ``[B, 3, H, W] -> EncoderFeatures`` (6 detection maps)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        net = torchvision.models.mobilenet_v2(weights=None, width_mult=cfg.width_mult)
        blocks = list(net.features)[:-1]  # drop the 1x1 conv to the classifier width
        names = ["stem"] + [f"block{i}" for i in range(1, len(blocks))]
        widths = cfg.widths()
        check_width_names(widths, self._valid_names(blocks, names), "mobilenet_v2")
        _resize(blocks[0], 0, 3, widths.get("stem", blocks[0].out_channels))
        in_ch = blocks[0].out_channels
        for name, block in zip(names[1:], blocks[1:]):
            in_ch = _adapt_block(block, name, in_ch, widths)
        stages: list[OrderedDict] = []
        for name, block in zip(names, blocks):
            if _stride(block) == 2:
                stages.append(OrderedDict())
            stages[-1][name] = block
        self.stage1, self.stage2, self.stage3, self.stage4, self.stage5 = (
            nn.Sequential(stage) for stage in stages
        )
        extras = []
        for name, mid, out in EXTRAS:
            mid_w = widths.get(f"{name}_1", scaled(mid, cfg.width_mult))
            out_w = widths.get(f"{name}_2", scaled(out, cfg.width_mult))
            extras.append(ExtraBlock(in_ch, mid_w, out_w, "down"))
            in_ch = out_w
        self.extras = nn.ModuleList(extras)
        self.conv_paths = self._conv_paths()

    def imagenet_layout(self) -> nn.Sequential:
        """torchvision's ``features[:18]`` (stem, block1..block17), sharing this encoder's
        modules, so ImageNet weights load by their own keys."""
        stages = (self.stage1, self.stage2, self.stage3, self.stage4, self.stage5)
        return nn.Sequential(*(block for stage in stages for block in stage))

    @staticmethod
    def _valid_names(blocks: list[nn.Module], names: list[str]) -> list[str]:
        valid = ["stem"]
        for name, block in zip(names[1:], blocks[1:]):
            valid += [f"{name}.expand"] * (len(block.conv) == 4) + [f"{name}.project"]
        return valid + [f"{name}_{i}" for name, *_ in EXTRAS for i in (1, 2)]

    def _conv_paths(self) -> dict[str, str]:
        paths = {}
        for index in range(1, 6):
            stage = f"stage{index}"
            for name, block in getattr(self, stage).named_children():
                if name == "stem":
                    paths["stem"] = f"{stage}.stem.0"
                    continue
                if len(block.conv) == 4:
                    paths[f"{name}.expand"] = f"{stage}.{name}.conv.0.0"
                paths[f"{name}.project"] = f"{stage}.{name}.conv.{len(block.conv) - 2}"
        for i, (name, *_rest) in enumerate(EXTRAS):
            paths.update({f"{name}_1": f"extras.{i}.reduce", f"{name}_2": f"extras.{i}.expand"})
        return paths

    def trunk(self, x: Tensor) -> EncoderFeatures:
        taps = []
        for stage in (self.stage1, self.stage2, self.stage3, self.stage4, self.stage5):
            x = stage(x)
            taps.append(x)
        return EncoderFeatures(taps, taps[2:], taps[-1])

    @staticmethod
    def _stage_width(stage: nn.Sequential) -> int:
        return stage[-1].conv[-2].out_channels  # the last block's projection conv

    @property
    def tap_channels(self) -> tuple[int, ...]:
        stages = (self.stage1, self.stage2, self.stage3, self.stage4, self.stage5)
        return tuple(self._stage_width(stage) for stage in stages)

    @property
    def det_channels(self) -> tuple[int, ...]:
        return (*self.tap_channels[2:], *(block.expand.out_channels for block in self.extras))


def build_mobilenet_v2(cfg: ModelConfig) -> MobileNetV2Encoder:
    return MobileNetV2Encoder(cfg)
