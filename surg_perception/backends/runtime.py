"""The exported network run by onnxruntime or TensorRT, as the Predictor's network step.

Both run the raw network graph (:class:`~surg_perception.export.onnx.NetworkStep`): inputs
``image`` and the memory state fields, outputs the :class:`ModelOutput` fields and the new
state. ``state=None`` (a fresh stream) feeds the all-zero state, which is what
``MemoryState.reset`` gives: an empty memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from surg_perception.errors import SurgPerceptionError
from surg_perception.models.memory import MemoryState
from surg_perception.models.outputs import ModelOutput

_ORT_TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_,
              "tensor(int32)": np.int32}
_STATE = MemoryState.names()
_OUTPUTS = ("seg_logits", "det_logits", "det_deltas", "activity_logits", "part_logits")


class BackendUnavailableError(SurgPerceptionError, RuntimeError):
    """The requested runtime (onnxruntime, an execution provider, TensorRT) is missing here."""


def _assemble(named: dict[str, Tensor]) -> tuple[ModelOutput, MemoryState | None]:
    """Graph outputs by name -> ``(ModelOutput, MemoryState | None)``."""
    output = ModelOutput(**{name: named.get(name) for name in _OUTPUTS})
    if f"{_STATE[0]}_out" not in named:
        return output, None
    return output, MemoryState.from_tuple(_STATE, [named[f"{n}_out"] for n in _STATE])


class OnnxRuntimeNetwork:
    """``(images, state) -> (ModelOutput, state)`` through an onnxruntime session.

    On CPU the tensors cross as zero-copy NumPy views; on CUDA (CUDA/TensorRT execution
    providers) inputs go through host memory and outputs are moved back to ``device``.
    """

    backend = "onnxruntime"

    def __init__(self, path: str | Path, device: torch.device, providers: list,
                 threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1  # one frame at a time: no parallel branches to run
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.device = device
        self.providers = tuple(self.session.get_providers())
        self.output_names = [o.name for o in self.session.get_outputs()]
        inputs = self.session.get_inputs()
        self.image_shape = tuple(next(i.shape for i in inputs if i.name == "image"))
        # The empty memory: zeros of every state input's static shape and type.
        self.zero_state = {i.name: np.zeros(i.shape, _ORT_TYPES[i.type])
                           for i in inputs if i.name != "image"}

    def __call__(self, images: Tensor, state: Any) -> tuple[ModelOutput, MemoryState | None]:
        if tuple(images.shape) != self.image_shape:
            raise SurgPerceptionError(
                f"the exported network takes images {self.image_shape}, got "
                f"{tuple(images.shape)}", "export for this input size (a new spec size "
                "selects another cached file)")
        feed = {"image": _host(images)}
        if state is None:
            feed.update(self.zero_state)
        elif self.zero_state:
            feed.update(zip(_STATE, (_host(t) for t in state.to_tuple())))
        results = self.session.run(self.output_names, feed)
        named = {name: torch.from_numpy(value).to(self.device)
                 for name, value in zip(self.output_names, results)}
        return _assemble(named)


def _host(tensor: Tensor) -> np.ndarray:
    return tensor.detach().contiguous().cpu().numpy()


class TensorRTNetwork:
    """``(images, state) -> (ModelOutput, state)`` through a TensorRT engine on CUDA.

    Fresh output tensors each call: the state returned by one frame is the input of the next,
    so outputs must never alias inputs.
    """

    backend = "tensorrt"

    def __init__(self, engine_path: str | Path, device: torch.device) -> None:
        import tensorrt as trt

        self.device = device
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        self.engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise SurgPerceptionError(f"TensorRT cannot load engine {engine_path}",
                                      "rebuild it (BackendConfig(rebuild=True))")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.inputs = [n for n in names if is_input[n]]
        self.outputs = {n: (tuple(self.engine.get_tensor_shape(n)),
                            _torch_dtype(trt.nptype(self.engine.get_tensor_dtype(n))))
                        for n in names if not is_input[n]}
        self.zero_state = {n: torch.zeros(tuple(self.engine.get_tensor_shape(n)),
                                          dtype=_torch_dtype(trt.nptype(
                                              self.engine.get_tensor_dtype(n))), device=device)
                           for n in self.inputs if n != "image"}

    def __call__(self, images: Tensor, state: Any) -> tuple[ModelOutput, MemoryState | None]:
        feed = {"image": images.float().contiguous()}
        if state is None:
            feed.update(self.zero_state)
        elif self.zero_state:
            feed.update(zip(_STATE, (t.contiguous() for t in state.to_tuple())))
        named = {n: torch.empty(shape, dtype=dtype, device=self.device)
                 for n, (shape, dtype) in self.outputs.items()}
        for name, tensor in (*feed.items(), *named.items()):
            self.context.set_tensor_address(name, tensor.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise SurgPerceptionError("TensorRT failed to run the engine")
        return _assemble(named)


def _torch_dtype(numpy_type: Any) -> torch.dtype:
    return torch.from_numpy(np.zeros(1, dtype=numpy_type)).dtype
