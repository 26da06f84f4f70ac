"""LoRA on q/v: identity at init, touches only q and v, and is what trains in the backbone."""

from __future__ import annotations

import copy

import pytest
import torch

from surg_perception.errors import ConfigError
from surg_perception.models.endoarss import trainable_parameter_groups
from surg_perception.models.endoarss.lora import LoRAQKV, inject_lora
from surg_perception.models.endoarss.vit import ViTBackbone, build_vit, freeze


def test_lora_at_init_leaves_backbone_output_unchanged():
    torch.manual_seed(0)
    plain = build_vit("tiny").eval()
    adapted = copy.deepcopy(plain)
    inject_lora(adapted, rank=4)
    images = torch.randn(2, 3, 96, 128)
    expected, _ = ViTBackbone(plain)(images)
    actual, _ = ViTBackbone(adapted)(images)
    assert torch.equal(actual, expected)


def test_lora_updates_only_query_and_value_slices():
    torch.manual_seed(0)
    qkv = torch.nn.Linear(8, 24)
    wrapped = LoRAQKV(qkv, rank=2)
    with torch.no_grad():
        wrapped.lora_q.up.weight.normal_()
        wrapped.lora_v.up.weight.normal_()
    x = torch.randn(3, 5, 8)
    base_q, base_k, base_v = qkv(x).chunk(3, dim=-1)
    q, k, v = wrapped(x).chunk(3, dim=-1)
    assert torch.equal(k, base_k)
    assert not torch.allclose(q, base_q)
    assert not torch.allclose(v, base_v)


def test_injecting_twice_is_refused():
    vit = build_vit("tiny")
    inject_lora(vit, rank=4)
    with pytest.raises(ConfigError, match="already has LoRA"):
        inject_lora(vit, rank=4)


def test_only_lora_adapters_sma_and_heads_train(tiny_model):
    groups = trainable_parameter_groups(tiny_model)  # raises on a stray trainable param
    trainable = {id(p) for p in tiny_model.parameters() if p.requires_grad}
    assert trainable == {id(p) for params in groups.values() for p in params}
    assert all(len(params) > 0 for params in groups.values())
    backbone_trainable = {id(p) for p in tiny_model.backbone.parameters() if p.requires_grad}
    assert backbone_trainable == {id(p) for p in groups["shared_lora"]}


def test_parameter_groups_detect_an_unfrozen_backbone_weight(tiny_model):
    tiny_model.backbone.vit.pos_embed.requires_grad_(True)
    with pytest.raises(RuntimeError, match="pos_embed"):
        trainable_parameter_groups(tiny_model)
    freeze(tiny_model.backbone.vit)  # now LoRA is frozen too: its group reports it
    with pytest.raises(RuntimeError, match="shared_lora"):
        trainable_parameter_groups(tiny_model)


def test_frozen_backbone_unchanged_after_optimizer_step(tiny_model, images, task_losses):
    frozen = {
        name: p.detach().clone()
        for name, p in tiny_model.backbone.named_parameters()
        if not p.requires_grad
    }
    up = {n: p.detach().clone() for n, p in tiny_model.named_parameters() if "up.weight" in n}
    # every parameter goes to the optimizer; weight decay would move any that it updates
    optimizer = torch.optim.AdamW(tiny_model.parameters(), lr=1e-2, weight_decay=0.1)
    tiny_model.train()
    seg, act = task_losses(tiny_model, images)
    (seg + act).backward()
    optimizer.step()
    for name, param in tiny_model.backbone.named_parameters():
        if name in frozen:
            assert torch.equal(param, frozen[name]), name
    params = dict(tiny_model.named_parameters())
    assert all(not torch.equal(params[name], before) for name, before in up.items())
