"""Physical channel removal: consumers shrink, masks predict the pruned model exactly, and
the pruned model round-trips through a checkpoint."""

import dataclasses

import torch

from surg_perception.checkpoint import load_model, save_checkpoint
from surg_perception.config import (
    HogConfig,
    MemoryConfig,
    ModelConfig,
    ModelSpec,
    PreprocessConfig,
)
from surg_perception.models.channels import prunable_layers
from surg_perception.models.registry import build_model
from surg_perception.pruning.masking import initial_masks, masked
from surg_perception.pruning.surgery import rebuild, remove_channels


def _every_other(units, names):
    masks = initial_masks(units)
    for name in names:
        masks[name][1::2] = False
    return masks


def _params(model):
    return sum(p.numel() for p in model.parameters())


def test_deepest_unit_consumers_shrink(tiny_model, tiny_spec, analysed):
    units, example = analysed(tiny_model, tiny_spec)
    deep = next(u for u in units if u.feeds_memory)
    masks = _every_other(units, [deep.name])
    remove_channels(tiny_model, tiny_spec.model, units, masks, example)
    kept = deep.width // 2
    assert prunable_layers(tiny_model)[deep.name].out_channels == kept
    assert tiny_model.memory.channels == kept
    assert tiny_model.memory.local.query_key.in_channels == kept
    assert tiny_model.activity_head.fc.in_features == kept
    assert tiny_model.seg_decoder.stages[0].up.in_channels == kept
    assert tiny_model.hog_head.reduce[0].in_channels == kept


def test_masks_predict_the_pruned_model(tiny_model, tiny_spec, analysed, frames, helpers):
    units, example = analysed(tiny_model, tiny_spec)
    # expand units, the memory-feeding unit and an extra layer: no derived decoder widths
    names = [u.name for u in units if u.name.endswith("expand") or u.feeds_memory
             or u.name == "extra1_2"]
    masks = _every_other(units, names)
    with masked(tiny_model, units, masks):
        expected = helpers.run_frames(tiny_model, frames)
    before = _params(tiny_model)
    remove_channels(tiny_model, tiny_spec.model, units, masks, example)
    assert _params(tiny_model) < before
    for want, got in zip(expected, helpers.run_frames(tiny_model, frames)):
        for a, b in zip(want, got):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


def test_pruned_checkpoint_loads_with_the_same_outputs(tiny_model, tiny_spec, analysed, frames,
                                                       helpers, tmp_path):
    units, example = analysed(tiny_model, tiny_spec)
    tap = next(u for u in units if len(u.members) > 1)  # a residual group feeding a skip
    masks = _every_other(units, [tap.name, "block3.expand", "extra2_1"])
    before = _params(tiny_model)
    remove_channels(tiny_model, tiny_spec.model, units, masks, example)
    pruned, spec = rebuild(tiny_model, tiny_spec)
    assert dict(spec.model.channel_widths)[tap.members[-1]] == tap.width // 2
    path = save_checkpoint(tmp_path / "pruned.pt", pruned, spec)
    loaded, loaded_spec = load_model(path)
    assert _params(loaded) == _params(pruned) < before
    assert loaded_spec.model.channel_widths == spec.model.channel_widths
    for want, got in zip(helpers.run_frames(pruned, frames), helpers.run_frames(loaded, frames)):
        for a, b in zip(want, got):
            torch.testing.assert_close(b, a, rtol=0, atol=0)


def test_vgg_l2norm_and_heads_shrink_with_conv4_3(analysed):
    cfg = ModelConfig(name="vgg_test", encoder="vgg16_ssd", width_mult=0.125, decoder_channels=8,
                      memory=MemoryConfig(enabled=False),
                      hog=HogConfig(image_size=(32, 32), pixels_per_cell=8))
    spec = ModelSpec(model=cfg, preprocess=PreprocessConfig(input_size=(64, 96)))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    units, example = analysed(model, spec)
    masks = _every_other(units, ["conv4_3"])
    remove_channels(model, cfg, units, masks, example)
    assert model.encoder.l2norm.weight.shape == (32,)
    assert model.det_head.cls_convs[0].in_channels == 32
    pruned, new_spec = rebuild(model, spec)  # raises if a consumer did not shrink
    assert dict(new_spec.model.channel_widths)["conv4_3"] == 32
    out, _ = pruned.eval()(example)
    assert out.seg_logits.shape == (1, 8, 64, 96)


def test_instrument_pooled_activity_head_shrinks_with_the_deepest_map(tiny_spec, analysed):
    spec = dataclasses.replace(tiny_spec, model=dataclasses.replace(
        tiny_spec.model, activity_pool="instruments"))
    torch.manual_seed(0)
    model = build_model(spec.model).eval()
    units, example = analysed(model, spec)
    deep = next(u for u in units if u.feeds_memory)
    remove_channels(model, spec.model, units, _every_other(units, [deep.name]), example)
    # both pools (frame, instruments) of the kept channels
    assert model.activity_head.fc.in_features == 2 * (deep.width // 2)
    rebuilt, _ = rebuild(model, spec)
    assert rebuilt.activity_head.fc.in_features == model.activity_head.fc.in_features
