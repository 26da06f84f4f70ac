"""The checks of ``scripts/gpu_check.py``: what each needs, its budget and what it runs.

A check's ``run(work, out)`` returns ``(status, reason, details)``; it runs in its own process on
a machine that has what ``needs`` names (``skip_reason`` says what is missing otherwise).
Nothing here imports torch or the package at module level: a machine without them still
gets the listing and the skip reasons. The check bodies live in ``gpu_check_bodies`` and
``gpu_check_node``.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import functools
import importlib
import importlib.util
from pathlib import Path
import platform
import subprocess
from typing import Any

Outcome = tuple[str, str, dict[str, Any]]
# What every check imports (the package's third-party needs: numpy, opencv, scipy,
# scikit-image, torchvision, PyYAML come with these; yaml is imported lazily by load_spec).
PACKAGE_MODULES = ("surg_perception.predictor", "surg_perception.bench.runner",
                   "surg_perception.bench.variants", "surg_perception.checkpoint", "yaml")


@functools.lru_cache(maxsize=None)
def _missing(need: str) -> str:
    """Why ``need`` is not met here ("" when it is)."""
    if need == "torch":
        return "" if importlib.util.find_spec("torch") else "torch is not importable"
    if need == "package":
        try:
            for module in PACKAGE_MODULES:
                importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure is the reason
            return f"{module} is not importable ({type(exc).__name__}: {exc})"
        return ""
    if need == "cuda":
        if _missing("torch"):
            return "no CUDA: torch is not importable"
        import torch

        if not torch.cuda.is_available():
            return (f"no CUDA device (torch {torch.__version__}, built for CUDA "
                    f"{torch.version.cuda}; torch.cuda.is_available() is False)")
        return ""
    if need == "onnxruntime-cuda":
        if importlib.util.find_spec("onnxruntime") is None:
            return "onnxruntime is not installed"
        import onnxruntime

        providers = onnxruntime.get_available_providers()
        if "CUDAExecutionProvider" not in providers:
            return (f"onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider "
                    f"(available: {', '.join(providers)}; onnxruntime-gpu has it)")
        return ""
    if need in ("onnx", "tensorrt", "rclpy"):
        found = importlib.util.find_spec(need) is not None
        return "" if found else f"{need} is not installed"
    raise ValueError(f"unknown requirement {need!r}")


@dataclasses.dataclass(frozen=True)
class Check:
    """One check: ``name`` (report key), ``title`` (what it shows), its time budget, what
    it needs here (torch, package, cuda, onnx, onnxruntime-cuda, tensorrt, rclpy) and its body
    (``module.function`` of scripts/, imported when it runs)."""

    name: str
    title: str
    budget_s: float
    needs: tuple[str, ...]
    body: str

    def skip_reason(self) -> str:
        """Every unmet need, ``; ``-joined ("" when the check can run here)."""
        return "; ".join(why for why in (_missing(n) for n in self.needs) if why)

    def run(self, work: Path, out: Path) -> Outcome:
        """``work``: scratch (checkpoints, caches); ``out``: the report folder."""
        module, name = self.body.rsplit(".", 1)
        fn: Callable[[Path, Path], Outcome] = getattr(importlib.import_module(module), name)
        return fn(work, out)


BASE = ("torch", "package", "cuda")
# Budgets sum to TOTAL_BUDGET_S (475 s): the "under 8 minutes on one GPU".
CHECKS = (
    Check("parity", "Predictor CPU vs CUDA eager, fp32/fp16/bf16 (tiny, seeded, checkpoint)",
          30, BASE, "gpu_check_bodies.parity"),
    Check("compile_cudagraph", "torch.compile (fp32) and CUDA-graph (fp32, fp16) steps in the "
          "Predictor vs eager CUDA (tiny)", 70, BASE, "gpu_check_bodies.compile_cudagraph"),
    Check("onnxruntime_cuda", "onnxruntime CUDA/TensorRT EP backend: parity vs eager CUDA, "
          "second load reuses the cache (tiny)", 60, (*BASE, "onnx", "onnxruntime-cuda"),
          "gpu_check_bodies.onnxruntime_cuda"),
    Check("tensorrt", "TensorRT engine backend: parity vs eager CUDA, second load reuses the "
          "engine (tiny)", 75, (*BASE, "onnx", "tensorrt"), "gpu_check_bodies.tensorrt"),
    Check("bench_apmtl", "bench apmtl.yaml 1024x1280, unpruned + pruned, eager/cudagraph x "
          "fp32/fp16: FPS, p50/p99, peak GPU memory", 90, BASE, "gpu_check_bodies.bench_apmtl"),
    Check("bench_light", "bench light.yaml 512x640, eager/cudagraph x fp32/fp16: FPS, "
          "p50/p99, peak GPU memory", 35, BASE, "gpu_check_bodies.bench_light"),
    Check("bench_light_compile", "bench light.yaml 512x640, eager vs torch.compile fp16 (its "
          "own check: compiling may take most of its budget)", 60, BASE,
          "gpu_check_bodies.bench_light_compile"),
    Check("frame_path", "the node's frame path (FrameProcessor) on CUDA, 1024x1280 bgr8 "
          "camera frames, light fp16", 30, (*BASE, "rclpy"),
          "gpu_check_node.frame_path"),
    Check("cleanup", "GPU memory back near the baseline after load, run, release, "
          "empty_cache (light fp16, twice)", 25, BASE, "gpu_check_node.cleanup"),
)
CHECKS_BY_NAME = {check.name: check for check in CHECKS}


def select(only: str | None) -> tuple[Check, ...]:
    """The checks named in the comma list ``only`` (all when None), in the run order."""
    if not only:
        return CHECKS
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in CHECKS_BY_NAME]
    if unknown:
        raise SystemExit(f"unknown checks {unknown}; valid: {', '.join(CHECKS_BY_NAME)}")
    return tuple(check for check in CHECKS if check.name in names)


def machine_summary() -> str:
    """Python, torch/CUDA/GPU, onnxruntime, TensorRT, rclpy: what this run had."""
    parts = [f"Python {platform.python_version()} on {platform.machine()}"]
    if _missing("torch"):
        return ", ".join([*parts, "no torch"])
    import torch

    parts.append(f"torch {torch.__version__} (CUDA {torch.version.cuda})")
    parts.append(_gpu_name() if torch.cuda.is_available() else "no CUDA device")
    parts += [_module_version(module) for module in ("onnxruntime", "tensorrt", "rclpy")]
    return ", ".join(parts)


def _gpu_name() -> str:
    """From nvidia-smi: asking torch would create a CUDA context in the runner process,
    holding device memory while the checks measure theirs."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=20, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"a CUDA device (nvidia-smi: {type(exc).__name__})"
    return f"GPU {out.replace(chr(10), ' / ')}"


def _module_version(module: str) -> str:
    if importlib.util.find_spec(module) is None:
        return f"no {module}"
    try:
        return f"{module} {getattr(importlib.import_module(module), '__version__', 'present')}"
    except Exception as exc:  # noqa: BLE001 - e.g. rclpy without its ROS libraries
        return f"{module} not importable ({type(exc).__name__})"
