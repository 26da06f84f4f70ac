"""The ATO phases freeze and unfreeze the right parameters and count the right losses."""

import pytest
import torch

from surg_perception.errors import ConfigError
from surg_perception.models.registry import build_model
from surg_perception.training import ato


@pytest.fixture()
def model(tiny_spec):
    """A fresh model per test: the tests change requires_grad flags."""
    return build_model(tiny_spec.model)


def _trainable_modules(model) -> set[str]:
    return {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}


def test_detection_phase_trains_encoder_and_heads_not_decoder(model):
    base = ato.base_trainable(model)
    params = ato.apply_phase(model, "detection", base)
    assert _trainable_modules(model) == {"encoder", "memory", "det_head", "activity_head",
                                         "hog_head"}
    assert all(not p.requires_grad for p in model.seg_decoder.parameters())
    assert len(params) == sum(p.requires_grad for p in model.parameters())
    assert "seg" not in ato.active_losses("detection")
    assert "det" in ato.active_losses("detection")


def test_segmentation_phase_freezes_the_encoder_and_the_memory(model):
    base = ato.base_trainable(model)
    ato.apply_phase(model, "segmentation", base)
    # The memory feeds the detection and activity heads too: it no longer trains here.
    assert _trainable_modules(model) == {"seg_decoder"}
    assert all(not p.requires_grad for p in model.encoder.parameters())
    assert all(not p.requires_grad for p in model.memory.parameters())
    assert ato.active_losses("segmentation") == ("seg",)


def test_end_to_end_trains_everything_in_the_base_set(model):
    base = ato.base_trainable(model)
    ato.apply_phase(model, "detection", base)
    ato.apply_phase(model, "end_to_end", base)
    assert all(p.requires_grad for p in model.parameters())


def test_parameters_frozen_by_the_model_stay_frozen(model):
    first = next(model.encoder.parameters())
    first.requires_grad_(False)
    base = ato.base_trainable(model)
    first.requires_grad_(True)
    ato.apply_phase(model, "end_to_end", base)
    assert not first.requires_grad


def test_frozen_modules_are_in_eval_mode(model):
    ato.set_train_mode(model, "segmentation")
    assert model.training and model.seg_decoder.training
    assert not model.encoder.training and not model.det_head.training


def test_unknown_phase_and_missing_parts_are_config_errors(model):
    with pytest.raises(ConfigError, match="unknown"):
        ato.apply_phase(model, "pruning", ato.base_trainable(model))

    class SegOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = torch.nn.Linear(2, 2)

    with pytest.raises(ConfigError, match="end_to_end"):
        ato.apply_phase(SegOnly(), "detection", frozenset({"backbone.weight"}))
    assert len(ato.apply_phase(SegOnly(), "end_to_end", frozenset({"backbone.weight"}))) == 1
