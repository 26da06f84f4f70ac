"""The proportional per-layer threshold a(l, c) < t / C_l, on constructed statistics."""

import pytest
import torch

from surg_perception.errors import ConfigError
from surg_perception.pruning.config import PruneConfig, load_prune_config
from surg_perception.pruning.masking import next_masks, threshold_keep


def test_threshold_masks_channels_below_their_share():
    stats = torch.tensor([1.0, 1.0, 1.0, 0.1])  # shares 0.32, 0.32, 0.32, 0.03
    assert threshold_keep(stats, t=0.5).tolist() == [True, True, True, False]  # t/C = 0.125
    assert threshold_keep(stats, t=0.05).all()  # 0.0125: nothing below it


def test_threshold_is_proportional_to_the_layer_width():
    narrow = torch.tensor([1.0, 0.5])  # share of 0.5: 0.33 < 0.8 / 2
    wide = torch.tensor([1.0, 0.5] * 8)  # same relative attention, 16 channels
    assert threshold_keep(narrow, 0.8).tolist() == [True, False]
    assert threshold_keep(wide, 0.8).tolist() == [True, False] * 8


def test_a_layer_never_loses_every_channel():
    assert threshold_keep(torch.zeros(4), 0.5).tolist() == [True, False, False, False]
    assert threshold_keep(torch.tensor([0.2, 0.9, 0.3]), 0.999).sum() >= 1


def test_next_masks_keeps_earlier_masks_and_counts_only_kept_channels():
    masks = {"a": torch.tensor([True, False, True, True])}
    # channel 1 is already masked (its statistic is ignored); among the 3 kept channels,
    # channel 3 has share 0.2 / 2.2 = 0.09 < 0.5 / 3
    stats = {"a": torch.tensor([1.0, 100.0, 1.0, 0.2])}
    assert next_masks(stats, masks, 0.5)["a"].tolist() == [True, False, True, False]


def test_config_rejects_bad_values(tmp_path):
    with pytest.raises(ConfigError, match="threshold"):
        PruneConfig(threshold=1.5)
    path = tmp_path / "prune.yaml"
    path.write_text("prune:\n  rounds: 2\n  bogus: 1\n")
    with pytest.raises(ConfigError, match="bogus"):
        load_prune_config(path)


def test_shipped_configs_load(repo_root):
    paper = load_prune_config(repo_root / "config" / "prune" / "gadp.yaml")
    assert paper.target_ratio == pytest.approx(0.41)
    assert load_prune_config(repo_root / "config" / "prune" / "tiny.yaml").rounds == 1
