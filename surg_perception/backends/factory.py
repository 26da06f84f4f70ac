"""Build the Predictor's network step for a :class:`BackendConfig`.

``eager`` needs nothing (the Predictor calls the model). ``onnxruntime`` and ``tensorrt``
export the raw network on first use into the cache (:mod:`surg_perception.backends.cache`,
``<checkpoint>.onnx-cache/`` by default) and load it from there afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
import importlib.util
from pathlib import Path
from typing import Any

import torch
from torch import nn

from surg_perception.backends import cache
from surg_perception.backends.config import (
    CPU_PROVIDER,
    GPU_PROVIDERS,
    BackendConfig,
    backend_config,
)
from surg_perception.backends.runtime import (
    BackendUnavailableError,
    OnnxRuntimeNetwork,
    TensorRTNetwork,
)
from surg_perception.config import ModelSpec
from surg_perception.errors import ConfigError

Step = Callable[[torch.Tensor, Any], tuple[Any, Any]]


def make_network(backend: str | BackendConfig | None, model: nn.Module, spec: ModelSpec,
                 device: torch.device | str, dtype: str | torch.dtype = "fp32",
                 checkpoint: str | Path | None = None, log=None) -> Step | None:
    """The network step for ``backend`` (None for eager: the Predictor's own default).

    Args:
        checkpoint: the file ``model``'s weights were loaded from: its content hash keys the
            cache, which lives next to it unless ``cache_dir`` is set. Without one the
            weights are hashed and ``cache_dir`` is required.
        log: called with one line saying whether the artefact was exported or reused.

    Raises:
        ConfigError: a reduced dtype, no cache folder, an unknown/missing provider.
        BackendUnavailableError: onnxruntime or TensorRT is not installed (or no GPU).
        BackendCacheError: a cached artefact does not match its record.
    """
    config = backend_config(backend)
    if config.name == "eager":
        return None
    device = torch.device(device)
    if dtype not in ("fp32", torch.float32):
        raise ConfigError(f"backend {config.name} runs the exported fp32 network (TensorRT "
                          f"builds its own fp16 engine); got dtype {dtype}", "use fp32")
    if config.cache_dir is None and checkpoint is None:
        raise ConfigError(f"backend {config.name} needs a cache folder for the exported "
                          "network", "load from a checkpoint or set BackendConfig.cache_dir")
    cache_dir = Path(config.cache_dir or cache.checkpoint_cache_dir(checkpoint))
    source = cache.file_sha256(checkpoint) if checkpoint else cache.weights_sha256(model)
    if config.name == "onnxruntime":
        providers = resolve_providers(config, device, cache_dir)
        onnx = exported_network(model, spec, cache_dir, source, config, [p for p, _ in providers])
        _say(log, onnx)
        return OnnxRuntimeNetwork(onnx.path, device, providers, config.threads)
    return _tensorrt(model, spec, device, cache_dir, source, config, log)


def exported_network(model: nn.Module, spec: ModelSpec, cache_dir: Path, source: str,
                     config: BackendConfig, providers: list[str]) -> cache.CachedModel:
    """The raw network ONNX from the cache, exported into it when absent."""
    from surg_perception.export.onnx import OPSET, export_network_onnx

    opset = config.opset or OPSET
    fields = cache.cache_fields(source, spec, opset, tuple(providers))
    # Exporting moves the model to the CPU; put it back where the Predictor keeps it.
    param = next(model.parameters())
    device, dtype = param.device, param.dtype

    def build(path: Path) -> None:
        export_network_onnx(model, spec, path, opset)
        model.to(device, dtype)

    return cache.cached_artefact(cache_dir, fields, ".onnx", build, config.rebuild)


def resolve_providers(config: BackendConfig, device: torch.device,
                      cache_dir: Path | None = None) -> list[tuple[str, dict]]:
    """``(provider, options)`` pairs for the session, most preferred first (the TensorRT
    provider keeps its engines in ``cache_dir`` too, so a relaunch builds none)."""
    if importlib.util.find_spec("onnxruntime") is None:
        raise BackendUnavailableError("onnxruntime is not installed",
                                      "pip install 'surg_perception[export]' (onnxruntime)")
    import onnxruntime as ort

    available = ort.get_available_providers()
    cuda = device.type == "cuda"
    if config.providers:
        missing = [p for p in config.providers if p not in available]
        if missing:
            raise ConfigError(f"onnxruntime execution providers {missing} are not available "
                              f"here (available: {available})", "choose among the available")
        wanted = list(config.providers)
    else:
        wanted = [p for p in GPU_PROVIDERS if p in available] if cuda else []
        if cuda and not wanted:
            raise BackendUnavailableError(
                f"model.device is {device} but onnxruntime has no CUDA execution provider "
                f"here (available: {available})", "install onnxruntime-gpu, or run on cpu")
        wanted.append(CPU_PROVIDER)
    options = {p: {} for p in wanted}
    if cuda:
        options.update({p: {"device_id": device.index or 0} for p in GPU_PROVIDERS})
    if cache_dir is not None and "TensorrtExecutionProvider" in options:
        options["TensorrtExecutionProvider"].update(
            trt_engine_cache_enable=True, trt_engine_cache_path=str(cache_dir))
    return [(p, options[p]) for p in wanted]


def _tensorrt(model: nn.Module, spec: ModelSpec, device: torch.device, cache_dir: Path,
              source: str, config: BackendConfig, log) -> TensorRTNetwork:
    from surg_perception.export.tensorrt import build_engine, require_tensorrt

    require_tensorrt()  # typed error naming what is missing, before any export
    if device.type != "cuda":
        raise ConfigError(f"backend tensorrt runs on CUDA, not {device}",
                          "set model.device to cuda (or auto)")
    onnx = exported_network(model, spec, cache_dir, source, config, ["tensorrt"])
    _say(log, onnx)
    engine = build_engine(onnx.path, cache_dir, rebuild=config.rebuild,
                          log=log or (lambda _line: None))
    return TensorRTNetwork(engine, device)


def _say(log, onnx: cache.CachedModel) -> None:
    if log is not None:
        log(f"{'exported' if onnx.exported else 'reusing cached'} network {onnx.path}")
