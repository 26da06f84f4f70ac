"""The Skip-scSE decoder: both heads, the skip floor, and a refused head name."""

import pytest
import torch

from surg_perception.errors import ConfigError
from surg_perception.models.decoders.skip_scse_decoder import SKIP_FLOOR, SkipSCSEDecoder

# mobilenet_v2 at width 0.25 (the tiny model's taps), strides 2..32
TAPS = (8, 8, 8, 24, 80)


def _taps(height: int = 64, width: int = 96) -> list[torch.Tensor]:
    return [torch.randn(2, c, height // 2 ** (k + 1), width // 2 ** (k + 1))
            for k, c in enumerate(TAPS)]


@pytest.mark.parametrize("head", ["transposed", "bilinear"])
def test_heads_give_logits_at_the_input_size(head):
    decoder = SkipSCSEDecoder(TAPS, 16, 8, head=head)
    types, parts = decoder(_taps())
    assert types.shape == (2, 8, 64, 96) and parts is None


def test_bilinear_head_upsamples_stride_2_logits():
    decoder = SkipSCSEDecoder(TAPS, 16, 8, head="bilinear").eval()
    conv, upsample = decoder.head
    assert isinstance(conv, torch.nn.Conv2d) and conv.kernel_size == (1, 1)
    assert upsample.mode == "bilinear"


def test_skips_keep_at_least_the_floor():
    decoder = SkipSCSEDecoder(TAPS, 16, 8)
    # stages run deep -> shallow: skips are taps 3, 2, 1, 0
    reduced = [stage.skip[0].out_channels for stage in decoder.stages]
    assert reduced == [min(24, SKIP_FLOOR), 8, 8, 8]  # a quarter would be 6, 2, 2, 2


def test_vgg_taps_keep_the_published_quarter():
    decoder = SkipSCSEDecoder((64, 128, 256, 512, 1024), 64, 8)
    assert [stage.skip[0].out_channels for stage in decoder.stages] == [128, 64, 32, 16]


def test_unknown_head_is_refused():
    with pytest.raises(ConfigError, match="decoder_head"):
        SkipSCSEDecoder(TAPS, 16, 8, head="nearest")
