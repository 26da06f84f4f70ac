"""How the network step runs: eager, torch.compile, one captured CUDA graph, onnxruntime,
TensorRT.

Every backend yields a ``step(images, state) -> (ModelOutput, state)`` with the model
contract's signature, or a :class:`Skipped` reason where it cannot run here. Reduced
precision runs through autocast (as :class:`~surg_perception.predictor.Predictor` does), on
CUDA only. ``onnxruntime`` and ``tensorrt`` are the node's own backends
(:mod:`surg_perception.backends`, ``model.backend``): the exported network with the memory
state fed in and out; the export is cached (next to ``--checkpoint``, else in a temporary
folder for the run) and not timed.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
import dataclasses
import importlib.util
from typing import Any

import torch
from torch import Tensor, nn

from surg_perception.backends import BackendConfig
from surg_perception.backends.factory import make_network
from surg_perception.config import ModelSpec
from surg_perception.models.memory import MemoryState

BACKENDS = ("eager", "compile", "cudagraph", "onnxruntime", "tensorrt")
Step = Callable[[Tensor, Any], tuple[Any, Any]]


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A backend/dtype combination that does not run here, and why."""

    reason: str


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """fp16/bf16 autocast on CUDA (no cast cache: graph capture forbids it), else nothing."""
    if device.type == "cuda" and dtype != torch.float32:
        return torch.autocast("cuda", dtype=dtype, cache_enabled=False)
    return contextlib.nullcontext()


def availability(backend: str, dtype: str, device: torch.device) -> Skipped | None:
    """Why ``backend`` at ``dtype`` cannot run on ``device`` (None when it can)."""
    cuda = device.type == "cuda"
    if dtype != "fp32" and not cuda:
        return Skipped(f"{dtype} runs through CUDA autocast (Predictor contract); "
                       f"{device} runs fp32 only")
    if backend == "cudagraph" and not cuda:
        return Skipped("CUDA graphs need a CUDA device")
    if backend in ("onnxruntime", "tensorrt") and dtype != "fp32":
        return Skipped(f"{backend} runs the exported fp32 network (TensorRT builds its own "
                       "fp16 engine from it)")
    if backend == "onnxruntime" and importlib.util.find_spec("onnxruntime") is None:
        return Skipped("onnxruntime is not installed (the `export` extra)")
    if backend == "tensorrt":
        if not cuda:
            return Skipped("TensorRT needs a CUDA device")
        if importlib.util.find_spec("tensorrt") is None:
            return Skipped("tensorrt (the TensorRT Python wheel) is not installed")
    return None


def make_step(backend: str, model: nn.Module, example: Tensor, dtype: torch.dtype,
              spec: ModelSpec | None = None, checkpoint: str | None = None,
              cache_dir: str | None = None) -> Step:
    """The step for ``backend``; ``example`` ``[1, 3, H, W]`` fixes the static shape.

    ``spec``, ``checkpoint`` and ``cache_dir`` serve the exported backends (onnxruntime,
    tensorrt): ``make_network``'s cache key and folder.
    """
    if backend == "eager":
        return model
    if backend == "compile":
        return torch.compile(model, dynamic=False)
    if backend == "cudagraph":
        return CudaGraphStep(model, example, dtype)
    if backend in ("onnxruntime", "tensorrt"):
        if spec is None:
            raise ValueError(f"backend {backend} needs the model's spec")
        config = BackendConfig(backend, cache_dir=None if checkpoint else cache_dir)
        return make_network(config, model, spec, example.device, dtype, checkpoint=checkpoint)
    raise ValueError(f"unknown backend {backend!r}; valid: {BACKENDS}")


class CudaGraphStep:
    """``model(images, state)`` captured once as a CUDA graph for one input shape.

    Inputs are copied into static buffers and the graph replayed: one launch per frame, no
    host synchronisation. The memory state lives in static tensors on the device; the
    state handed back is the graph's output state, copied into the inputs on the next call
    (``state=None`` zeroes them: a fresh stream).
    """

    def __init__(self, model: nn.Module, example: Tensor, dtype: torch.dtype, warmup: int = 3):
        self.device = example.device
        self.dtype = dtype
        self.images = example.clone()
        state = None
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), autocast(self.device, dtype):
            for _ in range(warmup):  # lazy init and cuDNN autotuning happen outside capture
                _, state = model(self.images, state)
        torch.cuda.current_stream().wait_stream(side)
        self.state_in = None if state is None else [t.clone() for t in state.to_tuple()]
        graph_state = (None if state is None
                       else MemoryState.from_tuple(state.names(), self.state_in))
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), autocast(self.device, dtype):
            self.output, out_state = model(self.images, graph_state)
        self.state_out = None if out_state is None else out_state

    def __call__(self, images: Tensor, state: Any) -> tuple[Any, Any]:
        self.images.copy_(images, non_blocking=True)
        if self.state_in is not None:
            if state is None:
                for tensor in self.state_in:
                    tensor.zero_()
            else:
                for dst, src in zip(self.state_in, state.to_tuple()):
                    dst.copy_(src, non_blocking=True)
        self.graph.replay()
        return self.output, self.state_out
