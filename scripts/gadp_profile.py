"""Per-block latency of an AP-MTL model, unpruned vs physically pruned (issue 17 item 3).

Why GADP's speed-up stops where it does: every prunable unit of the encoder keeps a fraction
of its channels (the highest-L1 ones; ``E/L``: E in the high-resolution stages 1-4 and L in
the rest, a FLOPs-aware width profile), the project's own surgery removes the others
(``pruning.surgery.remove_channels``: every consumer shrinks) and ``rebuild`` proves the result
builds from its ``channel_widths``. Latency depends on the widths only, so the weights are
seeded, not trained. All variants run through the real :class:`Predictor` step (preprocess,
network, post-processing) with one torch thread, one frame each per round in a shuffled
order, so background load hits them alike; forward hooks time each top-level block, the
memory's ``read`` and ``admit`` are timed as methods, ``other`` is the rest of the forward.
Medians over rounds (BENCHMARKS.md, "GADP: where the speed-up goes, per block"):

    OMP_NUM_THREADS=1 .venv/bin/python scripts/gadp_profile.py config/models/apmtl.yaml \\
        --size 256 320 --keep 0.75 0.59 0.40 0.55/0.85 0.40/0.90 --frames 10 --warmup 2

Detections come from random weights: the boxes reaching NMS (post-processing time) are not
those of a trained model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the checkout's package, not an installed copy
    sys.path.insert(0, str(ROOT))

from surg_perception.config import ModelSpec, load_spec  # noqa: E402
from surg_perception.models.channels import prunable_layers  # noqa: E402
from surg_perception.models.registry import build_model  # noqa: E402
from surg_perception.predictor import Predictor  # noqa: E402
from surg_perception.pruning.graph import build_graph, find_units, twin_of  # noqa: E402
from surg_perception.pruning.surgery import rebuild, remove_channels  # noqa: E402

MEMORY = "memory (read + admit)"
OTHER = "other (forward glue)"
STAGES = ("preprocess", "postprocess")
DEFAULT_KEEPS = ("0.75", "0.59", "0.40", "0.55/0.85", "0.40/0.90")  # BENCHMARKS.md's run


@dataclasses.dataclass(frozen=True)
class Block:
    """A named group of top-level modules; ``prunable``: it holds a conv GADP narrows."""

    name: str
    paths: tuple[str, ...]
    prunable: bool


# ---------------------------------------------------------------- building the variants


def sized_spec(spec: ModelSpec, size: tuple[int, int]) -> ModelSpec:
    pre = dataclasses.replace(spec.preprocess, input_size=tuple(size))
    return dataclasses.replace(spec, preprocess=pre)


def seeded_model(spec: ModelSpec, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(spec.model).eval()


EARLY_STAGES = ("stage1", "stage2", "stage3", "stage4")  # strides 1-8: most of the FLOPs


@dataclasses.dataclass(frozen=True)
class Keep:
    """Fraction of every prunable unit's channels kept: ``early`` in the encoder's stages 1-4
    (high resolution: FLOPs-heavy, parameter-light), ``late`` in the others."""

    early: float
    late: float

    @classmethod
    def parse(cls, text: str) -> Keep:
        """``"0.75"`` (uniform) or ``"0.55/0.85"`` (early/late)."""
        early, _, late = text.partition("/")
        return cls(float(early), float(late or early))

    @property
    def label(self) -> str:
        if self.early == self.late:
            return f"keep {self.early:.2f}"
        return f"keep {self.early:.2f} (stages 1-4) / {self.late:.2f} (rest)"


def prune_by_stage(spec: ModelSpec, keep: Keep, seed: int) -> tuple[nn.Module, ModelSpec]:
    """The seeded model with every unit cut to ``keep`` of its channels (highest L1 kept),
    by the pruning surgery, then rebuilt from its widths."""
    model = seeded_model(spec, seed)
    example = torch.zeros(1, 3, *spec.preprocess.input_size)
    twin = twin_of(model)
    units = find_units(twin, build_graph(twin, example))
    layers, paths, masks = prunable_layers(model), model.encoder.conv_paths, {}
    for unit in units:
        early = paths[unit.name].split(".")[0] in EARLY_STAGES
        kept = max(1, round((keep.early if early else keep.late) * unit.width))
        norms = layers[unit.name].weight.detach().flatten(1).abs().sum(dim=1)
        mask = torch.zeros(unit.width, dtype=torch.bool)
        mask[norms.argsort(descending=True)[:kept]] = True
        masks[unit.name] = mask
    remove_channels(model, spec.model, units, masks, example)
    pruned, pruned_spec = rebuild(model, spec)
    return pruned.eval(), pruned_spec


def model_blocks(model: nn.Module) -> list[Block]:
    """Encoder children, decoder stages, decoder heads, detection/activity heads, memory."""
    convs = {id(c) for c in prunable_layers(model).values()}

    def block(name: str, *paths: str) -> Block:
        mods = [model.get_submodule(p) for p in paths]
        return Block(name, paths, any(id(m) in convs for top in mods for m in top.modules()))

    blocks = [block(f"encoder.{n}", f"encoder.{n}") for n, _ in model.encoder.named_children()]
    decoder = model.seg_decoder
    blocks += [block(f"decoder.stage{i}", f"seg_decoder.stages.{i}")
               for i in range(len(decoder.stages))]
    heads = ["seg_decoder.head"] + (["seg_decoder.part_head"] if model.has_parts else [])
    blocks.append(block("decoder.head (+ part head)", *heads))
    blocks += [block(n, n) for n in ("det_head", "activity_head") if getattr(model, n, None)]
    if model.has_memory:
        blocks.append(Block(MEMORY, ("memory",), False))
    return blocks


# ---------------------------------------------------------------- counting


def block_params(model: nn.Module, blocks: list[Block]) -> dict[str, int]:
    return {b.name: sum(p.numel() for path in b.paths
                        for p in model.get_submodule(path).parameters()) for b in blocks}


def block_flops(spec: ModelSpec, blocks: list[Block]) -> dict[str, int]:
    """FLOPs per block of one eval frame, counted from shapes on the meta device; a module
    entered by method (memory) or iterated (a ModuleList) is the sum of its children."""
    with torch.device("meta"):
        model = build_model(spec.model).eval()
    images = torch.empty(1, 3, *spec.preprocess.input_size, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(images)
    counts = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}

    def flops(path: str) -> int:
        key = f"APMTL.{path}"
        if key in counts:
            return counts[key]
        return sum(flops(f"{path}.{n}") for n, _ in model.get_submodule(path).named_children())

    out = {b.name: sum(flops(p) for p in b.paths) for b in blocks}
    out[OTHER] = counter.get_total_flops() - sum(out.values())
    return out


# ---------------------------------------------------------------- timing


class BlockTimer:
    """Forward hooks (and the memory's two methods) adding each block's ms of one frame."""

    def __init__(self, model: nn.Module, blocks: list[Block]) -> None:
        self.frame: dict[str, float] = {}
        self._starts: dict[int, float] = {}
        for b in blocks:
            for path in b.paths:
                module = model.get_submodule(path)
                if path == "memory":
                    for method in ("read", "admit"):
                        setattr(module, method, self._timed(b.name, getattr(module, method)))
                    continue
                # A container's children: the decoder calls its transposed head's layers
                # one by one (shared with the part head), and ModuleLists are iterated.
                containers = (nn.ModuleList, nn.Sequential)
                targets = list(module.children()) if isinstance(module, containers) \
                    else [module]
                for target in targets:
                    target.register_forward_pre_hook(self._start)
                    target.register_forward_hook(self._stop(b.name))

    def _start(self, module: nn.Module, args) -> None:
        self._starts[id(module)] = time.perf_counter()

    def _stop(self, name: str):
        def hook(module: nn.Module, args, output) -> None:
            self._add(name, time.perf_counter() - self._starts.pop(id(module)))
        return hook

    def _timed(self, name: str, method):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self._add(name, time.perf_counter() - start)
        return run

    def _add(self, name: str, seconds: float) -> None:
        self.frame[name] = self.frame.get(name, 0.0) + 1e3 * seconds


@dataclasses.dataclass
class Variant:
    label: str
    spec: ModelSpec
    model: nn.Module
    blocks: list[Block]
    samples: list[dict[str, float]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.predictor = Predictor(self.model, self.spec)
        self.timer = BlockTimer(self.model, self.blocks)

    def step(self, frame: np.ndarray, record: bool) -> None:
        self.timer.frame = {}
        timings = self.predictor.step(frame).timings_ms
        if record:
            sample = dict(self.timer.frame)
            sample[OTHER] = timings["network"] - sum(sample.values())
            sample.update({k: timings[k] for k in (*STAGES, "network", "total")})
            self.samples.append(sample)


def run_interleaved(variants: list[Variant], frames: int, warmup: int, seed: int) -> None:
    """``warmup`` + ``frames`` rounds, each one step of every variant in a shuffled order (no
    variant always runs right after another); the memory state is carried."""
    size = variants[0].spec.preprocess.input_size
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    for index in range(warmup + frames):
        for position in rng.permutation(len(variants)):
            variants[position].step(frame, record=index >= warmup)


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(s[k] for s in samples) for k in samples[0]}


def minima(samples: list[dict[str, float]]) -> dict[str, float]:
    return {k: min(s[k] for s in samples) for k in samples[0]}


# ---------------------------------------------------------------- the table (pure)


@dataclasses.dataclass(frozen=True)
class Measured:
    """One variant's counts and times, keyed by block name (``ms``: medians, ``ms_min``);
    ``network``: the network ms of each recorded round."""

    params: dict[str, int]
    flops: dict[str, int]
    ms: dict[str, float]
    ms_min: dict[str, float]
    network: list[float]


def _ratio(new: float, old: float) -> float:
    return new / old if old > 0 else float("nan")


def _pair(old: float, new: float, fmt: str) -> str:
    return f"{old:{fmt}} -> {new:{fmt}}"


def _sum(values: dict, names: list[str]) -> float:
    return sum(values.get(n, 0) for n in names)


def table_rows(base: Measured, pruned: Measured, blocks: list[Block]) -> list[list[str]]:
    """``block, prunable, params M, GFLOPs, ms, ratio`` rows: every block, ``other``, the
    prunable / unshrunk sums, the network, pre-/post-processing and their step."""
    shrunk = [b.name for b in blocks if b.prunable]
    fixed = [b.name for b in blocks if not b.prunable] + [OTHER]
    groups = [(b.name, [b.name], "yes" if b.prunable else "no") for b in blocks]
    groups += [(OTHER, [OTHER], "no"), ("= prunable blocks", shrunk, "yes"),
               ("= blocks GADP does not narrow", fixed, "no"),
               ("= network", [*shrunk, *fixed], "")]
    rows = []
    for label, names, prunable in groups:
        ms_old, ms_new = _sum(base.ms, names), _sum(pruned.ms, names)
        if label == "= network":  # the measured forward, not a sum of medians
            ms_old, ms_new = base.ms["network"], pruned.ms["network"]
        params = "-" if label == OTHER else _pair(
            _sum(base.params, names) / 1e6, _sum(pruned.params, names) / 1e6, ".3f")
        rows.append([label, prunable, params,
                     _pair(_sum(base.flops, names) / 1e9, _sum(pruned.flops, names) / 1e9,
                           ".3f"),
                     _pair(ms_old, ms_new, ".1f"), f"{_ratio(ms_new, ms_old):.3f}"])
    for stage in STAGES:
        rows.append([stage, "no", "-", "-", _pair(base.ms[stage], pruned.ms[stage], ".1f"),
                     f"{_ratio(pruned.ms[stage], base.ms[stage]):.3f}"])
    step_old, step_new = (_sum(m.ms, ["network", *STAGES]) for m in (base, pruned))
    rows.append(["= step (pre + network + post)", "", "-", "-", _pair(step_old, step_new, ".1f"),
                 f"{_ratio(step_new, step_old):.3f}"])
    return rows


def summary(base: Measured, pruned: Measured, blocks: list[Block],
            goal: float = 0.55) -> dict[str, float]:
    """Whole-network ratios and the Amdahl bound set by the blocks GADP does not narrow.

    ``floor``: the network ratio if the prunable blocks took no time at all and the rest
    stayed as in the unpruned model (its share of the time); ``needed_prunable_ratio``: the
    ratio the prunable blocks alone would need for ``goal``, the rest as measured pruned.
    """
    shrunk = [b.name for b in blocks if b.prunable]
    fixed = [b.name for b in blocks if not b.prunable] + [OTHER]
    total = base.ms["network"]
    prunable_old, fixed_old = _sum(base.ms, shrunk), _sum(base.ms, fixed)
    fixed_new = _sum(pruned.ms, fixed)
    return {
        "params_kept": _ratio(sum(pruned.params.values()), sum(base.params.values())),
        "gflops_ratio": _ratio(sum(pruned.flops.values()), sum(base.flops.values())),
        "network_ratio": _ratio(pruned.ms["network"], total),
        "network_ratio_min": _ratio(pruned.ms_min["network"], base.ms_min["network"]),
        # per-round pruned/unpruned, then the median: slow load drifts cancel out
        "network_ratio_paired": statistics.median(
            _ratio(new, old) for new, old in zip(pruned.network, base.network)),
        "prunable_ratio": _ratio(_sum(pruned.ms, shrunk), prunable_old),
        "fixed_ratio": _ratio(fixed_new, fixed_old),
        "fixed_share": _ratio(fixed_old, total),
        "floor": _ratio(fixed_old, total),
        "floor_pruned_rest": _ratio(fixed_new, total),
        "needed_prunable_ratio": _ratio(goal * total - fixed_new, prunable_old),
    }


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- command line


def measure(variant: Variant) -> Measured:
    return Measured(block_params(variant.model, variant.blocks),
                    block_flops(variant.spec, variant.blocks),
                    medians(variant.samples), minima(variant.samples),
                    [s["network"] for s in variant.samples])


def profile(config: str | Path, size: tuple[int, int], keeps: list[Keep], frames: int,
            warmup: int, seed: int = 0) -> tuple[list[Variant], list[Measured]]:
    spec = sized_spec(load_spec(config), size)
    base = seeded_model(spec, seed)
    variants = [Variant("unpruned", spec, base, model_blocks(base))]
    for keep in keeps:
        model, pruned_spec = prune_by_stage(spec, keep, seed)
        variants.append(Variant(keep.label, pruned_spec, model, model_blocks(model)))
    run_interleaved(variants, frames, warmup, seed)
    return variants, [measure(v) for v in variants]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 320), metavar=("H", "W"))
    parser.add_argument("--keep", type=Keep.parse, nargs="+",
                        default=[Keep.parse(k) for k in DEFAULT_KEEPS],
                        help="fraction of every prunable unit's channels kept, one variant "
                        "each: F, or E/L (E in encoder stages 1-4, L in the rest)")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    variants, measured = profile(args.config, tuple(args.size), args.keep, args.frames,
                                 args.warmup, args.seed)
    header = ["block", "prunable", "params M", "GFLOPs", "ms (p50)", "ratio"]
    report = {}
    for variant, m in zip(variants[1:], measured[1:]):
        print(f"\n### {variant.label} of every prunable unit's channels "
              f"({args.size[0]}x{args.size[1]}, unpruned -> pruned)\n")
        print(markdown(header, table_rows(measured[0], m, variant.blocks)))
        report[variant.label] = summary(measured[0], m, variant.blocks)
        print("\n" + ", ".join(f"{k} {v:.3f}" for k, v in report[variant.label].items()))
    if args.json:
        args.json.write_text(json.dumps({"summary": report, "measured": [
            dataclasses.asdict(m) for m in measured]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
