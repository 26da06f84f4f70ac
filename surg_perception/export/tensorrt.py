"""TensorRT FP16 engines built from the exported ONNX step, cached on disk.

An engine is only valid for the TensorRT version, the GPU architecture and the input shape it
was built for, and for one model. The cache key hashes exactly these, so a cached engine is
reused (never rebuilt unless asked) and anything that would invalidate it changes the key.
The key logic is pure; only :func:`build_engine` touches TensorRT.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
import tempfile

from surg_perception.errors import SurgPerceptionError


class TensorRTUnavailableError(SurgPerceptionError, RuntimeError):
    """TensorRT or a CUDA GPU is missing on this machine."""


def model_hash(onnx_bytes: bytes) -> str:
    """SHA-256 of the ONNX file's bytes."""
    return hashlib.sha256(onnx_bytes).hexdigest()


def cache_key(model_sha256: str, tensorrt_version: str, compute_capability: tuple[int, int],
              input_shape: tuple[int, ...], precision: str = "fp16") -> str:
    """Engine cache key: 24 hex characters of a hash over every field."""
    fields = {"model": model_sha256, "tensorrt": tensorrt_version,
              "sm": list(compute_capability), "shape": list(input_shape), "precision": precision}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def engine_path(cache_dir: str | Path, key: str) -> Path:
    return Path(cache_dir) / f"step_{key}.engine"


def require_tensorrt():
    """The ``tensorrt`` module, or :class:`TensorRTUnavailableError` saying what is missing."""
    try:
        import tensorrt
    except ImportError as exc:
        raise TensorRTUnavailableError(
            "TensorRT is not installed (import tensorrt failed); install the TensorRT Python "
            "wheel matching your CUDA on the GPU machine, or use the ONNX model with "
            "onnxruntime") from exc
    import torch

    if not torch.cuda.is_available():
        raise TensorRTUnavailableError("no CUDA GPU is available; TensorRT engines are built "
                                       "on (and for) the GPU that will run them")
    return tensorrt


def onnx_input_shape(onnx_path: str | Path, name: str = "image") -> tuple[int, ...]:
    """Static shape of graph input ``name``."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    for tensor in graph.input:
        if tensor.name == name:
            return tuple(d.dim_value for d in tensor.type.tensor_type.shape.dim)
    raise SurgPerceptionError(f"{onnx_path}: no graph input named {name!r}; export it with "
                              "surg-perception export")


def build_engine(onnx_path: str | Path, cache_dir: str | Path, rebuild: bool = False,
                 workspace_gib: float = 2.0, log=print) -> Path:
    """FP16 engine for ``onnx_path``, from the cache unless missing or ``rebuild``."""
    trt = require_tensorrt()
    import torch

    data = Path(onnx_path).read_bytes()
    key = cache_key(model_hash(data), trt.__version__, torch.cuda.get_device_capability(),
                    onnx_input_shape(onnx_path))
    path = engine_path(cache_dir, key)
    if path.is_file() and not rebuild:
        log(f"using cached engine {path}")
        return path
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch (the only mode in TensorRT >= 10)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(data):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise SurgPerceptionError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * 2**30))
    config.set_flag(trt.BuilderFlag.FP16)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise SurgPerceptionError(f"TensorRT failed to build an engine from {onnx_path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as file:
        file.write(bytes(engine))
    os.replace(tmp, path)
    log(f"built engine {path}")
    return path
