"""Where and in what precision a predictor runs, and when a stream's memory no longer applies.

Pure look-ups shared by the predictor, the node's parameters and the benchmark: the one dtype
table, ``auto`` device resolution and the frame-size reset rule.
"""

from __future__ import annotations

import torch

from surg_perception.errors import ConfigError

# The one dtype table: canonical names (node parameter, bench --dtypes) -> torch dtype.
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_DTYPES = {**DTYPES, "float32": torch.float32, "float16": torch.float16, "half": torch.float16,
           "bfloat16": torch.bfloat16}  # aliases resolve_dtype accepts too


def resolve_device(name: str, what: str = "model.device") -> torch.device:
    """``auto`` -> cuda when available else cpu; a CUDA device without CUDA is a ConfigError.

    ``what`` names the setting in the messages (a node parameter, a command-line flag).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"{what}={name!r} is not a torch device (cpu, cuda, cuda:N)") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{what}={name!r} but CUDA is not available here; use cpu or auto")
    return device


def size_reset_reason(previous: tuple[int, int] | None, size: tuple[int, int]) -> str:
    """Why a frame of ``size`` (H, W) must start from an empty memory after frames of
    ``previous`` (None: no frame yet), or ``""`` to keep it.

    A new frame size means a new camera/stream: old memories do not apply. The one rule
    for the predictor and the node's stream bookkeeping (``ros.worker.reset_reason``).
    """
    if previous is not None and tuple(previous) != tuple(size):
        return f"image size changed from {previous} to {size}"
    return ""


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"fp32" | "fp16" | "bf16"`` (or the torch dtype) -> torch dtype."""
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower() in _DTYPES:
        return _DTYPES[dtype.lower()]
    raise ConfigError(f"unsupported inference dtype {dtype!r}; use one of fp32, fp16, bf16")
