"""Markdown for BENCHMARKS.md: a reproduction header once, then one section per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HEADER = """# Benchmarks

Produced by `surg-perception bench`; every section below is one run, appended with
`--markdown`. Reproduce a section with the command it lists, e.g.

```
surg-perception bench --config config/models/tiny.yaml --frames 50 --markdown
surg-perception bench --config config/models/apmtl.yaml --size 256 320 --pruned --markdown
```

Definitions: stage times are per frame (ms). `step` = host_to_device .. device_to_host
(the Predictor's work); `latency` = decode .. serialised (host wall time per frame); on CUDA
device stages are CUDA-event spans. Frames are JPEGs of a synthetic scene decoded with
OpenCV. `jitter` = std of the intervals between frame completions. `dropped` = 0 offline
(every frame processed); `dropped @ fps` replays the measured latencies against a camera
at that rate and the node's keep-newest slot of one frame. Ratios come from one run:
`pruned_over_unpruned` and `memory_overhead` compare median step times;
`message_over_memcpy` compares building + `serialize_message` of a bgr8 Image with
`np.copyto` of its bytes (`_tuned_malloc`: with glibc's trim/mmap thresholds raised, see
`surg_perception/malloc_tuning.py`); `lazy_<set>_over_all` compares the node's frame path
(`FrameProcessor.process`: convert, model, colour mask, overlay, build, serialise) with
only that output subscribed against every output subscribed, on camera-sized frames
(`outputs` = the part after the model); `speedup_<backend>` = eager step / that backend's
step (same dtype; `_network`: the network stage only); `stereo_over_mono_network`
(`--stereo`) = network stage of a stereo pair, both eyes in one batched forward, / of a mono
frame (`stereo_two_steps_*`: one step per eye); `*_min` ratios use minimum step
times, steadier on a shared host. All runs of one section are interleaved frame by frame, so
background load hits them alike. Random (seeded) weights unless a checkpoint is named:
latency depends on shapes, except for the number of boxes reaching NMS.
"""

STAT_KEYS = ("min", "mean", "p50", "p95", "p99", "max")


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _machine(result: dict[str, Any]) -> str:
    m = result["machine"]
    gpu = f", GPU {m['gpu']} (CUDA {m['cuda']})" if m.get("gpu") else ", no GPU"
    return (f"{m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads){gpu}; "
            f"Python {m['python']}, torch {m['torch']}, NumPy {m['numpy']}; {m['platform']}")


def _stage_table(run: dict[str, Any]) -> list[str]:
    lines = ["| stage | " + " | ".join(STAT_KEYS) + " |", "|---" * (len(STAT_KEYS) + 1) + "|"]
    rows = {**run["stages"], "step": run["step"], "latency": run["latency"]}
    for name, values in rows.items():
        cells = " | ".join(_fmt(values[k]) for k in STAT_KEYS)
        lines.append(f"| {name} | {cells} |")
    return lines


def _summary_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = ["| run | backend | dtype | params (M) | step p50 ms | latency p50 / p99 ms | "
             "FPS | jitter ms | dropped @ fps | peak GPU MiB |", "|---" * 10 + "|"]
    for run in runs:
        drop = run["dropped_at_camera_fps"]
        lines.append(
            f"| {run['name']} | {run['backend']} | {run['dtype']} | {run['params'] / 1e6:.2f} | "
            f"{_fmt(run['step']['p50'])} | {_fmt(run['latency']['p50'])} / "
            f"{_fmt(run['latency']['p99'])} | {_fmt(run['throughput_fps'], 1)} | "
            f"{_fmt(run['jitter_ms'])} | {drop['dropped']}/{drop['frames']} @ {drop['fps']:g} | "
            f"{_fmt(run['peak_gpu_memory_mb'], 0)} |")
    return lines


def format_markdown(result: dict[str, Any]) -> str:
    """One BENCHMARKS.md section for a ``run_benchmark`` result."""
    cfg = result["config"]
    h, w = cfg["input_size"]
    lines = [f"## {cfg['model']} @ {h}x{w} on {result['machine']['device']} ({result['date']})",
             "", f"- command: `{result['command']}`", f"- machine: {_machine(result)}",
             f"- config: `{cfg['path']}`, checkpoint: "
             f"{cfg['checkpoint'] or 'none (seeded weights)'}, memory: {cfg['memory']}, "
             f"{cfg['frames']} frames after {cfg['warmup']} warm-up", ""]
    lines += ["### Ratios (same run)", "", "| ratio | value |", "|---|---|"]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in result["ratios"].items()]
    if result.get("memory_module"):
        mem = result["memory_module"]
        lines += ["", f"Memory module: {_fmt(mem['memory_ms'])} ms per frame (network "
                  f"{_fmt(mem['network_ms_with'])} ms with, {_fmt(mem['network_ms_without'])} ms "
                  "without)."]
    lines += ["", "### Runs", ""] + _summary_table(result["runs"])
    for run in result["runs"]:
        lines += ["", f"#### {run['name']}: {run['backend']} {run['dtype']}", ""]
        lines += _stage_table(run)
    lines += _messages(result["messages"])
    lines += _lazy(result.get("lazy_outputs"))
    skipped = [f"- {s['backend']} {s['dtype']}: {s['reason']}" for s in result["skipped"]]
    notes = [f"- {key}: {text}" for key, text in result["notes"].items()]
    if skipped or notes:
        lines += ["", "### Skipped and notes", ""] + skipped + notes
    return "\n".join(lines) + "\n"


def _messages(info: dict[str, Any]) -> list[str]:
    if "skipped" in info:
        return ["", f"Message stage: {info['skipped']}"]
    h, w = info["size"]
    lines = ["", f"### Image message vs memcpy ({w}x{h} bgr8)", "",
             "| allocator | memcpy ms | build + serialise ms | ratio |", "|---|---|---|---|"]
    for key in ("default_malloc", "tuned_malloc"):
        if key in info:
            m = info[key]
            lines.append(f"| {key} | {_fmt(m['memcpy_ms'])} | {_fmt(m['message_ms'])} | "
                         f"{_fmt(m['ratio'], 1)} |")
    return lines


def _lazy(info: dict[str, Any] | None) -> list[str]:
    if not info or "skipped" in info:
        return [] if not info else ["", f"Lazy outputs: {info['skipped']}"]
    h, w = info["size"]
    lines = ["", f"### Lazy outputs: subscribers ({w}x{h} camera frames, {info['frames']} "
             "per set, interleaved)", "",
             "| subscribed | frame p50 ms | frame p99 ms | outputs p50 ms | bytes/frame | "
             "saving p50 ms |", "|---" * 6 + "|"]
    for name, row in info["sets"].items():
        frame, outputs = row["frame_ms"], row["outputs_ms"]
        lines.append(f"| {name} ({', '.join(row['outputs'])}) | {_fmt(frame['p50'])} | "
                     f"{_fmt(frame['p99'])} | {_fmt(outputs['p50'])} | "
                     f"{row['bytes_per_frame']} | {_fmt(row.get('saving_ms'))} |")
    return lines


def append_markdown(path: str | Path, result: dict[str, Any]) -> None:
    """Append the run's section to ``path``, writing the header first if the file is new."""
    path = Path(path)
    text = "" if path.exists() and path.stat().st_size else HEADER
    with path.open("a") as out:
        out.write(text + "\n" + format_markdown(result))
