"""Collect the outputs of ``scripts/benchmark_synthetic.sh`` into ``REPORT.md`` + ``report.json``.

Reads, under ``--run``: per configuration the ``surg-perception evaluate`` reports on the
held-out sequences (memory on, memory off; the pruned tiny model), the prior coverage and
model-info JSON, the ``surg-perception prune`` report and Fig. 9 plot, the export log
(onnxruntime parity) and the stage timings. Writes under ``--out`` the Markdown report, its
numbers as JSON and copies of ``fig9.png``. Nothing is recomputed here: every number in the
page is one of those files' numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import platform
import re
import shutil
import sys

import torch

from surg_perception.evaluation.instrument_report import markdown_lines as instrument_lines
from surg_perception.evaluation.report import fmt, markdown_table, write_json

# (key, title); all except Hausdorff and the timing are "higher is better"
SCORES = (("binary_dice", "binary Dice"), ("binary_iou", "binary IoU"),
          ("type_dice", "type Dice"), ("type_iou", "type mIoU"),
          ("isinet_iou", "ISINet IoU"), ("challenge_iou", "Challenge IoU"),
          ("mciou", "mcIoU"), ("map50_ssd", "mAP@0.5, SSD boxes"),
          ("map50_instance_boxes", "mAP@0.5, SSD + instance boxes"),
          ("activity_accuracy", "activity accuracy"), ("activity_f1", "activity macro F1"))
# the issue's targets on held-out synthetic sequences: config -> (key, minimum); mAP on
# the boxes tiny.yaml and light.yaml publish (postprocess.instance_boxes: true)
TARGETS = {
    "light": (("binary_dice", 0.90), ("type_iou", 0.70), ("map50_instance_boxes", 0.70),
              ("activity_accuracy", 0.70)),
    "tiny": (("binary_dice", 0.85), ("type_dice", 0.60), ("map50_instance_boxes", 0.50)),
}
TRAIN_BUDGET_S = {"light": 20 * 60, "tiny": 2 * 60}
PUBLISHED = "instance_typing_box_fill_on"  # the masks the node publishes by default
ROW_TITLES = {"box_fill_off": "pixel types", "box_fill_on": "box-fill",
              "instance_typing_on": "instance typing",
              "instance_typing_box_fill_on": "instance typing + box-fill"}
PARITY = re.compile(r"max abs difference (\S+) \(tolerance atol (\S+), rtol (\S+)\)")


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def scores(report: dict | None, row: str = PUBLISHED) -> dict[str, float | None]:
    """The table's metrics of one evaluate report (overall, one mask row)."""
    if report is None:
        return {key: None for key, _ in SCORES}
    overall = report["overall"]
    values = {**overall[row], **{k: v for k, v in overall.items() if not isinstance(v, dict)}}
    protocol = (overall.get("protocol") or {}).get(row) or {}
    values.update(isinet_iou=protocol.get("iou"), challenge_iou=protocol.get("challenge_iou"),
                  mciou=protocol.get("mc_iou"))
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


def collect_config(run: Path, name: str, stages: dict[str, int]) -> dict:
    """Every number of one configuration."""
    base = run / name
    evals = {"memory_on": _read(base / "eval" / "report.json"),
             "memory_off": _read(base / "eval_memory_off" / "report.json"),
             "pruned": _read(base / "eval_pruned" / "report.json")}
    main = evals["memory_on"]
    out = {
        "scores": {k: scores(v) for k, v in evals.items() if v is not None},
        "rows": {row: scores(main, row) for row in ROW_TITLES} if main else {},
        "info": _read(base / "info.json"),
        "train_seconds": stages.get(f"train_{name}"),
        "fps": main["timing"]["fps"] if main else None,
        "held_out_frames": main["overall"]["frames"] if main else None,
        "held_out": sorted(main["sequences"]) if main else [],
    }
    prune = _read(base / "prune" / "prune_report.json")
    if prune is not None:
        out["prune"] = {"size": {"unpruned": prune["before"], "pruned": prune["after"]},
                        "params_removed": prune["params_removed"],
                        "latency_ratio": prune["latency_ratio"],
                        "stop_reason": prune["stop_reason"],
                        "history": [{k: h[k] for k in ("round", "weights_kept", "metrics")}
                                    for h in prune["history"]]}
    out["onnx_parity"] = _parity(base / "export" / "unpruned.log")
    stereo = _read(base / "eval_instruments" / "report.json")
    out["instruments"] = None if stereo is None else stereo.get("instruments")
    return out


