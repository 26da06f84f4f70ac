"""Training YAML: defaults, shipped files, unknown keys and bad phases."""

import pytest

from surg_perception.errors import ConfigError
from surg_perception.training.config import (
    PhaseConfig,
    TrainConfig,
    load_train_config,
    train_config_from_dict,
)
from surg_perception.training.optim import PolyDecay, schedule


def test_paper_defaults_in_ato_yaml(repo_root):
    cfg = load_train_config(repo_root / "config" / "train" / "ato.yaml")
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay, cfg.poly_power) == (
        "sgd", 1e-4, 0.99, 1e-4, 0.9)
    assert [p.name for p in cfg.phases] == ["detection", "segmentation", "end_to_end"]
    assert cfg.phases[-1].lr == 1e-5
    assert cfg.loss_weights.hog == cfg.loss_weights.seg == 1.0


def test_tiny_yaml_is_short(repo_root):
    cfg = load_train_config(repo_root / "config" / "train" / "tiny.yaml")
    assert sum(p.iterations for p in cfg.phases) <= 64
    assert cfg.optimizer == "adam"


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match="learning_rate"):
        train_config_from_dict({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="iters"):
        train_config_from_dict({"phases": [{"name": "detection", "iters": 3}]})


def test_bad_phases_are_rejected():
    with pytest.raises(ConfigError, match="exactly one"):
        PhaseConfig("detection", iterations=3, epochs=2)
    with pytest.raises(ConfigError, match="unknown"):
        PhaseConfig("tracking", iterations=3)
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")


def test_schedule_places_phases_and_converts_epochs():
    cfg = TrainConfig(lr=0.1, phases=(PhaseConfig("detection", epochs=2),
                                      PhaseConfig("end_to_end", iterations=3, lr=0.01)))
    spans = schedule(cfg, per_epoch=5)
    assert [(s.start, s.end, s.lr) for s in spans] == [(0, 10, 0.1), (10, 13, 0.01)]
    poly = PolyDecay(total=4, power=0.9)
    assert poly(0) == 1.0 and poly(4) == 0.0
    assert poly(2) == pytest.approx(0.5 ** 0.9)
