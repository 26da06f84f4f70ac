"""ONNX export of one inference step, with the temporal memory state as explicit tensors.

Graph inputs: ``image`` float ``[1, 3, H, W]`` (normalised as ``preprocess`` says) and, with
memory, one input per :meth:`MemoryState.names` field. Outputs: ``seg_logits [1, S, H, W]``,
``class_mask [1, H, W]`` int64, ``det_scores [1, P, K]`` (softmax, background dropped) and
``det_boxes [1, P, 4]`` (xyxy in [0, 1] of the input) when the model detects,
``activity_probs [1, A]`` when it classifies activity, ``part_logits [1, P, H, W]`` and
``part_mask [1, H, W]`` int64 with a part head, then ``<name>_out`` for every state field.
NMS and box-fill stay outside (``processing.postprocess``). The HOG head is a training-only
head and is absent. The spec, class names and preprocessing travel in the
model's ``metadata_props``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from surg_perception.config import ModelSpec, to_dict
from surg_perception.errors import ConfigError
from surg_perception.models.memory import MemoryState
from surg_perception.ops.box_ops import decode_boxes

OPSET = 17
# Stated tolerance of the onnxruntime (CPU, fp32) vs eager PyTorch check.
ATOL, RTOL = 1e-4, 1e-3
# arg-max output -> the logits it is taken of (verify_onnx forgives their ties)
ARGMAX_OF = {"class_mask": "seg_logits", "part_mask": "part_logits"}


class _StepBase(nn.Module):
    """What every exported step shares: the model in eval mode, its heads, the memory state
    as flat tensors in and out (``MemoryState.names()`` order)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.eval()
        self.has_detection = model.has_detection
        self.has_activity = model.has_activity
        self.has_memory = model.has_memory
        self.has_parts = model.has_parts

    def input_names(self) -> list[str]:
        return ["image", *MemoryState.names()] if self.has_memory else ["image"]

    def state_names(self) -> list[str]:
        return [f"{n}_out" for n in MemoryState.names()] * self.has_memory

    def run(self, image: Tensor, state: tuple[Tensor, ...]):
        """``(ModelOutput, new state as a tuple, () without memory)``."""
        memory = MemoryState.from_tuple(MemoryState.names(), state) if state else None
        out, new_state = self.model(image, state=memory)
        return out, (new_state.to_tuple() if new_state is not None else ())


