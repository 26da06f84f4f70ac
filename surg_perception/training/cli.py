"""``surg-perception train``: ATO training from a model YAML and a training YAML.

Single process::

    surg-perception train --model-config config/models/tiny.yaml \
        --train-config config/train/tiny.yaml --data DATA_ROOT --out RUN_DIR [--device cpu]

Several processes (DDP; gloo on the CPU, NCCL on GPUs)::

    torchrun --nproc_per_node 2 -m surg_perception.training.cli --model-config ... --out RUN_DIR

``--resume`` continues from ``RUN_DIR/checkpoints/last.pt`` (appending to ``train_log.csv``);
without config arguments it reuses the run's own ``RUN_DIR/config.yaml``. A folder that holds
an earlier run (``checkpoints/last.pt``, ``model.pt`` or ``train_log.csv``) is refused unless
``--resume`` continues it or ``--force`` deletes that run's outputs first.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
import shutil
import sys

from surg_perception.cli_checks import check_device
from surg_perception.errors import ConfigError

# What a run writes into its folder (training/trainer.py, training/logs.py): the files that
# mark a used folder, and everything --force removes before a new run starts there.
RUN_MARKERS = ("checkpoints/last.pt", "model.pt", "train_log.csv")
RUN_OUTPUTS = ("checkpoints", "model.pt", "train_log.csv", "tensorboard", "config.yaml")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-config", type=Path,
                        help="model YAML (model/preprocess/postprocess)")
    parser.add_argument("--train-config", type=Path, help="training YAML (the ATO schedule)")
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset root in the EndoVis 2017 layout (instrument_dataset_<k>)")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/checkpoints/last.pt (the log is appended)")
    parser.add_argument("--force", action="store_true",
                        help="start a new run in a used OUT: delete its checkpoints, model.pt, "
                             "train_log.csv, tensorboard/ and config.yaml first")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop after this global step (a later --resume continues)")
    parser.add_argument("--fold", type=int, default=None,
                        help="EndoVis 2017 cross-validation fold 0..3 (train on the other folds' "
                             "sequences); overrides train.fold of the training YAML")
    parser.add_argument("--input-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="network input size (each divisible by 32); overrides "
                             "preprocess.input_size of the model YAML and is saved with the model")


def check_run_dir(out: Path, resume: bool, force: bool) -> None:
    """Refuse to start over an earlier run unless told how (``--resume`` or ``--force``)."""
    if resume and force:
        raise ConfigError("--resume and --force contradict each other",
                          "--resume continues the run in --out, --force replaces it")
    used = [name for name in RUN_MARKERS if (out / name).exists()]
    if resume or not used:
        return
    if not force:
        raise ConfigError(f"--out {out} holds an earlier run ({', '.join(used)})",
                          "pass --resume to continue it, --force to replace it, or another "
                          "--out")
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one process deletes
        for name in RUN_OUTPUTS:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)


def _configs(args: argparse.Namespace):
    from surg_perception.config import load_spec
    from surg_perception.training.config import load_train_config

    saved = args.out / "config.yaml"
    model_path = args.model_config or (saved if args.resume else None)
    train_path = args.train_config or (saved if args.resume else None)
    if model_path is None or train_path is None:
        raise ConfigError("pass --model-config and --train-config (or --resume an existing run, "
                          f"which reads {saved})")
    cfg = load_train_config(train_path)
    if args.fold is not None:
        cfg = dataclasses.replace(cfg, fold=args.fold)
    spec = load_spec(model_path)
    if args.input_size is not None:
        height, width = args.input_size
        if height <= 0 or width <= 0 or height % 32 or width % 32:
            raise ConfigError(f"--input-size {height} {width}: height and width must be positive "
                              "multiples of 32")
        spec = dataclasses.replace(spec, preprocess=dataclasses.replace(
            spec.preprocess, input_size=(height, width)))
    return spec, cfg


def run(args: argparse.Namespace) -> int:
    """Train; returns 0. Raises SurgPerceptionError subclasses for bad input."""
    from surg_perception.training.distributed import shutdown_distributed
    from surg_perception.training.trainer import Trainer

    check_device(args.device)
    check_run_dir(args.out, args.resume, args.force)
    spec, cfg = _configs(args)
    try:
        trainer = Trainer(spec, cfg, args.data, args.out, device=args.device, resume=args.resume)
        stop = trainer.total_steps if args.max_steps is None else args.max_steps
        if args.resume and trainer.step >= stop:
            if trainer.info.is_main:
                print(f"nothing to do: {args.out} is at step {trainer.step}/"
                      f"{trainer.total_steps}" + (f" (--max-steps {args.max_steps})"
                                                  if trainer.step < trainer.total_steps else
                                                  f"; the model is {args.out / 'model.pt'}"))
            return 0
        history = trainer.fit(max_steps=args.max_steps)
        if trainer.info.is_main and history:
            last = ", ".join(f"{k} {v:.4f}" for k, v in history[-1].items() if k != "step")
            print(f"step {trainer.step}/{trainer.total_steps}: {last}")
            if trainer.step == trainer.total_steps:
                print(f"model written to {args.out / 'model.pt'}")
    finally:
        shutdown_distributed()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m surg_perception.training.cli`` (torchrun): ``surg-perception train``."""
    from surg_perception.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
