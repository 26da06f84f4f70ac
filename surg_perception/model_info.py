"""Model size and cost: parameters per part, GFLOPs per frame, memory-module overhead.

``surg-perception model-info CONFIG_OR_CKPT [--size H W] [--json]``. The network is built
on PyTorch's meta device, so even the full VGG model at 1024x1280 is measured in a second:
FLOPs are counted from shapes (``torch.utils.flop_counter.FlopCounterMode``, 2 per
multiply-add), nothing is computed. Counts are for one frame in eval mode (no HOG head).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from surg_perception.config import ModelSpec, load_spec
from surg_perception.models.registry import build_model
from surg_perception.ops.priors import priors_per_location


def _params(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _measure(spec: ModelSpec, size: tuple[int, int]) -> tuple[nn.Module, dict[str, int]]:
    """Build on the meta device and count FLOPs per module path for one eval forward."""
    with torch.device("meta"):
        model = build_model(dataclasses.replace(spec.model, pretrained_path=None))
    model.eval()
    images = torch.empty(1, 3, *size, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(images)
    flops = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    flops["__total__"] = counter.get_total_flops()
    return model, flops


def _part_flops(model: nn.Module, flops: dict[str, int], part: str) -> int:
    """FLOPs of one top-level part (summing its children when it is entered by method)."""
    root = type(model).__name__
    if f"{root}.{part}" in flops:
        return flops[f"{root}.{part}"]
    children = getattr(model, part).named_children()
    return sum(flops.get(f"{root}.{part}.{name}", 0) for name, _ in children)


def model_info(spec: ModelSpec, input_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Sizes and costs of the model ``spec`` describes.

    Returns a JSON-ready dict: ``name``, ``input_size``, ``params`` (per top-level part,
    ``total`` and ``inference`` = total without the training-only HOG head), ``gflops``
    (per part and ``total``, batch 1), ``memory`` overhead (``params``, ``gflops``: the
    difference with memory switched off) and ``num_priors``.
    """
    size = tuple(input_size or spec.preprocess.input_size)
    model, flops = _measure(spec, size)
    parts = [name for name, child in model.named_children() if child is not None]
    params = {name: _params(getattr(model, name)) for name in parts}
    params["total"] = _params(model)
    params["inference"] = params["total"] - params.get("hog_head", 0)
    gflops = {name: _part_flops(model, flops, name) / 1e9 for name in parts}
    gflops["total"] = flops["__total__"] / 1e9
    info: dict[str, Any] = {
        "name": spec.model.name,
        "input_size": list(size),
        "params": params,
        "gflops": gflops,
        "memory": None,
        "num_priors": None,
    }
    if getattr(model, "has_detection", False):
        anchors = priors_per_location(model.det_head.cfg)
        sizes = model.feature_sizes(*size)
        info["num_priors"] = sum(h * w * a for (h, w), a in zip(sizes, anchors))
    if getattr(model, "memory", None) is not None:
        cfg = dataclasses.replace(spec.model.memory, enabled=False)
        plain = dataclasses.replace(spec, model=dataclasses.replace(spec.model, memory=cfg))
        plain_model, plain_flops = _measure(plain, size)
        info["memory"] = {
            "params": params["total"] - _params(plain_model),
            "gflops": (flops["__total__"] - plain_flops["__total__"]) / 1e9,
        }
    return info



# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``surg-perception model-info``."""
    parser.add_argument("source", help="model config YAML or checkpoint (.pt/.pth)")
    parser.add_argument("--size", nargs=2, type=int, metavar=("H", "W"),
                        help="input size (default: the spec's preprocess.input_size)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _load_any_spec(source: str) -> ModelSpec:
    if Path(source).suffix in (".yaml", ".yml"):
        return load_spec(source)
    from surg_perception.checkpoint import load_spec_from_checkpoint

    return load_spec_from_checkpoint(source)


def format_info(info: dict[str, Any]) -> str:
    """Human-readable table of :func:`model_info`'s result."""
    h, w = info["input_size"]
    lines = [f"{info['name']} @ {h}x{w}", f"{'part':<16}{'params (M)':>12}{'GFLOPs':>12}"]
    for part, count in info["params"].items():
        gflops = info["gflops"].get(part)
        cost = "" if gflops is None else f"{gflops:12.3f}"
        lines.append(f"{part:<16}{count / 1e6:12.3f}{cost}")
    if info["memory"]:
        mem = info["memory"]
        lines.append(f"memory overhead: {mem['params'] / 1e6:.3f} M params, "
                     f"{mem['gflops']:.3f} GFLOPs")
    if info["num_priors"] is not None:
        lines.append(f"prior boxes: {info['num_priors']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the model info; errors propagate to the CLI, which reports them (exit 2)."""
    info = model_info(_load_any_spec(args.source), tuple(args.size) if args.size else None)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``surg-perception model-info`` through the shared CLI (same error handling)."""
    from surg_perception.cli import main as cli_main

    return cli_main(["model-info", *(argv or [])])