class InferenceStep(_StepBase):
    """``(image, *state) -> (seg_logits, class_mask, [det_scores, det_boxes], [activity_probs],
    [part_logits, part_mask], *new_state)``; the model runs in eval mode with its priors fixed
    for ``spec``'s input size."""

    def __init__(self, model: nn.Module, spec: ModelSpec) -> None:
        super().__init__(model)
        self.variances = tuple(spec.model.detection.variances)
        priors = model.priors(*spec.preprocess.input_size) if self.has_detection else None
        self.register_buffer("priors", priors, persistent=False)

    def output_names(self) -> list[str]:
        names = ["seg_logits", "class_mask"]
        names += ["det_scores", "det_boxes"] * self.has_detection
        names += ["activity_probs"] * self.has_activity
        names += ["part_logits", "part_mask"] * self.has_parts
        return names + self.state_names()

    def forward(self, image: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        out, new_state = self.run(image, state)
        results = [out.seg_logits, out.seg_logits.argmax(dim=1)]
        if self.has_detection:
            results.append(out.det_logits.softmax(dim=-1)[..., 1:])
            boxes = decode_boxes(out.det_deltas, self.priors, self.variances)
            results.append(boxes.clamp(0.0, 1.0))
        if self.has_activity:
            results.append(out.activity_logits.softmax(dim=-1))
        if self.has_parts:
            results += [out.part_logits, out.part_logits.argmax(dim=1)]
        return (*results, *new_state)


def initial_state(model: nn.Module, spec: ModelSpec) -> tuple[Tensor, ...]:
    """Zero memory state of one stream at ``spec``'s input size (empty without memory)."""
    if not model.has_memory:
        return ()
    param = next(model.parameters())
    image = torch.zeros(1, 3, *spec.preprocess.input_size, device=param.device, dtype=param.dtype)
    with torch.no_grad():
        _, state = model.eval()(image)
    return state.reset().to_tuple()


def metadata(spec: ModelSpec, step: InferenceStep | NetworkStep) -> dict[str, str]:
    """The ``metadata_props`` stored with the graph (all values are strings)."""
    return {
        "format": "surg_perception.onnx_step",
        "spec": json.dumps(to_dict(spec)),
        "seg_classes": json.dumps(list(spec.model.seg_classes)),
        "det_classes": json.dumps(list(spec.model.det_classes)),
        "activity_classes": json.dumps(list(spec.model.activity_classes)),
        "part_classes": json.dumps(list(spec.model.part_classes)),
        "preprocess": json.dumps(to_dict(spec.preprocess)),
        "state_names": json.dumps(list(MemoryState.names()) if step.has_memory else []),
        "inputs": json.dumps(step.input_names()),
        "outputs": json.dumps(step.output_names()),
    }


def export_onnx(model: nn.Module, spec: ModelSpec, path: str | Path, opset: int = OPSET) -> Path:
    """Write the inference step of ``model`` to ``path`` (CPU, fp32); returns the path."""
    model = model.to("cpu", torch.float32).eval()
    step = InferenceStep(model, spec)
    return _export(step, model, spec, path, opset, metadata(spec, step))


class NetworkStep(_StepBase):
    """``(image, *state) -> (seg_logits, [det_logits, det_deltas], [activity_logits],
    [part_logits], *new_state)``: the network's raw outputs, for runtimes that feed the
    Predictor's own post-processing (:mod:`surg_perception.backends`), so decoding and NMS stay
    identical."""

    def output_names(self) -> list[str]:
        names = ["seg_logits"] + ["det_logits", "det_deltas"] * self.has_detection
        names += ["activity_logits"] * self.has_activity
        names += ["part_logits"] * self.has_parts
        return names + self.state_names()

    def forward(self, image: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        out, new_state = self.run(image, state)
        results = [out.seg_logits]
        if self.has_detection:
            results += [out.det_logits, out.det_deltas]
        if self.has_activity:
            results.append(out.activity_logits)
        if self.has_parts:
            results.append(out.part_logits)
        return (*results, *new_state)


def export_network_onnx(model: nn.Module, spec: ModelSpec, path: str | Path,
                        opset: int = OPSET) -> Path:
    """Write ``model``'s raw network step (:class:`NetworkStep`) to ``path`` (CPU, fp32)."""
    model = model.to("cpu", torch.float32).eval()
    step = NetworkStep(model)
    meta = {**metadata(spec, step), "format": "surg_perception.onnx_network"}
    return _export(step, model, spec, path, opset, meta)


def _export(step: nn.Module, model: nn.Module, spec: ModelSpec, path: str | Path, opset: int,
            meta: dict[str, str]) -> Path:
    import onnx

    image = torch.zeros(1, 3, *spec.preprocess.input_size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(step, (image, *initial_state(model, spec)), str(path),
                          input_names=step.input_names(), output_names=step.output_names(),
                          opset_version=opset, dynamo=False)
    graph = onnx.load(str(path))
    for key, value in meta.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def argmax_ties(logits: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    """``[1, H, W]`` True where the two best of ``logits [1, S, H, W]`` lie within the logit
    tolerance of each other: there either class is a correct arg-max of the exported model."""
    top2 = np.sort(logits, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) <= 2 * (atol + rtol * np.abs(top2[:, 1]))


def verify_onnx(path: str | Path, model: nn.Module, spec: ModelSpec, frames: int = 3,
                atol: float = ATOL, rtol: float = RTOL, seed: int = 0) -> float:
    """Run onnxruntime (CPU) and eager PyTorch over ``frames`` random frames, each feeding
    its own state back; returns the largest absolute difference.

    Raises:
        ConfigError: some output differs beyond ``atol + rtol * |eager|``.
    """
    import onnxruntime as ort

    model = model.to("cpu", torch.float32).eval()
    step = InferenceStep(model, spec)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names, outputs = step.input_names(), step.output_names()
    state = initial_state(model, spec)
    onnx_state = [t.numpy() for t in state]
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for frame in range(frames):
        image = torch.randn(1, 3, *spec.preprocess.input_size, generator=generator)
        with torch.no_grad():
            eager = step(image, *state)
        got = session.run(None, dict(zip(names, [image.numpy(), *onnx_state])))
        by_name = dict(zip(outputs, eager))
        for name, want, value in zip(outputs, eager, got):
            want = want.numpy()
            if name in ARGMAX_OF:  # an arg-max: compare where it is not a tie of logits
                ties = argmax_ties(by_name[ARGMAX_OF[name]].numpy(), atol, rtol)
                value = np.where(ties, want, value)
            diff = np.abs(value.astype(np.float64) - want.astype(np.float64))
            worst = max(worst, float(diff.max(initial=0.0)))
            if not np.all(diff <= atol + rtol * np.abs(want)):
                raise ConfigError(f"ONNX output {name!r} differs from PyTorch at frame {frame} "
                                  f"by up to {diff.max():.3g} (tolerance atol {atol}, rtol "
                                  f"{rtol}); try another opset or report the model")
        state = eager[len(outputs) - len(state):] if state else ()
        onnx_state = got[len(outputs) - len(onnx_state):] if onnx_state else []
    return worst
