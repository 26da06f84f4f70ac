"""Checkpoints carry no machine paths: initialise from local files, delete them, load anyway."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from safetensors.torch import save_file
import torch
from torch import nn
import torchvision
from torchvision.models.vgg import cfgs, make_layers

from surg_perception.checkpoint import load_checkpoint_dict, load_model, save_checkpoint
from surg_perception.config import (
    ModelConfig,
    ModelSpec,
    PreprocessConfig,
    load_spec,
    spec_from_dict,
    to_dict,
)
from surg_perception.errors import ConfigError
from surg_perception.models.encoders.base import scaled
from surg_perception.models.endoarss.vit import build_vit
from surg_perception.models.registry import build_model
from surg_perception.training.config import PhaseConfig
from surg_perception.training.init import initialise
from surg_perception.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _assert_portable(path: Path, tmp_path: Path) -> None:
    data = load_checkpoint_dict(path)
    stored = _strings(data["spec"]) + _strings(data["extra"])
    assert [s for s in stored if s.startswith("/") or str(tmp_path) in s] == []


def _vgg_file(path: Path) -> None:
    holder = nn.Module()  # torchvision's VGG key layout (``features.N``) at 1/8 width
    holder.features = make_layers([c if c == "M" else scaled(c, 0.125) for c in cfgs["D"]])
    torch.save(holder.state_dict(), path)


def _mobilenet_file(path: Path) -> None:
    torch.save(torchvision.models.mobilenet_v2(weights=None, width_mult=0.25).state_dict(), path)


def _vit_file(path: Path) -> None:
    torch.manual_seed(5)
    save_file({k: v.contiguous() for k, v in build_vit("tiny").state_dict().items()}, str(path))


FAMILIES = {
    "vgg16_ssd": (ModelConfig(width_mult=0.125, decoder_channels=8), "vgg.pth", _vgg_file),
    "mobilenet_v2": (ModelConfig(encoder="mobilenet_v2", width_mult=0.25, decoder_channels=8),
                     "mnv2.pth", _mobilenet_file),
    "endoarss": (None, "dinov2.safetensors", _vit_file),
}


def _initialised(family: str, tmp_path: Path) -> tuple[nn.Module, ModelSpec, Path]:
    cfg, name, write = FAMILIES[family]
    if cfg is None:
        spec = load_spec(REPO / "config" / "models" / "endoarss_tiny.yaml")
    else:
        spec = ModelSpec(model=cfg, preprocess=PreprocessConfig(input_size=(64, 96)))
    weights = tmp_path / "weights" / name
    weights.parent.mkdir()
    write(weights)
    torch.manual_seed(0)
    model = build_model(spec.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    is_vit = family == "endoarss"
    initialise(model, None if is_vit else str(weights), str(weights) if is_vit else None)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "the initialisation file changed no weight"
    return model, spec, weights


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_checkpoint_loads_where_the_init_files_do_not_exist(family, tmp_path):
    model, spec, weights = _initialised(family, tmp_path)
    path = save_checkpoint(tmp_path / "run" / "model.pt", model.eval(), spec)
    weights.unlink()
    loaded, loaded_spec = load_model(path)
    widths = loaded_spec.model.channel_widths  # written from the model at save
    assert loaded_spec == dataclasses.replace(
        spec, model=dataclasses.replace(spec.model, channel_widths=widths))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    _assert_portable(path, tmp_path)


def test_trained_run_stores_no_paths_and_resumes_without_the_files(tiny_spec, short_cfg,
                                                                   synth_root, tmp_path):
    weights = tmp_path / "weights" / "mnv2.pth"
    weights.parent.mkdir()
    _mobilenet_file(weights)
    cfg = dataclasses.replace(short_cfg, pretrained_path=str(weights),
                              phases=(PhaseConfig("detection", iterations=1),))
    run = tmp_path / "run"
    Trainer(tiny_spec, cfg, synth_root, run).fit()
    for name in ("model.pt", "checkpoints/last.pt"):
        _assert_portable(run / name, tmp_path)
    assert load_checkpoint_dict(run / "model.pt")["extra"]["train_config"][
        "pretrained_path"] == "mnv2.pth"
    weights.unlink()
    load_model(run / "model.pt")
    resumed = Trainer(tiny_spec, cfg, synth_root, run, resume=True)  # reads no init file
    assert resumed.step == 1


def test_init_paths_under_model_name_their_new_place():
    with pytest.raises(ConfigError, match="train.pretrained_path"):
        spec_from_dict({"model": {"pretrained_path": "/data/vgg16.pth"}})
    with pytest.raises(ConfigError, match="train.backbone_weights"):
        spec_from_dict({"model": {"family": "endoarss",
                                  "endoarss": {"backbone_weights": "/data/dinov2.pth"}}})
    # null values (every old YAML and checkpoint) still load
    spec = spec_from_dict({"model": {"pretrained_path": None, "endoarss": {
        "backbone_weights": None}}})
    assert spec.model.endoarss is not None


def test_old_checkpoint_with_a_stored_path_loads_without_opening_it(tiny_spec, tmp_path):
    torch.manual_seed(0)
    model = build_model(tiny_spec.model).eval()
    path = save_checkpoint(tmp_path / "old.pt", model, tiny_spec)
    data = torch.load(path, weights_only=True)
    saved = to_dict(spec_from_dict(data["spec"]))
    data["spec"]["model"]["pretrained_path"] = "/elsewhere/mobilenet_v2.pth"  # pre-move layout
    torch.save(data, path)
    loaded, spec = load_model(path)
    assert to_dict(spec) == saved
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
