"""``surg-perception train``: ATO training from a model YAML and a training YAML.

Single process::

    surg-perception train --model-config config/models/tiny.yaml \
        --train-config config/train/tiny.yaml --data DATA_ROOT --out RUN_DIR [--device cpu]

Several processes (DDP; gloo on the CPU, NCCL on GPUs)::

    torchrun --nproc_per_node 2 -m surg_perception.training.cli --model-config ... --out RUN_DIR

``--resume`` continues from ``RUN_DIR/checkpoints/last.pt``; without config arguments it
reuses the run's own ``RUN_DIR/config.yaml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from surg_perception.config import load_spec
from surg_perception.errors import ConfigError, SurgPerceptionError
from surg_perception.training.config import load_train_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-config", type=Path, help="model YAML (model/preprocess/postprocess)")
    parser.add_argument("--train-config", type=Path, help="training YAML (the ATO schedule)")
    parser.add_argument("--data", type=Path, required=True,
                        help="dataset root in the EndoVis 2017 layout (instrument_dataset_<k>)")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--resume", action="store_true",
                        help="continue from OUT/checkpoints/last.pt")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop after this global step (a later --resume continues)")
    parser.add_argument("--fold", type=int, default=None,
                        help="EndoVis 2017 cross-validation fold 0..3 (train on the other folds' "
                             "sequences); overrides train.fold of the training YAML")
    parser.add_argument("--input-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                        help="network input size (each divisible by 32); overrides "
                             "preprocess.input_size of the model YAML and is saved with the model")


def _configs(args: argparse.Namespace):
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

    spec, cfg = _configs(args)
    try:
        trainer = Trainer(spec, cfg, args.data, args.out, device=args.device, resume=args.resume)
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
    parser = argparse.ArgumentParser(prog="surg-perception train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except SurgPerceptionError as exc:
        print(f"surg-perception train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
