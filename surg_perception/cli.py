"""`surg-perception <command>`: one thin entry point; each command lives in its own module.

Commands are imported lazily so that `surg-perception --help` is instant and a command's
heavy dependencies (torch, rosbags, onnx) load only when that command runs. Each command
module provides ``add_arguments(parser)`` and ``run(args) -> int``; importing the module and
calling ``add_arguments`` must not import torch or rclpy (``test/cli/test_cli_help.py``), so
``surg-perception <command> --help`` and argparse's errors come back in well under a second.

Errors are handled here and only here: commands raise the typed errors of
:mod:`surg_perception.errors`, and :func:`main` prints one line on stderr
(``surg-perception <command>: error: <what> (<remedy>)``) and returns the error's
``exit_code``: 2 for usage and configuration errors (as argparse), 1 for failures while
running. The modules' own ``main()`` functions (``python -m surg_perception.training.cli``,
used by torchrun) delegate to :func:`main`.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys

from surg_perception.errors import SurgPerceptionError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("surg_perception.data.synth",
              "write a synthetic surgical video dataset (EndoVis 2017 layout)"),
    "synth-gallery": ("surg_perception.data.synth_gallery",
                      "one PNG showing each synthetic instrument type and activity"),
    "train": ("surg_perception.training.cli", "train a model with the ATO schedule"),
    "evaluate": ("surg_perception.ros.evaluate_cmd",  # evaluation.cli + the instruments
                 "Dice/IoU/Hausdorff, mAP@0.5, activity accuracy/F1, FPS; robustness"),
    "prune": ("surg_perception.pruning.cli", "GADP attention-based channel pruning"),
    "export": ("surg_perception.export.cli", "ONNX export (state in/out) and TensorRT engines"),
    "model-info": ("surg_perception.model_info_cli",
                   "parameters, GFLOPs and memory overhead of a model"),
    "bench": ("surg_perception.bench_cli", "per-stage inference benchmark (JSON + BENCHMARKS.md)"),
    "endovis2bag": ("surg_perception.bags.convert",
                    "EndoVis sequence folder or video file -> rosbag2 (mcap/sqlite3)"),
    "replay": ("surg_perception.ros.replay_cli", "publish a bag's image topics over DDS"),
    "process-bag": ("surg_perception.ros.process_bag",
                    "run the model over a bag offline and write the node's outputs"),
    "render": ("surg_perception.bags.render", "overlay video or PNG strip from a bag"),
}


def version() -> str:
    """The installed distribution's version, else the source tree's ``__version__``."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("surg_perception")
    except PackageNotFoundError:
        from surg_perception import __version__

        return __version__


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """Parser with every command listed; only ``chosen`` imports its module for its options."""
    parser = argparse.ArgumentParser(
        prog="surg-perception",
        description="Surgical scene perception: train, prune, evaluate, export and run models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(_module=module)
        if name == chosen:
            importlib.import_module(module).add_arguments(cmd)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    # `kill` / systemd / docker stop send SIGTERM: unwind like Ctrl-C, so commands' finally
    # blocks run (process-bag closes its output bag, training keeps its last checkpoint).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except SurgPerceptionError as exc:
        report_error(args.command, exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"surg-perception {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def report_error(command: str, exc: SurgPerceptionError) -> None:
    """The one error line: ``surg-perception <command>: error: <message (remedy)>``."""
    text = " ".join(str(exc).split())  # one line, whatever the message's own line breaks
    print(f"surg-perception {command}: error: {text}", file=sys.stderr)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())
