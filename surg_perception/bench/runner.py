"""Run the benchmark matrix (backends x dtypes) and the same-run comparisons behind the ratios.

Ratios compare median per-frame step times (upload .. download, the Predictor's work) of
runs made in this process on the first runnable (backend, dtype) of the matrix:
- ``pruned_over_unpruned`` = pruned step / unpruned step;
- ``memory_overhead`` = step with memory / step without - 1;
- ``message_over_memcpy`` = (build + serialise a bgr8 Image) / ``np.copyto`` of its bytes;
- ``lazy_mask_over_all`` = the node's frame path with only ``~/mask`` subscribed / with every
  output subscribed (lazy outputs; camera-sized frames, see ``lazy_outputs``).
- ``stereo_over_mono_network`` = network stage of a stereo pair, both eyes in one batched
  forward / of a mono frame (``--stereo``; ``stereo_two_steps_over_mono_network``: one step
  per eye, the path of a network that takes a batch of 1).
- ``speedup_<backend>[_<dtype>]`` = eager step / that backend's step at the same dtype
  (``_network``: the network stage only; ``_min``: minimum step times).
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
import tempfile
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from surg_perception.bench import ratios, stats, variants
from surg_perception.bench.backends import availability, make_step
from surg_perception.bench.pipeline import (
    DISPARITY_PX,
    StagedStream,
    StereoStream,
    StreamTimes,
    make_jpeg_frames,
    run_interleaved,
)
from surg_perception.bench.system import machine_info
from surg_perception.config import ModelSpec
from surg_perception.errors import ConfigError
from surg_perception.malloc_tuning import set_malloc_tuning
from surg_perception.model_info import param_count
from surg_perception.predictor import DTYPES, resolve_device


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    """What to measure; ``size`` None means the config's ``preprocess.input_size``."""

    config: str = "config/models/apmtl.yaml"
    checkpoint: str | None = None
    size: tuple[int, int] | None = None
    device: str = "auto"
    dtypes: tuple[str, ...] = ("fp32",)
    backends: tuple[str, ...] = ("eager",)
    frames: int = 50
    warmup: int = 5
    pruned: bool = False
    keep_ratio: float = variants.PAPER_KEEP_RATIO
    pruned_checkpoint: str | None = None
    memory: bool = True
    messages: bool = True
    camera_fps: float = 30.0
    message_size: tuple[int, int] = (1024, 1280)
    malloc_tuning: bool = False
    threads: int | None = None  # torch intra-op threads (None: torch's default)
    cache_dir: str | None = None  # exported backends' cache (None: a temporary one per run)
    stereo: bool = False  # also a stereo pair per frame, batched and one step per eye


def _with_size(spec: ModelSpec, size: tuple[int, int] | None) -> ModelSpec:
    if size is None:
        return spec
    if size[0] % 32 or size[1] % 32 or min(size) < 32:
        raise ConfigError(f"--size {size[0]} {size[1]}: both must be positive multiples of 32")
    preprocess = dataclasses.replace(spec.preprocess, input_size=tuple(size))
    return dataclasses.replace(spec, preprocess=preprocess)


@dataclasses.dataclass
class Run:
    """One prepared stream to measure and what it is."""

    name: str
    backend: str
    dtype: str
    params: int
    stream: StagedStream
    peak_gpu_memory_mb: float | None


def prepare(name: str, model: nn.Module, spec: ModelSpec, backend: str, dtype: str,
            device: torch.device, frames: list[bytes], options: BenchOptions,
            messages: Any, eyes: str = "mono") -> Run:
    """Move the model, build the backend's step and warm it up.

    ``eyes``: ``mono`` (one frame per step), ``stereo`` (a pair in one batched forward) or
    ``stereo_two_steps`` (a pair, one step per eye): :class:`StereoStream`.

    Peak GPU memory is this run's own: the peak during its warm-up minus what other runs
    already held (the measured frames allocate nothing new in steady state).
    """
    cuda = device.type == "cuda"
    baseline = torch.cuda.memory_allocated(device) if cuda else 0
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    model = model.to(device).eval()
    torch_dtype = DTYPES[dtype]
    example = torch.zeros(1, 3, *spec.preprocess.input_size, device=device)
    with torch.inference_mode():
        step = make_step(backend, model, example, torch_dtype, spec=spec,
                         cache_dir=options.cache_dir)
    if eyes == "mono":
        stream = StagedStream(step, model, spec, device, torch_dtype, messages)
    else:
        stream = StereoStream(step, model, spec, device, torch_dtype, eyes == "stereo")
    stream.warm(frames, options.warmup)
    peak = (torch.cuda.max_memory_allocated(device) - baseline) / 2**20 if cuda else None
    return Run(name, backend, dtype, param_count(model), stream, peak)


