"""Which backend runs the network, and how (a frozen config; no torch here)."""

from __future__ import annotations

import dataclasses

from surg_perception.errors import ConfigError

BACKENDS = ("eager", "onnxruntime", "tensorrt")
# ONNX Runtime execution providers in order of preference (the first available is used).
CPU_PROVIDER = "CPUExecutionProvider"
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


@dataclasses.dataclass(frozen=True)
class BackendConfig:
    """How the Predictor's network step runs.

    Attributes:
        name: ``eager`` | ``onnxruntime`` | ``tensorrt``.
        providers: onnxruntime execution providers, most preferred first; empty = by device
            (CPU: CPU EP; CUDA: TensorRT and CUDA EPs where installed, then CPU).
        threads: onnxruntime intra-op threads (0 = torch's current thread count, so one
            ``threads.torch`` setting sizes both).
        cache_dir: where exported ONNX files / engines are cached (None: next to the
            checkpoint, ``<checkpoint>.onnx-cache/``).
        rebuild: export again even when a valid cached artefact exists (also the remedy for
            a cached file that does not match its record).
        opset: ONNX opset of the export (None: ``export.onnx.OPSET``).
    """

    name: str = "eager"
    providers: tuple[str, ...] = ()
    threads: int = 0
    cache_dir: str | None = None
    rebuild: bool = False
    opset: int | None = None

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise ConfigError(f"unknown inference backend {self.name!r}; use one of "
                              f"{', '.join(BACKENDS)}")
        if self.threads < 0:
            raise ConfigError(f"backend threads must be >= 0, got {self.threads}")


def backend_config(backend: str | BackendConfig | None) -> BackendConfig:
    """A name (``"onnxruntime"``), a config or None (eager) -> :class:`BackendConfig`."""
    if isinstance(backend, BackendConfig):
        return backend
    return BackendConfig(name=backend or "eager")
