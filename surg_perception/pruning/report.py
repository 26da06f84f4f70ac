"""Size, cost and CPU latency of pruned models, and the paper's Fig. 9 plot.

Latency is the median wall time of one inference step (batch 1, memory state carried) of a
model built from a set of widths; it depends on the shapes only, so every round of the
history can be timed without pruning a copy of the weights.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from torch import nn

from surg_perception.config import ModelSpec
from surg_perception.model_info import model_info, param_count
from surg_perception.models.registry import build_model


def count_params(spec: ModelSpec) -> int:
    """Inference parameters (the training-only HOG head excluded) of ``spec``'s model."""
    with torch.device("meta"):
        model = build_model(spec.model)
    return param_count(model) - param_count(getattr(model, "hog_head", None))


@torch.no_grad()
def measure_latency(model: nn.Module, spec: ModelSpec, runs: int = 20, warmup: int = 2,
                    device: torch.device | str = "cpu") -> float:
    """Median milliseconds of ``model``'s step on a ``[1, 3, H, W]`` input at ``spec``'s size."""
    was_training = model.training
    model.eval()
    images = torch.zeros(1, 3, *spec.preprocess.input_size, device=device)
    state, times = None, []
    for index in range(warmup + max(1, runs)):
        start = time.perf_counter()
        _, state = model(images, state=state)
        if index >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    model.train(was_training)
    return statistics.median(times)


def latency_of_widths(spec: ModelSpec, widths: dict[str, int], runs: int) -> float:
    """CPU latency (ms) of a randomly initialised model at ``widths``."""
    from surg_perception.pruning.surgery import with_widths

    model = build_model(with_widths(spec.model, widths))
    return measure_latency(model, spec, runs)


def size_summary(spec: ModelSpec) -> dict[str, float]:
    """``params`` (inference, M) and ``gflops`` (per frame) from ``model_info``."""
    info = model_info(spec)
    return {"params_m": info["params"]["inference"] / 1e6, "gflops": info["gflops"]["total"]}


def plot_fig9(history: list[dict], path: str | Path, metric: str) -> Path:
    """Latency and metrics against the fraction of weights kept (AP-MTL's Fig. 9), PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = [100 * h["weights_kept"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(kept, [h["latency_ms"] for h in history], "o-", color="tab:red")
    ax.set_xlabel("weights kept (%)")
    ax.set_ylabel("CPU latency (ms / frame)", color="tab:red")
    ax.invert_xaxis()
    other = ax.twinx()
    names = sorted({k for h in history for k in h["metrics"] if k != "loss"})
    for name in names:
        style = "s-" if name == metric else "^--"
        other.plot(kept, [h["metrics"].get(name, float("nan")) for h in history], style,
                   label=name)
    other.set_ylabel("metric")
    other.legend(loc="lower left", fontsize=8)
    ax.set_title("GADP: latency and accuracy vs weights kept")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
