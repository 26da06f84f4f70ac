"""``surg-perception bench``: per-stage times, latency, ratios -> JSON and BENCHMARKS.md.

Backends or dtypes that cannot run here (no CUDA, no torch_tensorrt) are reported as
skipped with the reason, never silently dropped. The benchmark modules (and torch) are
imported when the command runs, not for ``--help``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
import json
from pathlib import Path
import sys
from typing import TYPE_CHECKING, Any

from surg_perception.errors import ConfigError

if TYPE_CHECKING:
    from surg_perception.bench.runner import BenchOptions


def _backends() -> tuple[str, ...]:
    from surg_perception.bench.backends import BACKENDS

    return tuple(BACKENDS)


def _dtypes() -> tuple[str, ...]:
    from surg_perception.predictor import DTYPES

    return tuple(DTYPES)


def _choices(names_of: Callable[[], Sequence[str]]):
    """An argparse type for a comma list; the valid names are looked up only when it is used."""
    def parse(text: str) -> tuple[str, ...]:
        valid = names_of()
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        unknown = [name for name in names if name not in valid]
        if not names or unknown:
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(valid)}")
        return names
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``surg-perception bench``."""
    parser.add_argument("--config", default="config/models/apmtl.yaml", help="model YAML")
    parser.add_argument("--checkpoint", help="benchmark this checkpoint instead (weights only)")
    parser.add_argument("--size", nargs=2, type=int, metavar=("H", "W"),
                        help="camera frame and network input size (default: the config's "
                             "input size, 1024x1280 for apmtl.yaml); small sizes suit a CPU")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--dtypes", type=_choices(_dtypes), default=("fp32",),
                        help="comma list of fp32,fp16,bf16 (default fp32)")
    parser.add_argument("--backends", "--backend", type=_choices(_backends), default=("eager",),
                        help="comma list of eager,compile,cudagraph,onnxruntime,tensorrt "
                             "(default eager), compared in one interleaved run with "
                             "speedup_<backend> ratios over eager")
    parser.add_argument("--frames", type=int, default=50, help="measured frames (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured frames first")
    parser.add_argument("--pruned", action="store_true",
                        help="also run the pruned model (ratio pruned_over_unpruned)")
    parser.add_argument("--keep-ratio", type=float, default=None,
                        help="fraction of parameters the pruned model keeps (default "
                             "bench.variants.PAPER_KEEP_RATIO, 0.588: AP-MTL's 38.1 M -> 22.4 M)")
    parser.add_argument("--pruned-checkpoint",
                        help="use this pruned checkpoint as the pruned model")
    parser.add_argument("--no-memory", action="store_true",
                        help="benchmark the model with its memory module switched off")
    parser.add_argument("--no-messages", action="store_true",
                        help="skip building and serialising ROS messages")
    parser.add_argument("--camera-fps", type=float, default=30.0,
                        help="camera rate for the dropped-frame count (0: offline only)")
    parser.add_argument("--malloc-tuning", action="store_true",
                        help="raise glibc's trim threshold during the runs (see BENCHMARKS.md)")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: torch's choice); "
                             "1 steadies a shared host")
    parser.add_argument("--stereo", action="store_true",
                        help="also run a stereo pair per frame: both eyes in one batched "
                             "forward, and one step per eye (ratio stereo_over_mono_network)")
    parser.add_argument("--json", metavar="PATH", help="write the full result as JSON here")
    parser.add_argument("--markdown", nargs="?", const="BENCHMARKS.md", metavar="PATH",
                        help="append the run to this Markdown file (default BENCHMARKS.md)")


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    from surg_perception.bench.runner import BenchOptions
    from surg_perception.bench.variants import PAPER_KEEP_RATIO

    if args.keep_ratio is None:
        args.keep_ratio = PAPER_KEEP_RATIO
    if args.frames < 1 or args.warmup < 0:
        raise ConfigError(f"--frames must be >= 1 and --warmup >= 0, got {args.frames}, "
                          f"{args.warmup}")
    if not 0.0 < args.keep_ratio <= 1.0:
        raise ConfigError(f"--keep-ratio must be in (0, 1], got {args.keep_ratio}")
    return BenchOptions(
        config=args.config, checkpoint=args.checkpoint,
        size=tuple(args.size) if args.size else None, device=args.device,
        dtypes=tuple(args.dtypes), backends=tuple(args.backends), frames=args.frames,
        warmup=args.warmup, pruned=args.pruned or bool(args.pruned_checkpoint),
        keep_ratio=args.keep_ratio, pruned_checkpoint=args.pruned_checkpoint,
        memory=not args.no_memory, messages=not args.no_messages,
        camera_fps=args.camera_fps, malloc_tuning=args.malloc_tuning, threads=args.threads,
        stereo=args.stereo,
    )


def ros_message_stage() -> Any:
    """The ROS half of the bench (rclpy), or why it is not here (a string)."""
    try:
        from surg_perception.ros import message_bench
    except ImportError as exc:
        return f"{exc} (install rclpy / ROS 2 Jazzy)"
    return message_bench


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print the Markdown section, write JSON/Markdown when asked."""
    from surg_perception.bench.report import append_markdown, format_markdown
    from surg_perception.bench.runner import run_benchmark

    argv = getattr(args, "argv", None) or ["surg-perception", *sys.argv[1:]]
    result = run_benchmark(options_from_args(args), argv, ros_message_stage())
    print(format_markdown(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    if args.markdown:
        append_markdown(args.markdown, result)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m surg_perception.bench_cli``: ``surg-perception bench``."""
    from surg_perception.cli import main as cli_main

    return cli_main(["bench", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
