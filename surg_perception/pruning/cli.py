"""``surg-perception prune CHECKPOINT --data ROOT --config PRUNE.yaml --out DIR``.

Writes ``DIR/pruned.pt`` (a normal checkpoint whose spec holds the pruned channel widths),
``DIR/prune_report.json`` (params, GFLOPs and latency on ``--device`` before/after, per-round
history), ``DIR/fig9.png`` and ``DIR/prune_config.yaml`` (the resolved settings). The
latencies printed, reported and plotted are one sweep over the rounds' widths
(:mod:`surg_perception.pruning.report`). An existing ``DIR/pruned.pt`` is replaced only with
``--force``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from surg_perception.cli_checks import check_device, checkpoint_file
from surg_perception.errors import ConfigError

if TYPE_CHECKING:  # torch loads when the command runs, not for --help
    from torch import nn

    from surg_perception.pruning.config import PruneConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="trained AP-MTL checkpoint to prune")
    parser.add_argument("--data", required=True, help="EndoVis17-layout training data root")
    parser.add_argument("--val-data", help="validation data root (default: --data)")
    parser.add_argument("--config", required=True, help="YAML with a prune: section")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--force", action="store_true",
                        help="replace the results of an earlier prune in --out")


def max_output_difference(a: nn.Module, b: nn.Module, size: tuple[int, int],
                          frames: int = 3) -> float:
    """Largest absolute output difference of two models over ``frames`` steps with state."""
    import torch

    device = next(a.parameters()).device
    generator = torch.Generator().manual_seed(0)
    worst, state_a, state_b = 0.0, None, None
    a.eval(), b.eval()
    with torch.no_grad():
        for _ in range(frames):
            images = torch.randn(1, 3, *size, generator=generator).to(device)
            out_a, state_a = a(images, state=state_a)
            out_b, state_b = b(images, state=state_b)
            for x, y in zip(out_a, out_b):
                if x is not None:
                    worst = max(worst, float((x - y).abs().max()))
    return worst


def prune_checkpoint(checkpoint: str | Path, data: str | Path, out: str | Path,
                     cfg: PruneConfig, val_data: str | Path | None = None,
                     device: str = "cpu", log=print) -> dict[str, Any]:
    """Run GADP on ``checkpoint``; returns the report written to ``out``."""
    import torch
    import yaml

    from surg_perception.checkpoint import load_model, save_checkpoint
    from surg_perception.config import to_dict
    from surg_perception.pruning.data import clip_loader, endless, with_run_loss_weights
    from surg_perception.pruning.gadp import run_gadp
    from surg_perception.pruning.report import latency_label, plot_fig9, size_summary

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prune_config.yaml").write_text(yaml.safe_dump({"prune": to_dict(cfg)}))
    torch.manual_seed(cfg.seed)
    cfg = with_run_loss_weights(cfg, checkpoint)
    model, spec = load_model(checkpoint, device)
    train = clip_loader(data, spec, cfg, shuffle=True)
    val = clip_loader(val_data or data, spec, cfg, shuffle=False)
    result = run_gadp(model, spec, cfg, val, endless(train), torch.device(device), log)
    _time_rounds(result.history, spec, cfg.latency_runs, device)
    # The pruned model has the last accepted round's widths: its latency is that round's.
    before = {**size_summary(spec), "latency_ms": result.history[0]["latency_ms"]}
    after = {**size_summary(result.spec), "latency_ms": result.history[-1]["latency_ms"]}
    report = {"before": before, "after": after, "latency_device": str(device),
              "metrics_before": result.history[0]["metrics"],
              "metrics_after": result.final_metrics, "stop_reason": result.stop_reason,
              "params_removed": 1.0 - after["params_m"] / before["params_m"],
              "latency_ratio": after["latency_ms"] / before["latency_ms"],
              "history": result.history}
    path = save_checkpoint(out / "pruned.pt", result.model, result.spec,
                           extra={"prune": to_dict(cfg), "prune_report": report})
    reloaded, _ = load_model(path, device)
    report["reload_max_abs_diff"] = max_output_difference(result.model, reloaded,
                                                          spec.preprocess.input_size)
    plot_fig9(result.history, out / "fig9.png", cfg.metric, device)
    (out / "prune_report.json").write_text(json.dumps(report, indent=2))
    log(f"params {before['params_m']:.3f} M -> {after['params_m']:.3f} M, GFLOPs "
        f"{before['gflops']:.3f} -> {after['gflops']:.3f}, {latency_label(device)} "
        f"{before['latency_ms']:.1f} -> {after['latency_ms']:.1f} ms; wrote {path}")
    return report


def _time_rounds(history: list[dict], spec, runs: int, device: str) -> None:
    """One latency sweep: every round's widths, timed the same way one after another."""
    from surg_perception.pruning.report import latency_of_widths

    for record in history:
        record["latency_ms"] = latency_of_widths(spec, record["widths"], runs, device)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``surg-perception prune``; raises typed errors (printed by the CLI)."""
    checkpoint = checkpoint_file(args.checkpoint)
    check_device(args.device)
    results = Path(args.out) / "pruned.pt"
    if results.exists() and not args.force:
        raise ConfigError(f"--out {args.out} holds the results of an earlier prune ({results})",
                          "pass --force to replace them or choose another --out")
    from surg_perception.pruning.config import load_prune_config

    prune_checkpoint(checkpoint, args.data, args.out, load_prune_config(args.config),
                     args.val_data, args.device)
    return 0
