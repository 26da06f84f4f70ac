"""``surg-perception train --fold`` overrides train.fold of the training YAML."""

import argparse

from surg_perception.training import cli


def _configs(root, *extra):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--model-config", str(root / "config/models/tiny.yaml"),
                              "--train-config", str(root / "config/train/tiny.yaml"),
                              "--data", "d", "--out", "o", *extra])
    return cli._configs(args)[1]


def test_fold_option_overrides_the_yaml(repo_root):
    assert _configs(repo_root).fold is None
    assert _configs(repo_root, "--fold", "2").fold == 2
