"""The train command, in one process and as a 2-process CPU torchrun (gloo) job."""

import argparse
import os
import subprocess
import sys

import pytest
import torch

from surg_perception.checkpoint import load_checkpoint_dict
from surg_perception.errors import ConfigError
from surg_perception.training import cli

from support.training import TWO_STEP_TRAIN_YAML


def _args(tmp_path, synth_root, tiny_config_path, **extra):
    train_yaml = tmp_path / "train.yaml"
    train_yaml.write_text(TWO_STEP_TRAIN_YAML)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    argv = ["--model-config", str(tiny_config_path), "--train-config", str(train_yaml),
            "--data", str(synth_root), "--out", str(tmp_path / "run")]
    for key, value in extra.items():
        argv += [f"--{key.replace('_', '-')}"] + ([] if value is True else [str(value)])
    return parser.parse_args(argv), argv


def test_run_trains_then_resume_reuses_the_saved_config(tmp_path, synth_root, tiny_config_path):
    args, _ = _args(tmp_path, synth_root, tiny_config_path, max_steps=1)
    assert cli.run(args) == 0
    assert not (tmp_path / "run" / "model.pt").exists()
    resume = argparse.Namespace(**{**vars(args), "resume": True, "max_steps": None,
                                   "model_config": None, "train_config": None})
    assert cli.run(resume) == 0
    assert load_checkpoint_dict(tmp_path / "run" / "model.pt")["extra"]["step"] == 2


def test_missing_configs_are_a_config_error(tmp_path, synth_root):
    args = argparse.Namespace(model_config=None, train_config=None, data=synth_root,
                              out=tmp_path, resume=False, force=False, device="cpu",
                              max_steps=None)
    with pytest.raises(ConfigError, match="--model-config"):
        cli.run(args)


@pytest.mark.slow  # ~10 s idle, over 20 s on a loaded 2-core machine
def test_two_process_torchrun_step(tmp_path, synth_root, tiny_config_path, repo_root):
    _, argv = _args(tmp_path, synth_root, tiny_config_path, max_steps=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(29500 + os.getpid() % 1000),
           "-m", "surg_perception.training.cli", *argv]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          cwd=repo_root)
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_checkpoint_dict(tmp_path / "run" / "checkpoints" / "last.pt")["extra"]
    assert state["train_state"]["step"] == 1
    log = (tmp_path / "run" / "train_log.csv").read_text().splitlines()
    assert len(log) == 2  # header + one row: only rank 0 writes
    assert torch.isfinite(torch.tensor(float(log[1].split(",")[3])))
