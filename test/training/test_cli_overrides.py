"""``surg-perception train --fold / --input-size`` override the YAML files."""

import argparse

import pytest

from surg_perception.errors import ConfigError
from surg_perception.training import cli


def _configs(root, *extra):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--model-config", str(root / "config/models/tiny.yaml"),
                              "--train-config", str(root / "config/train/tiny.yaml"),
                              "--data", "d", "--out", "o", *extra])
    return cli._configs(args)


def test_fold_option_overrides_the_yaml(repo_root):
    assert _configs(repo_root)[1].fold is None
    assert _configs(repo_root, "--fold", "2")[1].fold == 2


def test_input_size_overrides_the_model_yaml(repo_root):
    default = _configs(repo_root)[0].preprocess.input_size
    spec = _configs(repo_root, "--input-size", "64", "96")[0]
    assert tuple(spec.preprocess.input_size) == (64, 96) != tuple(default)


def test_input_size_must_be_multiples_of_32(repo_root):
    with pytest.raises(ConfigError, match="multiples of 32"):
        _configs(repo_root, "--input-size", "100", "96")
