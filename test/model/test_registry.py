"""Registry lookups, shipped configs, input checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from surg_perception.config import ModelConfig, load_spec
from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.models import registry
from surg_perception.models.apmtl import APMTL
from surg_perception.models.registry import build_model, register_family


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ConfigError, match=r"valid values: \['mobilenet_v2', 'vgg16_ssd'\]"):
        build_model(ModelConfig(encoder="resnet"))
    with pytest.raises(ConfigError, match="'apmtl'"):
        build_model(ModelConfig(family="nope"))


def test_register_family(monkeypatch):
    monkeypatch.setitem(registry.FAMILIES, "stub", None)
    register_family("stub", lambda cfg: torch.nn.Identity())
    assert isinstance(build_model(ModelConfig(family="stub")), torch.nn.Identity)


@pytest.mark.parametrize("name", ["apmtl", "light", "tiny"])
def test_shipped_configs_load_and_build(name, specs):
    spec = load_spec(specs.config_dir / f"{name}.yaml")
    h, w = spec.preprocess.input_size
    assert h % 32 == 0 and w % 32 == 0
    with torch.device("meta"):
        model = build_model(spec.model)
    assert isinstance(model, APMTL) and model.has_detection and model.has_activity
    assert model.has_memory == spec.model.memory.enabled


def test_full_vgg_reproduces_published_prior_count(specs):
    spec = load_spec(specs.config_dir / "apmtl.yaml")
    with torch.device("meta"):
        model = build_model(spec.model)
    model.prior_boxes = torch.zeros(0, 4)  # priors themselves are real tensors
    assert model.priors(1024, 1024).shape == (99152, 4)


def test_heads_follow_the_config(tiny_no_memory):
    cfg = dataclasses.replace(tiny_no_memory.model, activity_classes=(), det_classes=(),
                              hog=dataclasses.replace(tiny_no_memory.model.hog, enabled=False))
    model = build_model(cfg).train()
    out, state = model(torch.zeros(2, 3, 64, 64))
    assert not model.has_detection and not model.has_activity and state is None
    assert out.det_logits is None and out.activity_logits is None and out.hog is None
    with pytest.raises(ConfigError, match="no detection head"):
        model.priors(64, 64)


@pytest.mark.parametrize("shape", [(1, 3, 64, 80), (1, 1, 64, 64), (3, 64, 64)])
def test_bad_input_shapes(shape, tiny_no_memory):
    model = build_model(tiny_no_memory.model)
    with pytest.raises(ImageFormatError):
        model(torch.zeros(shape))


def test_reduced_precision_forward_keeps_float32_priors(tiny):
    model = build_model(tiny.model).eval()
    model.priors(64, 96)
    model.to(torch.bfloat16)
    images = torch.randn(1, 3, 64, 96, dtype=torch.bfloat16)
    with torch.no_grad():
        out, state = model(images)
        out, _ = model(images, state)
    assert out.seg_logits.dtype == torch.bfloat16
    assert model.priors(64, 96).dtype == torch.float32
    assert len(model.priors(64, 96)) == out.det_deltas.shape[1]
