"""Size, cost and latency of pruned models, and the paper's Fig. 9 plot.

Latency is the median time of one inference step (batch 1, memory state carried) of a model
built from a set of widths, on the pruning device, timed with :class:`StageClock` (CUDA
events on a GPU, so asynchronous kernels are counted). It depends on the shapes only, so
every round of the history is timed in one sweep without pruning a copy of the weights, and
the report's before/after figures are the sweep's first and last values: the printed
numbers and the plotted ones are the same measurement.
"""

from __future__ import annotations

from pathlib import Path
import statistics

import torch
from torch import nn

from surg_perception.config import ModelSpec
from surg_perception.model_info import model_info, param_count
from surg_perception.models.registry import build_model
from surg_perception.processing.timing import StageClock

# Metric line colours of Fig. 9: the latency line is black, no metric shares a colour or style.
METRIC_STYLES = (("tab:blue", "-", "s"), ("tab:orange", "--", "^"), ("tab:green", "-.", "v"),
                 ("tab:purple", ":", "D"), ("tab:brown", "--", "P"), ("tab:pink", "-.", "X"),
                 ("tab:olive", ":", "*"), ("tab:cyan", "-", "h"))
LATENCY_STYLE = ("black", "-", "o")


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
    device = torch.device(device)
    images = torch.zeros(1, 3, *spec.preprocess.input_size, device=device)
    state, times = None, []
    for index in range(warmup + max(1, runs)):
        clock = StageClock(device)
        _, state = model(images, state=state)
        clock.mark("step")
        if index >= warmup:
            times.append(clock.finish()["step"])
    model.train(was_training)
    return statistics.median(times)


def latency_of_widths(spec: ModelSpec, widths: dict[str, int], runs: int,
                      device: torch.device | str = "cpu") -> float:
    """Latency (ms) on ``device`` of a randomly initialised model at ``widths``."""
    from surg_perception.pruning.surgery import with_widths

    model = build_model(with_widths(spec.model, widths)).to(device)
    return measure_latency(model, spec, runs, device=device)


def size_summary(spec: ModelSpec) -> dict[str, float]:
    """``params`` (inference, M) and ``gflops`` (per frame) from ``model_info``."""
    info = model_info(spec)
    return {"params_m": info["params"]["inference"] / 1e6, "gflops": info["gflops"]["total"]}


def latency_label(device: torch.device | str) -> str:
    """``latency on cpu`` / ``latency on cuda:0``: the words of the printed line and the plot."""
    return f"latency on {device}"


def fig9_figure(history: list[dict], metric: str, device: torch.device | str = "cpu"):
    """The Fig. 9 matplotlib figure: ``history``'s latencies and metrics vs weights kept.

    Every line has its own colour, dash pattern and marker; the pruning ``metric`` is drawn
    thicker. The caller closes the figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = [100 * h["weights_kept"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4.6))
    color, dash, marker = LATENCY_STYLE
    ax.plot(kept, [h["latency_ms"] for h in history], color=color, linestyle=dash,
            marker=marker, label=latency_label(device))
    ax.set_xlabel("weights kept (%)")
    ax.set_ylabel(f"{latency_label(device)} (ms / frame)")
    # From zero: an autoscaled axis draws a 1 % change (timing noise) as a steep line.
    ax.set_ylim(bottom=0, top=1.15 * max(h["latency_ms"] for h in history))
    ax.invert_xaxis()
    other = ax.twinx()
    names = sorted({k for h in history for k in h["metrics"] if k != "loss"})
    for index, name in enumerate(names):
        color, dash, marker = METRIC_STYLES[index % len(METRIC_STYLES)]
        other.plot(kept, [h["metrics"].get(name, float("nan")) for h in history], color=color,
                   linestyle=dash, marker=marker, linewidth=2.5 if name == metric else 1.2,
                   label=name)
    other.set_ylabel("metric")
    other.set_ylim(0, 1.05)  # Dice, IoU, accuracy, F1: all in [0, 1] (the loss is not drawn)
    lines = ax.get_lines() + other.get_lines()
    # Below the axes: inside them it hid the low metrics' points (F1, type Dice near 0.05).
    fig.legend(lines, [line.get_label() for line in lines], loc="lower center", fontsize=8,
               ncol=3, frameon=False)
    ax.set_title("GADP: latency and accuracy vs weights kept")
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def plot_fig9(history: list[dict], path: str | Path, metric: str,
              device: torch.device | str = "cpu") -> Path:
    """Latency and metrics against the fraction of weights kept (AP-MTL's Fig. 9), PNG."""
    import matplotlib.pyplot as plt

    fig = fig9_figure(history, metric, device)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
