"""``surg-perception model-info CONFIG_OR_CKPT [--size H W]... [--json]``: the command line.

The measurements are :mod:`surg_perception.model_info`; this module holds only the options and
imports torch (through ``model_info``) when the command runs, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from surg_perception.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``surg-perception model-info``."""
    parser.add_argument("source", help="model config YAML or checkpoint (.pt/.pth)")
    parser.add_argument("--size", nargs=2, type=int, metavar=("H", "W"), action="append",
                        help="input size (default: the spec's preprocess.input_size); repeat "
                             "it to check prior coverage at several sizes (info: the first)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--prior-coverage", nargs="+", metavar="DATA",
                        help="dataset folder(s) in EndoVis17 layout (e.g. `surg-perception "
                             "synth` output): share of their boxes the priors cover")
    parser.add_argument("--suggest", action="store_true",
                        help="with --prior-coverage: derive extra prior shapes from the boxes "
                             "for every --size and print them as YAML")


def _load_any_spec(source: str):
    if Path(source).suffix in (".yaml", ".yml"):
        from surg_perception.config import load_spec

        return load_spec(source)
    from surg_perception.checkpoint import load_spec_from_checkpoint
    from surg_perception.cli_checks import checkpoint_file

    return load_spec_from_checkpoint(checkpoint_file(source))


def run(args: argparse.Namespace) -> int:
    """Print the model info; errors propagate to the CLI, which reports them."""
    if args.suggest and not args.prior_coverage:
        raise ConfigError("--suggest needs --prior-coverage DATA (the boxes to cover)")
    from surg_perception.model_info import coverage_report, format_info, model_info

    spec = _load_any_spec(args.source)
    sizes = [tuple(size) for size in args.size or [spec.preprocess.input_size]]
    info = model_info(spec, sizes[0])
    if args.prior_coverage:
        info["prior_coverage"] = coverage_report(spec, args.prior_coverage, sizes, args.suggest)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0