def summarize(run: Run, times: StreamTimes, options: BenchOptions) -> dict[str, Any]:
    """Statistics of one measured stream (frames processed back to back)."""
    period = 1e3 / options.camera_fps if options.camera_fps > 0 else 0.0
    completions = np.cumsum(times.total_ms)  # back to back: each frame starts at the last end
    return {
        "name": run.name, "backend": run.backend, "dtype": run.dtype, "params": run.params,
        "stages": {stage: stats.latency_stats(v) for stage, v in times.stages.items()},
        "step": stats.latency_stats(times.step_ms),
        "latency": stats.latency_stats(times.total_ms),
        "throughput_fps": 1e3 * len(times.total_ms) / float(completions[-1]),
        "jitter_ms": stats.jitter_ms(completions),
        "dropped_frames": 0,
        "dropped_at_camera_fps": {"fps": options.camera_fps, "frames": len(times.total_ms),
                                  "dropped": stats.dropped_frames(times.total_ms, period)},
        "serialized_bytes_per_frame": times.serialized_bytes,
        "peak_gpu_memory_mb": run.peak_gpu_memory_mb,
    }


def _message_ratios(options: BenchOptions, ros: Any) -> tuple[dict[str, Any], Any]:
    if not options.messages:
        return {"skipped": "disabled by --no-messages"}, None
    if isinstance(ros, str):  # the ROS side is optional: training servers benchmark without it
        return {"skipped": f"ROS message stage skipped: {ros}"}, None
    stage = ros.MessageStage()
    height, width = options.message_size
    result: dict[str, Any] = {"size": [height, width], "encoding": "bgr8"}
    result["default_malloc"] = ros.message_vs_memcpy(stage, height, width)  # glibc as started
    if set_malloc_tuning(True):
        result["tuned_malloc"] = ros.message_vs_memcpy(stage, height, width)
        if not options.malloc_tuning:
            set_malloc_tuning(False)
    result["malloc_tuning_in_runs"] = options.malloc_tuning
    return result, stage


def run_benchmark(options: BenchOptions, argv: list[str] | None = None,
                  ros: Any = "not given") -> dict[str, Any]:
    """Everything measured in this run, JSON-ready (see BENCHMARKS.md for the fields).

    ``ros``: the ROS message stage (the module ``surg_perception.ros.message_bench``: its
    ``MessageStage``, ``message_vs_memcpy``, ``lazy_outputs``), handed in by the command
    layer (``surg_perception.bench_cli``) so that bench/ never imports ros/; a string says
    why there is none, and those sections are reported skipped with it.
    """
    if options.cache_dir is None:
        with tempfile.TemporaryDirectory(prefix="bench-backends-") as cache_dir:
            return run_benchmark(dataclasses.replace(options, cache_dir=cache_dir), argv, ros)
    device = resolve_device(options.device, "--device")
    if options.threads:
        torch.set_num_threads(options.threads)
    model, spec = variants.load_base(options.config, options.checkpoint)
    if not options.memory:
        model, spec = variants.with_memory(model, spec, False)
    spec = _with_size(spec, options.size)
    frames = make_jpeg_frames(*spec.preprocess.input_size, options.frames)
    message_info, messages = _message_ratios(options, ros)
    runs, skipped = _prepare_matrix(model, spec, device, frames, options, messages)
    args = (runs[0].backend, runs[0].dtype, device, frames, options, messages)
    extra, notes = _comparisons(model, spec, options, args)
    runs += list(extra.values())
    results = [summarize(run, times, options)
               for run, times in zip(runs, run_interleaved([r.stream for r in runs], frames))]
    ref = results[0]
    comparisons = {key: results[len(results) - len(extra) + i] for i, key in enumerate(extra)}
    lazy = _lazy_outputs(runs[0], options, messages, ros)
    speedups = ratios.backend_speedups(results[:len(results) - len(extra)])
    return {
        "schema": "surg_perception.bench/1",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(argv if argv is not None else sys.argv),
        "machine": machine_info(device),
        "config": {"path": str(options.config), "checkpoint": options.checkpoint,
                   "model": spec.model.name, "input_size": list(spec.preprocess.input_size),
                   "frames": options.frames, "warmup": options.warmup,
                   "memory": spec.model.memory.enabled, "camera_fps": options.camera_fps,
                   "interleaved": True},
        "runs": results,
        "skipped": skipped,
        "messages": message_info,
        "lazy_outputs": lazy,
        "memory_module": ratios.memory_module(ref, comparisons.get("no_memory")),
        "ratios": {**ratios.same_run_ratios(ref, comparisons, message_info),
                   **ratios.lazy_ratios(lazy), **speedups},
        "notes": notes,
    }


