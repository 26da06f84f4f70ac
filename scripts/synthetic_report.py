"""Collect the outputs of ``scripts/reproduce_synthetic.sh`` into ``REPORT.md`` + ``report.json``.

Reads, under ``--run``: the two ``surg-perception evaluate`` reports (held-out sequences),
the ``surg-perception prune`` report and Fig. 9 plot, the ``surg-perception export`` logs
(onnxruntime parity line) and the stage timings; writes under ``--out`` the Markdown report,
its numbers as JSON and a copy of ``fig9.png``. Nothing is recomputed here.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import sys
from pathlib import Path

import torch

from surg_perception.evaluation.report import fmt, markdown_table, write_json

# (key in a box-fill row or the overall scores, title)
SCORES = (("binary_dice", "binary Dice"), ("type_dice", "type Dice"),
          ("binary_iou", "binary IoU"), ("type_iou", "type IoU"), ("map50", "mAP@0.5"),
          ("activity_accuracy", "activity accuracy"), ("activity_f1", "activity macro F1"),
          ("hausdorff", "Hausdorff (px, lower is better)"))
PARITY = re.compile(r"max abs difference (\S+) \(tolerance atol (\S+), rtol (\S+)\)")


def _scores(report: dict, row: str) -> dict[str, float | None]:
    overall = report["overall"]
    values = {**overall[row], **{k: v for k, v in overall.items() if not isinstance(v, dict)}}
    return {key: values.get(key) for key, _ in SCORES}


def _parity(log: Path) -> dict[str, float] | None:
    match = PARITY.search(log.read_text()) if log.is_file() else None
    if match is None:
        return None
    return dict(zip(("max_abs_diff", "atol", "rtol"), map(float, match.groups())))


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def collect(run: Path) -> dict:
    """Every number of the report, from the files the pipeline wrote under ``run``."""
    evals = {name: json.loads((run / f"eval_{name}" / "report.json").read_text())
             for name in ("unpruned", "pruned")}
    prune = json.loads((run / "prune" / "prune_report.json").read_text())
    stages = dict(line.split() for line in (run / "stage_seconds.txt").read_text().splitlines()
                  if line.strip())
    fps = {name: e["timing"]["fps"] for name, e in evals.items()}
    return {
        "data": json.loads((run / "data" / "manifest.json").read_text()),
        "held_out": sorted(int(name.rsplit("_", 1)[-1])
                           for name in evals["unpruned"]["sequences"]),
        "held_out_frames": evals["unpruned"]["overall"]["frames"],
        "scores": {name: {row: _scores(e, row) for row in ("box_fill_off", "box_fill_on")}
                   for name, e in evals.items()},
        "size": {"unpruned": prune["before"], "pruned": prune["after"]},
        "params_removed": prune["params_removed"],
        "latency_ratio": prune["latency_ratio"],
        "predictor_fps": fps,
        "predictor_latency_ratio": fps["unpruned"] / fps["pruned"],
        "prune_stop_reason": prune["stop_reason"],
        "prune_history": [{k: h[k] for k in ("round", "weights_kept", "metrics")}
                          for h in prune["history"]],
        "onnx_parity": {name: _parity(run / "export" / f"{name}.log")
                        for name in ("unpruned", "pruned")},
        "stage_seconds": {k: int(v) for k, v in stages.items()},
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "cpu": _cpu_name(),
                    "torch_threads": torch.get_num_threads()},
    }


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def markdown(numbers: dict, configs: list[str]) -> str:
    """The report page (numbers from :func:`collect`)."""
    data, scores, size = numbers["data"], numbers["scores"], numbers["size"]
    lines = ["# Synthetic reproduction: train, evaluate, prune (GADP), export", "",
             f"Written by `scripts/reproduce_synthetic.sh`. Data: `surg-perception synth`, "
             f"{len(data['sequences'])} sequences x {data['frames']} frames at "
             f"{data['size'][0]}x{data['size'][1]}, seed {data['seed']}; sequences "
             f"{', '.join(map(str, numbers['held_out']))} held out "
             f"({numbers['held_out_frames']} frames) for every score below; training and "
             f"pruning use the others. Configs: " + ", ".join(f"`{c}`" for c in configs)
             + ".", "", "## Scores on the held-out sequences", ""]
    rows = [[title, *(fmt(scores[m][row][key]) for m in ("unpruned", "pruned")
                      for row in ("box_fill_off", "box_fill_on"))] for key, title in SCORES]
    lines += markdown_table(["metric", "unpruned", "unpruned + box-fill", "pruned",
                     "pruned + box-fill"], rows)
    lines += ["", "## Size and speed (CPU)", ""]
    rows = [[name, fmt(size[name]["params_m"]), fmt(size[name]["gflops"]),
             _ms(size[name]["latency_ms"]), _ms(numbers["predictor_fps"][name])]
            for name in ("unpruned", "pruned")]
    lines += markdown_table(["model", "params (M)", "GFLOPs", "network step (ms)",
                     "predictor FPS"], rows)
    lines += ["", f"- Weights removed by GADP: {numbers['params_removed']:.1%} (paper: ~41 %); "
              f"stop: {numbers['prune_stop_reason']}.",
              f"- Pruned / unpruned latency: {numbers['latency_ratio']:.3f} (network step, "
              f"median, batch 1); {numbers['predictor_latency_ratio']:.3f} for the whole "
              "predictor step (pre/post-processing included) during evaluation.",
              f"- CPU: {numbers['machine']['cpu']}, torch {numbers['machine']['torch']}, "
              f"{numbers['machine']['torch_threads']} thread(s); other jobs may share the "
              "cores, so the latencies are indicative, the ratio more than the absolute values.",
              "", "## GADP rounds", "", "![Fig. 9](fig9.png)", ""]
    names = sorted({k for h in numbers["prune_history"] for k in h["metrics"]})
    rows = [[str(h["round"]), f"{h['weights_kept']:.1%}",
             *(fmt(h["metrics"].get(k)) for k in names)] for h in numbers["prune_history"]]
    lines += markdown_table(["round", "weights kept", *names], rows)
    lines += ["", "Round metrics are on clips of the training sequences at the network input "
              "size (the pruning criterion), not the held-out scores above.", "",
              "## ONNX export (onnxruntime vs eager PyTorch, CPU, 5 frames, state fed back)", ""]
    rows = [[name, "n/a" if p is None else f"{p['max_abs_diff']:.3g}",
             "n/a" if p is None else f"atol {p['atol']:g} + rtol {p['rtol']:g}"]
            for name, p in numbers["onnx_parity"].items()]
    lines += markdown_table(["model", "max abs difference", "tolerance"], rows)
    lines += ["", "## Stage times (s)", ""]
    stages = numbers["stage_seconds"]
    lines += markdown_table([*stages, "total"],
                            [[*map(str, stages.values()), str(sum(stages.values()))]])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="runs/synthetic")
    parser.add_argument("--out", type=Path, required=True, help="reports/synthetic")
    parser.add_argument("--configs", nargs="*", default=[], help="config files used")
    args = parser.parse_args(argv)
    numbers = collect(args.run)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "report.json", {"configs": args.configs, **numbers})
    (args.out / "REPORT.md").write_text(markdown(numbers, args.configs))
    shutil.copyfile(args.run / "prune" / "fig9.png", args.out / "fig9.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