def _data_summary(manifest: dict) -> dict:
    """The manifest without its per-sequence records (the data folder keeps them): the
    sequence count and the frames per activity over all sequences."""
    records = manifest["sequences"]
    frames: dict[str, int] = {}
    for record in records:
        for name, count in record.get("activity_frames", {}).items():
            frames[name] = frames.get(name, 0) + count
    return {**{k: v for k, v in manifest.items() if k != "sequences"},
            "sequences": len(records), "activity_frames": frames}


def collect(run: Path, configs: list[str]) -> dict:
    stages = dict(line.split() for line in (run / "stage_seconds.txt").read_text().splitlines()
                  if line.strip())
    stages = {k: int(v) for k, v in stages.items()}
    return {
        "data": _data_summary(json.loads((run / "data" / "manifest.json").read_text())),
        "configs": {name: collect_config(run, name, stages) for name in configs},
        "stage_seconds": stages,
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "cpu": _cpu_name(), "threads": torch.get_num_threads()},
    }


def _target_lines(name: str, numbers: dict) -> list[str]:
    measured = numbers["scores"].get("memory_on", {})
    rows = []
    for key, minimum in TARGETS.get(name, ()):
        value = measured.get(key)
        title = dict(SCORES)[key]
        if value is None:
            verdict = "not measured"
        elif value >= minimum:
            verdict = "met"
        else:
            verdict = f"missed by {minimum - value:.3f}"
        rows.append([title, f">= {minimum:.2f}", fmt(value), verdict])
    budget, seconds = TRAIN_BUDGET_S.get(name), numbers["train_seconds"]
    if budget is not None:
        verdict = "n/a" if seconds is None else (
            "met" if seconds <= 1.1 * budget else f"over by {seconds - budget} s")
        rows.append(["training time (s)", f"~{budget}", str(seconds), verdict])
    return markdown_table(["target", "goal", "measured", "verdict"], rows)


def config_section(name: str, numbers: dict) -> list[str]:
    info = numbers["info"] or {}
    size = info.get("input_size", ["?", "?"])
    coverage = (info.get("prior_coverage") or {}).get("current") or [{}]
    covered = coverage[0].get("covered")
    lines = [f"## `{name}` at {size[0]}x{size[1]}", "",
             f"Trained {numbers['train_seconds']} s; held-out frames: "
             f"{numbers['held_out_frames']} ({', '.join(numbers['held_out'])}); prior coverage "
             f"of the held-out boxes (share with a prior of IoU >= 0.5): "
             f"{'n/a' if covered is None else f'{100 * covered:.1f} %'}.", "",
             "### Targets", ""]
    lines += _target_lines(name, numbers)
    columns = [c for c in ("memory_on", "memory_off", "pruned") if c in numbers["scores"]]
    titles = {"memory_on": "memory on", "memory_off": "memory off (cleared every frame)",
              "pruned": "GADP-pruned, memory on"}
    lines += ["", "### Held-out scores (the masks the node publishes: instance typing + "
              "box-fill)", ""]
    rows = [[title, *(fmt(numbers["scores"][c][key]) for c in columns)] for key, title in SCORES]
    lines += markdown_table(["metric", *(titles[c] for c in columns)], rows)
    on, off = numbers["scores"].get("memory_on"), numbers["scores"].get("memory_off")
    if on and off:
        deltas = [f"{title} {on[key] - off[key]:+.3f}" for key, title in SCORES
                  if key in ("type_iou", "activity_accuracy", "map50_instance_boxes")
                  and on[key] is not None and off[key] is not None]
        lines += ["", "Memory on minus memory off: " + ", ".join(deltas) + "."]
    lines += ["", "### Post-processing rows (memory on, same network outputs)", ""]
    keys = ("binary_dice", "type_dice", "type_iou", "mciou")
    rows = [[ROW_TITLES[row], *(fmt(v[k]) for k in keys)] for row, v in numbers["rows"].items()]
    lines += markdown_table(["masks", *(dict(SCORES)[k] for k in keys)], rows)
    if numbers.get("instruments"):
        # evaluate --instruments on the held-out STEREO set (another seed, never trained on)
        section = instrument_lines(numbers["instruments"])
        lines += [line.replace("## Instruments", "### Instruments, held-out stereo set", 1)
                  for line in section]
    if "prune" in numbers:
        lines += prune_section(name, numbers)
    return lines + [""]


