"""ViT backbone: token -> map layout, input resizing, timm parity, local weight loading."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
from safetensors.torch import save_file
import torch

from surg_perception.errors import CheckpointError, ConfigError
from surg_perception.models.endoarss.vit import (
    ViTBackbone,
    build_vit,
    patch_multiple_size,
    tokens_to_map,
)
from surg_perception.training.init import load_vit_weights as load_backbone_weights


def test_tokens_to_map_puts_each_token_at_its_grid_position():
    batch, h, w, channels = 2, 3, 4, 5
    tokens = torch.full((batch, 1 + h * w, channels), -1.0)  # prefix token = -1
    for b in range(batch):
        for i in range(h):
            for j in range(w):
                for c in range(channels):
                    tokens[b, 1 + i * w + j, c] = 1000 * b + 100 * i + 10 * j + c
    feature = tokens_to_map(tokens, num_prefix=1, grid=(h, w))
    assert feature.shape == (batch, channels, h, w)
    b, c, i, j = torch.meshgrid(*(torch.arange(n) for n in feature.shape), indexing="ij")
    assert torch.equal(feature, (1000 * b + 100 * i + 10 * j + c).float())


def test_tokens_to_map_rejects_wrong_grid():
    with pytest.raises(ValueError, match="3x3 grid"):
        tokens_to_map(torch.zeros(1, 1 + 12, 4), num_prefix=1, grid=(3, 3))


def test_patch_multiple_size_rounds_to_nearest_multiple():
    assert patch_multiple_size(96, 128, 14) == (98, 126)
    assert patch_multiple_size(448, 576, 14) == (448, 574)
    assert patch_multiple_size(5, 5, 14) == (14, 14)


def test_backbone_resizes_contract_input_to_patch_grid():
    torch.manual_seed(0)
    backbone = ViTBackbone(build_vit("tiny"))
    tokens, grid = backbone(torch.randn(2, 3, 96, 128))
    assert grid == (7, 9)
    assert tokens.shape == (2, 1 + 7 * 9, 64)


def test_backbone_matches_timm_forward_features_at_stored_grid():
    torch.manual_seed(0)
    vit = build_vit("tiny").eval()
    images = torch.randn(1, 3, 224, 224)  # the stored 16x16 grid: no pos-embed resampling
    tokens, _ = ViTBackbone(vit)(images)
    torch.testing.assert_close(tokens, vit.forward_features(images), rtol=0, atol=1e-6)


def test_unknown_vit_size_is_a_config_error():
    with pytest.raises(ConfigError, match="valid sizes"):
        build_vit("huge")


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_weights_load_exactly(tmp_path, suffix):
    torch.manual_seed(0)
    source = build_vit("tiny")
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    path = tmp_path / f"vit{suffix}"
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    torch.manual_seed(1)
    target = build_vit("tiny")
    load_backbone_weights(target, path)
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_dinov2_layout_with_mask_token_loads(tmp_path):
    torch.manual_seed(0)
    state = dict(build_vit("tiny").state_dict(), mask_token=torch.zeros(1, 64))
    torch.save(state, tmp_path / "dinov2.pth")
    load_backbone_weights(build_vit("tiny"), tmp_path / "dinov2.pth")


def test_weight_loading_errors_are_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_backbone_weights(build_vit("tiny"), tmp_path / "missing.pth")
    torch.save({"obj": PurePosixPath("x")}, tmp_path / "unsafe.pth")  # a non-tensor global
    with pytest.raises(CheckpointError, match="weights_only"):
        load_backbone_weights(build_vit("tiny"), tmp_path / "unsafe.pth")
    state = build_vit("tiny").state_dict()
    torch.save(state, tmp_path / "tiny.pth")
    torch.save(dict(state, **{"norm.weight": torch.ones(32)}), tmp_path / "narrow.pth")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_backbone_weights(build_vit("tiny"), tmp_path / "narrow.pth")
    del state["blocks.1.norm1.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="blocks.1.norm1.weight"):
        load_backbone_weights(build_vit("tiny"), tmp_path / "partial.pth")
    data = (tmp_path / "tiny.pth").read_bytes()
    (tmp_path / "trunc.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_backbone_weights(build_vit("tiny"), tmp_path / "trunc.pth")
