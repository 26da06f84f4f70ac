"""VGG16 turned into the SSD encoder, as AP-MTL uses it.

Built from torchvision's own VGG16 definition (``cfgs["D"]`` + ``make_layers``), then split
into stages at its max-pools (structurally, as torchvision's SSD VGG extractor does):

=========  ======  =====================================  ==============================
stage      stride  layers                                 used as
=========  ======  =====================================  ==============================
stage1     1       conv1_1, conv1_2
stage2     2       pool1, conv2_1, conv2_2                tap (128 ch)
stage3     4       pool2, conv3_1..conv3_3                tap (256)
stage4     8       pool3, conv4_1..conv4_3                tap (512); L2Norm -> det map 1
stage5     16      pool4, conv5_1..conv5_3, pool5 3x3 s1,  tap (1024); det map 2
                   fc6 (3x3, dilation 6), fc7 (1x1)
conv8      32      conv8_1 1x1, conv8_2 3x3 s2            tap (512), det map 3, *deepest*
conv9..11  64..    extra layers                           det maps 4..6
=========  ======  =====================================  ==============================

conv10/conv11 are SSD300's unpadded 3x3 convs, which reproduces the 99,152 priors AP-MTL
reports at 1024x1024. fc6/fc7 start from random weights (SSD subsamples VGG's fc layers;
those are not in the ImageNet feature weights this encoder loads).
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from surg_perception.config import ModelConfig
from surg_perception.models.blocks.extras import ExtraBlock
from surg_perception.models.blocks.l2norm import L2Norm
from surg_perception.models.encoders.base import (
    Encoder,
    EncoderFeatures,
    check_width_names,
    scaled,
)

# (name, reduce channels, out channels, mode) of the extra layers, SSD300's widths.
EXTRAS = (
    ("conv8", 256, 512, "down"),
    ("conv9", 128, 256, "down"),
    ("conv10", 128, 256, "valid"),
    ("conv11", 128, 256, "valid"),
)
FC_WIDTH = 1024


def vgg_conv_names() -> list[str]:
    """``conv{stage}_{i}`` for each conv of torchvision's VGG16 cfg "D", in order."""
    names, stage, index = [], 1, 0
    for item in cfgs["D"]:
        if item == "M":
            stage, index = stage + 1, 0
        else:
            index += 1
            names.append(f"conv{stage}_{index}")
    return names


def default_widths(width_mult: float) -> dict[str, int]:
    """Unpruned width of every prunable conv, scaled by ``width_mult``."""
    widths = dict(zip(vgg_conv_names(), (c for c in cfgs["D"] if c != "M")))
    widths.update(fc6=FC_WIDTH, fc7=FC_WIDTH)
    for name, mid, out, _ in EXTRAS:
        widths.update({f"{name}_1": mid, f"{name}_2": out})
    return {name: scaled(c, width_mult) for name, c in widths.items()}


def _split_at_pools(features: nn.Sequential) -> list[OrderedDict]:
    """Group torchvision's flat VGG layers into stages, a new stage at each max-pool."""
    stages, names = [OrderedDict()], iter(vgg_conv_names())
    pool_index = 0
    for layer in features:
        if isinstance(layer, nn.MaxPool2d):
            pool_index += 1
            stages.append(OrderedDict())
            stages[-1][f"pool{pool_index}"] = layer
        elif isinstance(layer, nn.Conv2d):
            conv_name = next(names)
            stages[-1][conv_name] = layer
        else:
            stages[-1][f"relu{conv_name[4:]}"] = layer
    return stages


class VGG16SSD(Encoder):
    """VGG16-SSD encoder. ``[B, 3, H, W] -> EncoderFeatures`` (6 detection maps)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        widths = default_widths(cfg.width_mult)
        check_width_names(cfg.widths(), list(widths), "vgg16_ssd")
        widths.update(cfg.widths())
        names = iter(vgg_conv_names())
        layer_cfg = [item if item == "M" else widths[next(names)] for item in cfgs["D"]]
        features = make_layers(layer_cfg, batch_norm=False)
        stages = _split_at_pools(features)
        # torchvision's pool5 (2x2 s2) becomes SSD's 3x3 s1 pool, followed by the fc convs.
        stages.pop()  # the stage holding only torchvision's pool5
        last_conv = widths["conv5_3"]
        stages[-1]["pool5"] = nn.MaxPool2d(3, stride=1, padding=1)
        stages[-1]["fc6"] = nn.Conv2d(last_conv, widths["fc6"], 3, padding=6, dilation=6)
        stages[-1]["relu6"] = nn.ReLU(inplace=True)
        stages[-1]["fc7"] = nn.Conv2d(widths["fc6"], widths["fc7"], 1)
        stages[-1]["relu7"] = nn.ReLU(inplace=True)
        self.stage1, self.stage2, self.stage3, self.stage4, self.stage5 = (
            nn.Sequential(stage) for stage in stages
        )
        self.l2norm = L2Norm(widths["conv4_3"])
        in_channels, extras = widths["fc7"], []
        for name, _, _, mode in EXTRAS:
            extras.append(ExtraBlock(in_channels, widths[f"{name}_1"], widths[f"{name}_2"], mode))
            in_channels = widths[f"{name}_2"]
        self.conv8 = extras[0]
        self.extras = nn.ModuleList(extras[1:])
        self.conv_paths = self._conv_paths()

    def imagenet_layout(self) -> nn.Sequential:
        """torchvision's ``features[:30]`` (conv1_1 .. relu5_3), sharing this encoder's modules,
        so ImageNet weights load by their own keys (torchvision's pool5 holds no weights)."""
        layers = []
        for stage in (self.stage1, self.stage2, self.stage3, self.stage4, self.stage5):
            for name, layer in stage.named_children():
                if name == "pool5":
                    return nn.Sequential(*layers)
                layers.append(layer)
        return nn.Sequential(*layers)

    def _conv_paths(self) -> dict[str, str]:
        paths = {}
        for stage in ("stage1", "stage2", "stage3", "stage4", "stage5"):
            for name, layer in getattr(self, stage).named_children():
                if isinstance(layer, nn.Conv2d):
                    paths[name] = f"{stage}.{name}"
        paths.update({"conv8_1": "conv8.reduce", "conv8_2": "conv8.expand"})
        for i, (name, *_rest) in enumerate(EXTRAS[1:]):
            paths.update({f"{name}_1": f"extras.{i}.reduce", f"{name}_2": f"extras.{i}.expand"})
        return paths

    def trunk(self, x: Tensor) -> EncoderFeatures:
        s2 = self.stage2(self.stage1(x))
        s4 = self.stage3(s2)
        s8 = self.stage4(s4)
        s16 = self.stage5(s8)
        s32 = self.conv8(s16)
        return EncoderFeatures([s2, s4, s8, s16, s32], [self.l2norm(s8), s16, s32], s32)

    @property
    def tap_channels(self) -> tuple[int, ...]:
        convs = self.prunable_convs()
        return tuple(convs[n].out_channels for n in ("conv2_2", "conv3_3", "conv4_3", "fc7",
                                                       "conv8_2"))

    @property
    def det_channels(self) -> tuple[int, ...]:
        convs = self.prunable_convs()
        names = ("conv4_3", "fc7", "conv8_2", "conv9_2", "conv10_2", "conv11_2")
        return tuple(convs[n].out_channels for n in names)


def build_vgg16_ssd(cfg: ModelConfig) -> VGG16SSD:
    return VGG16SSD(cfg)