def prune_section(name: str, numbers: dict) -> list[str]:
    prune, size = numbers["prune"], numbers["prune"]["size"]
    lines = ["", f"### GADP (`{name}`)", ""]
    rows = [[k, fmt(size[k]["params_m"]), fmt(size[k]["gflops"]), fmt(size[k]["latency_ms"])]
            for k in ("unpruned", "pruned")]
    lines += markdown_table(["model", "params (M)", "GFLOPs", "network step (ms)"], rows)
    lines += ["", f"Weights removed: {prune['params_removed']:.1%}; pruned / unpruned network "
              f"latency {prune['latency_ratio']:.3f}; stop: {prune['stop_reason']}.", "",
              f"![Fig. 9]({name}_fig9.png)", ""]
    names = sorted({k for h in prune["history"] for k in h["metrics"]})
    rows = [[str(h["round"]), f"{h['weights_kept']:.1%}",
             *(fmt(h["metrics"].get(k)) for k in names)] for h in prune["history"]]
    lines += markdown_table(["round", "weights kept", *names], rows)
    lines += ["", "Round metrics are on clips of the training sequences (the pruning "
              "criterion), not the held-out scores above."]
    parity = numbers.get("onnx_parity")
    if parity:
        lines += ["", f"ONNX export (onnxruntime vs eager, 5 frames, state fed back): max abs "
                  f"difference {parity['max_abs_diff']:.3g} (atol {parity['atol']:g} + rtol "
                  f"{parity['rtol']:g})."]
    return lines


def markdown(numbers: dict, notes: str) -> str:
    data = numbers["data"]
    machine = numbers["machine"]
    lines = ["# Held-out synthetic benchmark", "",
             "Written by `scripts/benchmark_synthetic.sh` (every stage is the project's own "
             "CLI; this page only collects their files). Data: `surg-perception synth`, "
             f"{data['sequences']} sequences x {data['frames']} frames at "
             f"{data['size'][0]}x{data['size'][1]}, seed {data['seed']}; the held-out sequences "
             "named below are never seen by training or pruning. "
             f"CPU: {machine['cpu']}, {machine['threads']} torch thread(s), torch "
             f"{machine['torch']}.", "",
             "![The synthetic world: every type and activity](gallery.png)", ""]
    if notes:
        lines += [notes.strip(), ""]
    for name, values in numbers["configs"].items():
        lines += config_section(name, values)
    stages = numbers["stage_seconds"]
    lines += ["## Stage times (s)", ""]
    lines += markdown_table([*stages, "total"],
                            [[*map(str, stages.values()), str(sum(stages.values()))]])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="runs/synthetic")
    parser.add_argument("--out", type=Path, required=True, help="reports/synthetic")
    parser.add_argument("--configs", nargs="+", required=True, help="configuration names")
    parser.add_argument("--notes", type=Path, default=None,
                        help="Markdown inserted after the introduction (analysis of misses)")
    args = parser.parse_args(argv)
    numbers = collect(args.run, args.configs)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "report.json", numbers)
    notes = args.notes.read_text() if args.notes and args.notes.is_file() else ""
    (args.out / "REPORT.md").write_text(markdown(numbers, notes))
    for name in args.configs:
        fig = args.run / name / "prune" / "fig9.png"
        if fig.is_file():
            shutil.copyfile(fig, args.out / f"{name}_fig9.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