LAZY_FRAMES = 20  # camera-sized frames per subscriber set (each runs the whole node path)


def _lazy_outputs(run: Run, options: BenchOptions, messages: Any, ros: Any) -> dict[str, Any]:
    """All outputs subscribed vs masks only: the node's path on camera-sized frames."""
    if messages is None:
        return {"skipped": "no ROS message stage (see messages)"}

    predictor = run.stream.predictor
    height, width = options.message_size
    frames = [cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
              for jpeg in make_jpeg_frames(height, width, min(options.frames, LAZY_FRAMES))]
    tuned = set_malloc_tuning(True)  # as the node runs (ros/node.py main)
    try:
        with torch.inference_mode():
            result = ros.lazy_outputs(predictor.model, predictor.spec, predictor.device,
                                  predictor.dtype, frames)
    finally:
        if tuned and not options.malloc_tuning:
            set_malloc_tuning(False)
    return {**result, "malloc_tuning": tuned}


def _prepare_matrix(model: nn.Module, spec: ModelSpec, device: torch.device,
                    frames: list[bytes], options: BenchOptions,
                    messages: Any) -> tuple[list[Run], list[dict[str, str]]]:
    """A prepared run per runnable (backend, dtype); the others listed with the reason."""
    runs, skipped = [], []
    for backend in options.backends:
        for dtype in options.dtypes:
            why = availability(backend, dtype, device)
            if why:
                skipped.append({"backend": backend, "dtype": dtype, "reason": why.reason})
                continue
            try:
                runs.append(prepare("model", model, spec, backend, dtype, device, frames,
                                    options, messages))
            except Exception as exc:  # noqa: BLE001 - compilers/capture raise assorted types
                if backend == "eager":
                    raise
                reason = f"{backend} failed to build: {type(exc).__name__}: {exc}"
                skipped.append({"backend": backend, "dtype": dtype, "reason": reason[:300]})
    if not runs:
        raise ConfigError(f"no backend/dtype of {options.backends} x {options.dtypes} runs on "
                          f"{device}; skipped: {[s['reason'] for s in skipped]}")
    return runs, skipped


def _comparisons(model: nn.Module, spec: ModelSpec, options: BenchOptions,
                 args: tuple) -> tuple[dict[str, Run], dict[str, str]]:
    """The memory-off and pruned runs on the reference backend/dtype, plus notes on each."""
    runs, notes = {}, {}
    if spec.model.memory.enabled:
        plain, plain_spec = variants.with_memory(model, spec, False)
        runs["no_memory"] = prepare("model without memory", plain, plain_spec, *args)
    else:
        notes["memory_overhead"] = "the model has no memory (config or --no-memory)"
    if options.pruned:
        pruned, pruned_spec, how = variants.pruned_variant(model, spec, options.keep_ratio,
                                                           options.pruned_checkpoint)
        pruned_spec = _with_size(pruned_spec, options.size)
        runs["pruned"] = prepare("pruned model", pruned, pruned_spec, *args)
        notes["pruned"] = how
    else:
        notes["pruned_over_unpruned"] = "not measured: pass --pruned"
    if options.stereo:
        runs["stereo"] = prepare("stereo pair (batched)", model, spec, *args, eyes="stereo")
        runs["stereo_two_steps"] = prepare("stereo pair (one step per eye)", model, spec,
                                           *args, eyes="stereo_two_steps")
        why = runs["stereo"].stream.predictor.batch_reason()
        notes["stereo"] = (f"the right eye is the left frame shifted by {DISPARITY_PX} px; "
                           + (f"NOT batched: {why}" if why else "both eyes in one forward"))
    return runs, notes


__all__ = ["BenchOptions", "prepare", "run_benchmark", "summarize"]
