"""The part head: a second classifier on the decoder's last features, self-describing."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from surg_perception.checkpoint import load_model, save_checkpoint
from surg_perception.config import spec_from_dict, to_dict
from surg_perception.data.endovis17 import PART_CLASSES
from surg_perception.errors import ConfigError
from surg_perception.model_info import format_info, model_info
from surg_perception.models.decoders.skip_scse_decoder import SkipSCSEDecoder
from surg_perception.models.registry import build_model

TAPS = (8, 8, 8, 24, 80)  # the tiny model's taps, strides 2..32


def _taps() -> list[torch.Tensor]:
    return [torch.randn(2, c, 64 // 2 ** (k + 1), 96 // 2 ** (k + 1))
            for k, c in enumerate(TAPS)]


@pytest.mark.parametrize("head", ["transposed", "bilinear"])
def test_part_logits_come_at_the_input_size(head):
    types, parts = SkipSCSEDecoder(TAPS, 16, 8, head=head, part_classes=4)(_taps())
    assert types.shape == (2, 8, 64, 96) and parts.shape == (2, 4, 64, 96)


def test_transposed_head_shares_its_upsampling_and_bilinear_has_its_own():
    shared = SkipSCSEDecoder(TAPS, 16, 8, head="transposed", part_classes=4)
    assert isinstance(shared.part_head, torch.nn.Conv2d) and shared.part_head.kernel_size == (1, 1)
    own = SkipSCSEDecoder(TAPS, 16, 8, head="bilinear", part_classes=4)
    conv, upsample = own.part_head
    assert conv.out_channels == 4 and upsample.mode == "bilinear"


def test_type_logits_do_not_change_with_a_part_head():
    torch.manual_seed(0)
    plain = SkipSCSEDecoder(TAPS, 16, 8, head="transposed").eval()
    torch.manual_seed(0)
    parted = SkipSCSEDecoder(TAPS, 16, 8, head="transposed", part_classes=4).eval()
    parted.load_state_dict(plain.state_dict(), strict=False)  # the part head stays random
    taps = _taps()
    with torch.no_grad():
        assert torch.equal(plain(taps)[0], parted(taps)[0])


def test_checkpoint_carries_the_part_classes(tiny, tmp_path):
    assert tiny.model.part_classes == PART_CLASSES  # tiny.yaml sets the head
    torch.manual_seed(0)
    model = build_model(tiny.model).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, tiny)
    loaded, spec = load_model(path)
    assert spec.model.part_classes == PART_CLASSES and loaded.has_parts
    images = torch.randn(1, 3, *tiny.preprocess.input_size)
    with torch.no_grad():
        assert torch.equal(model(images)[0].part_logits, loaded(images)[0].part_logits)


def test_a_spec_without_part_classes_builds_no_part_head(tiny):
    data = to_dict(tiny)
    del data["model"]["part_classes"]  # a checkpoint from before the part head
    spec = spec_from_dict(data)
    model = build_model(spec.model).eval()
    assert spec.model.part_classes == () and not model.has_parts
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 96))[0].part_logits is None


def test_bad_part_configurations_are_refused(tiny, specs):
    with pytest.raises(ConfigError, match="part_classes"):
        build_model(dataclasses.replace(tiny.model, part_classes=("background",)))
    arss = specs.with_model(specs.tiny(), family="endoarss", part_classes=PART_CLASSES)
    with pytest.raises(ConfigError, match="part_classes"):
        build_model(arss.model)


def test_model_info_shows_the_part_head(tiny):
    info = model_info(tiny, (64, 96))
    head = info["part_head"]
    assert head["classes"] == list(PART_CLASSES)
    assert head["params"] == 16 * 4 + 4  # 1x1 conv from the 16 decoder channels
    assert 0 < head["gflops"] < info["gflops"]["seg_decoder"]
    assert "part head (in seg_decoder)" in format_info(info)
    plain = dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, part_classes=()))
    assert model_info(plain, (64, 96))["part_head"] is None


def test_the_part_head_leaves_the_other_seeded_weights_alone(tiny):
    torch.manual_seed(0)
    parted = build_model(tiny.model).state_dict()
    torch.manual_seed(0)
    plain = build_model(dataclasses.replace(tiny.model, part_classes=())).state_dict()
    assert set(parted) - set(plain) == {"seg_decoder.part_head.0.weight",
                                        "seg_decoder.part_head.0.bias"}
    assert all(torch.equal(parted[name], value) for name, value in plain.items())
