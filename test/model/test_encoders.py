"""Encoder contract: named taps at strides 2..32, six detection maps, pruned channel specs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torchvision

from surg_perception.config import ModelConfig
from surg_perception.errors import ConfigError
from surg_perception.models.channels import prunable_layers, read_channel_widths
from surg_perception.models.registry import build_encoder, build_model
from surg_perception.training.init import load_pretrained_encoder


def _shapes(model) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("encoder", ["vgg16_ssd", "mobilenet_v2"])
def test_output_contract(encoder):
    enc = build_encoder(ModelConfig(encoder=encoder, width_mult=0.125)).eval()
    with torch.no_grad():
        feats = enc(torch.zeros(1, 3, 64, 96))
    assert [tuple(t.shape[-2:]) for t in feats.taps] == [(64 // s, 96 // s) for s in
                                                         (2, 4, 8, 16, 32)]
    assert tuple(t.shape[1] for t in feats.taps) == enc.tap_channels
    assert tuple(f.shape[1] for f in feats.det_features) == enc.det_channels
    assert len(feats.det_features) == 6 and feats.deepest is feats.taps[-1]
    assert min(min(f.shape[-2:]) for f in feats.det_features) >= 1


def test_vgg_published_widths():
    with torch.device("meta"):
        enc = build_encoder(ModelConfig(encoder="vgg16_ssd"))
    assert enc.tap_channels == (128, 256, 512, 1024, 512)
    assert enc.det_channels == (512, 1024, 512, 256, 256, 256)
    assert enc.l2norm.weight.shape == (512,)
    assert enc.stage5.fc6.dilation == (6, 6) and enc.stage5.pool5.stride == 1
    assert list(prunable_layers(enc))[:3] == ["conv1_1", "conv1_2", "conv2_1"]


def test_mobilenet_stages_follow_strides():
    with torch.device("meta"):
        enc = build_encoder(ModelConfig(encoder="mobilenet_v2"))
    assert enc.tap_channels == (16, 24, 32, 96, 320)
    assert list(enc.stage3.named_children())[0][0] == "block4"


def test_pruned_vgg_spec_gives_pruned_shapes_and_round_trips():
    widths = (("conv4_3", 5), ("fc7", 7), ("conv8_2", 6), ("conv2_2", 3))
    cfg = ModelConfig(width_mult=0.125, channel_widths=widths, decoder_channels=8)
    cfg = dataclasses.replace(cfg, memory=dataclasses.replace(cfg.memory, enabled=False))
    model = build_model(cfg)
    enc = model.encoder
    assert enc.l2norm.weight.shape == (5,)
    assert enc.stage5.conv5_1.in_channels == 5
    assert enc.extras[0].reduce.in_channels == 6
    assert model.det_head.cls_convs[0].in_channels == 5
    assert model.det_head.cls_convs[1].in_channels == 7
    assert model.activity_head.fc.in_features == 6
    read = dict(read_channel_widths(model))
    assert {k: read[k] for k, _ in widths} == dict(widths)
    rebuilt = build_model(dataclasses.replace(cfg, channel_widths=tuple(read.items())))
    assert _shapes(rebuilt) == _shapes(model)


def test_pruned_mobilenet_expand_and_residual_group():
    cfg = ModelConfig(encoder="mobilenet_v2", width_mult=0.25,
                      channel_widths=(("block5.expand", 7), ("block4.project", 5), ("stem", 6)))
    enc = build_encoder(cfg)
    convs = prunable_layers(enc)
    # at width 0.25 block1 maps 8 -> 8 channels with a residual add, so it follows the stem
    assert convs["stem"].out_channels == 6 == convs["block2.expand"].in_channels
    assert convs["block5.expand"].out_channels == 7
    assert enc.stage3.block5.conv[1][0].groups == 7  # the depthwise conv follows its producer
    # block5 and block6 add their input to their output: they inherit block4's width
    assert convs["block5.project"].out_channels == 5 == convs["block6.project"].out_channels
    assert convs["block7.expand"].in_channels == 5
    with torch.no_grad():
        feats = enc.eval()(torch.zeros(1, 3, 64, 64))
    assert feats.taps[2].shape[1] == 5
    rebuilt = build_encoder(dataclasses.replace(cfg, channel_widths=read_channel_widths(enc)))
    assert _shapes(rebuilt) == _shapes(enc)


def test_bad_channel_specs_are_config_errors():
    with pytest.raises(ConfigError, match="valid names"):
        build_encoder(ModelConfig(width_mult=0.125, channel_widths=(("conv4_4", 3),)))
    with pytest.raises(ConfigError, match="residual"):
        build_encoder(ModelConfig(encoder="mobilenet_v2", width_mult=0.25,
                                  channel_widths=(("block5.project", 3),)))


def test_local_pretrained_weights_are_loaded(tmp_path):
    reference = torchvision.models.mobilenet_v2(weights=None, width_mult=0.25)
    path = tmp_path / "mnv2.pth"
    torch.save(reference.state_dict(), path)
    model = build_model(ModelConfig(encoder="mobilenet_v2", width_mult=0.25))
    load_pretrained_encoder(model, path)
    enc = model.encoder
    assert torch.equal(enc.stage5.block17.conv[2].weight, reference.features[17].conv[2].weight)
    with pytest.raises(ConfigError, match="width_mult 1.0"):
        load_pretrained_encoder(build_model(ModelConfig(encoder="mobilenet_v2", width_mult=0.5)),
                                path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_pretrained_encoder(build_model(ModelConfig(width_mult=0.125)),
                                tmp_path / "missing.pth")
