"""Model size and cost: parameters per part, GFLOPs per frame, memory-module overhead.

``surg-perception model-info CONFIG_OR_CKPT [--size H W]... [--json]``. The network is built
on PyTorch's meta device, so even the full VGG model at 1024x1280 is measured in a second:
FLOPs are counted from shapes (``torch.utils.flop_counter.FlopCounterMode``, 2 per
multiply-add), nothing is computed. Counts are for one frame in eval mode (no HOG head).

``--prior-coverage DATA...`` adds how well the priors cover the boxes of EndoVis17-layout
datasets at every ``--size`` (share of boxes with a prior of IoU >= 0.5); ``--suggest`` also
derives extra prior shapes from those boxes (``ops.prior_tuning``) and prints them as the
YAML to put under ``model.detection``. Re-run it whenever the data (or its generator) changes:

    surg-perception synth /tmp/tune --sequences 80 --frames 8 --seed 10
    surg-perception model-info config/models/light.yaml --size 256 320 --size 512 640 \\
        --prior-coverage /tmp/tune --suggest
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from surg_perception.config import DetectionConfig, ModelSpec
from surg_perception.errors import ConfigError
from surg_perception.models.registry import build_model
from surg_perception.ops.prior_coverage import prior_coverage
from surg_perception.ops.prior_tuning import Layout, suggest_geometry
from surg_perception.ops.priors import make_priors, priors_per_location


def param_count(module: nn.Module | None) -> int:
    """Parameters of ``module`` (0 for None): the one counter model-info, pruning and the
    benchmark report."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _measure(spec: ModelSpec, size: tuple[int, int]) -> tuple[nn.Module, dict[str, int]]:
    """Build on the meta device and count FLOPs per module path for one eval forward."""
    with torch.device("meta"):
        model = build_model(spec.model)
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
    difference with memory switched off), ``num_priors`` and ``part_head`` (None, or its
    ``classes``, ``params`` and ``gflops``: a head of ``seg_decoder``, counted there too).
    """
    size = tuple(input_size or spec.preprocess.input_size)
    model, flops = _measure(spec, size)
    parts = [name for name, child in model.named_children() if child is not None]
    params = {name: param_count(getattr(model, name)) for name in parts}
    params["total"] = param_count(model)
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
        "part_head": None,
    }
    if model.has_parts:
        head = f"{type(model).__name__}.seg_decoder.part_head"
        info["part_head"] = {"classes": list(spec.model.part_classes),
                             "params": param_count(model.seg_decoder.part_head),
                             "gflops": flops.get(head, 0) / 1e9}
    if model.has_detection:
        anchors = priors_per_location(model.det_head.cfg)
        sizes = model.feature_sizes(*size)
        info["num_priors"] = sum(h * w * a for (h, w), a in zip(sizes, anchors))
    if model.has_memory:
        cfg = dataclasses.replace(spec.model.memory, enabled=False)
        plain = dataclasses.replace(spec, model=dataclasses.replace(spec.model, memory=cfg))
        plain_model, plain_flops = _measure(plain, size)
        info["memory"] = {
            "params": params["total"] - param_count(plain_model),
            "gflops": (flops["__total__"] - plain_flops["__total__"]) / 1e9,
        }
    return info



# --------------------------------------------------------------------------- prior coverage


def dataset_boxes(roots: Sequence[str | Path]) -> torch.Tensor:
    """Every ground-truth box of the EndoVis17-layout datasets, ``[G, 4]`` xyxy normalised.

    Boxes are normalised by their frame's size, which is what the network sees after the
    resize to its input (without ``preprocess.crop_black_border``).
    """
    from surg_perception.data.endovis17 import EndoVis17Dataset

    boxes = []
    for root in roots:
        dataset = EndoVis17Dataset(root, frame_size=None, activity=False)
        for index in range(len(dataset)):
            sample = dataset[index]
            height, width = sample.size
            boxes.append(torch.from_numpy(sample.boxes) / torch.tensor([width, height] * 2))
    return torch.cat(boxes) if boxes else torch.zeros(0, 4)


def _layouts(spec: ModelSpec, sizes: Sequence[tuple[int, int]]) -> list[Layout]:
    with torch.device("meta"):
        model = build_model(spec.model)
    if not model.has_detection:
        raise ConfigError(f"{spec.model.name} has no detection head, so it has no priors")
    return [Layout(tuple(size), model.feature_sizes(*size)) for size in sizes]


def _coverage(cfg: DetectionConfig, boxes: torch.Tensor, layouts: list[Layout]) -> list[dict]:
    rows = []
    for layout in layouts:
        priors = make_priors(cfg, layout.feature_sizes, layout.image_size)
        rows.append({"input_size": list(layout.image_size), "priors": len(priors),
                     **prior_coverage(boxes, priors)._asdict()})
    return rows


def coverage_report(spec: ModelSpec, roots: Sequence[str | Path],
                    sizes: Sequence[tuple[int, int]], suggest: bool = False) -> dict[str, Any]:
    """Prior coverage of the datasets' boxes at each input size, and optionally a suggestion.

    Returns ``{"boxes", "current": [row per size], "suggested": {"extra_shapes",
    "rows"} or None}``; a row has ``input_size``, ``priors`` and the
    :class:`~surg_perception.ops.prior_coverage.PriorCoverage` fields.
    """
    boxes = dataset_boxes(roots)
    layouts = _layouts(spec, sizes)
    report = {"boxes": len(boxes), "current": _coverage(spec.model.detection, boxes, layouts),
              "suggested": None}
    if suggest and len(boxes):
        cfg = suggest_geometry(spec.model.detection, boxes, layouts)
        report["suggested"] = {"extra_shapes": [[list(s) for s in shapes]
                                                for shapes in cfg.extra_shapes],
                               "rows": _coverage(cfg, boxes, layouts)}
    return report


def format_coverage(report: dict[str, Any]) -> str:
    """Human-readable :func:`coverage_report`, the suggestion as YAML to paste."""
    def rows(items: list[dict]) -> list[str]:
        return [f"  {r['input_size'][0]}x{r['input_size'][1]}: {r['priors']} priors, "
                f"{100 * r['covered']:.1f} % of boxes with a prior of IoU >= 0.5, median "
                f"{r['median_positives']:g} positive priors per box, median best IoU "
                f"{r['median_best_iou']:.2f}" for r in items]

    lines = [f"prior coverage of {report['boxes']} boxes:", *rows(report["current"])]
    suggested = report["suggested"]
    if suggested:
        lines.append("suggested geometry (under model.detection; SSD scales unchanged):")
        lines.append("  extra_shapes:")
        lines += [f"    - {json.dumps(shapes)}" for shapes in suggested["extra_shapes"]]
        lines += ["with it:", *rows(suggested["rows"])]
    return "\n".join(lines)


def table_gflops(info: dict[str, Any]) -> dict[str, float]:
    """GFLOPs per table row, one measurement behind each number.

    The memory row is the memory overhead of the footer (memory on minus memory off), which
    also holds the few operations the memory adds outside its module (e.g. fusing its output
    into the features); ``other`` is what no part's row holds (the model's own wiring: resizes,
    concatenations), so the rows add up to ``total``.
    """
    gflops = {k: v for k, v in info["gflops"].items() if k in info["params"]}
    if info["memory"] and "memory" in gflops:
        gflops["memory"] = info["memory"]["gflops"]
    parts = sum(v for k, v in gflops.items() if k not in ("total", "inference"))
    other = gflops["total"] - parts
    if abs(other) >= 5e-4:  # shown at 3 decimals
        gflops["other"] = other
    return gflops


def format_info(info: dict[str, Any]) -> str:
    """Human-readable table of :func:`model_info`'s result."""
    h, w = info["input_size"]
    gflops = table_gflops(info)
    lines = [f"{info['name']} @ {h}x{w}", f"{'part':<16}{'params (M)':>12}{'GFLOPs':>12}"]
    for part, count in info["params"].items():
        if part == "total" and "other" in gflops:  # the last row above the sum
            lines.append(f"{'other':<16}{'':>12}{gflops['other']:12.3f}")
        cost = "" if part not in gflops else f"{gflops[part]:12.3f}"
        lines.append(f"{part:<16}{count / 1e6:12.3f}{cost}")
    if info["memory"]:
        mem = info["memory"]
        lines.append(f"memory overhead (memory on vs off): {mem['params'] / 1e6:.3f} M params, "
                     f"{mem['gflops']:.3f} GFLOPs")
    if info["num_priors"] is not None:
        lines.append(f"prior boxes: {info['num_priors']}")
    if info.get("part_head"):
        part = info["part_head"]
        lines.append(f"part head (in seg_decoder): {', '.join(part['classes'])}; "
                     f"{part['params']:,} params, {part['gflops']:.3f} GFLOPs")
    if info.get("prior_coverage"):
        lines.append(format_coverage(info["prior_coverage"]))
    return "\n".join(lines)


# The command line (add_arguments, run) is surg_perception.model_info_cli: torch-free to import.


def main(argv: Sequence[str] | None = None) -> int:
    """``surg-perception model-info`` through the shared CLI (same error handling)."""
    from surg_perception.cli import main as cli_main

    return cli_main(["model-info", *(argv or [])])
