"""Stream inference: one camera frame in, camera-space predictions out.

A :class:`Predictor` owns one video stream's temporal state (the dual memory) and runs
preprocess -> network (memory included) -> postprocess for each frame. Only the uint8 mask
and a few small tensors leave the device; on CUDA the step synchronises once, at the end.
:func:`step_streams` runs several streams (a stereo pair's eyes) through one batched
forward, each with its own memory; a mono step is its batch-of-1 case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from surg_perception.backends import BackendConfig
from surg_perception.checkpoint import load_model
from surg_perception.config import ModelSpec, PostprocessConfig
from surg_perception.errors import ConfigError
from surg_perception.models.memory.batch import split_state, stack_states, unstackable_reason
from surg_perception.models.outputs import ModelOutput
from surg_perception.processing.colors import colorize, palette_for
from surg_perception.processing.postprocess import (
    FramePrediction,
    check_postprocess_config,
    postprocess_batch,
)
from surg_perception.processing.preprocess import (
    FrameGeometry,
    frame_to_tensor,
    preprocess_frame,
)
from surg_perception.processing.timing import StageClock
from surg_perception.processing.transfer import PinnedStaging

# The one dtype table: canonical names (node parameter, bench --dtypes) -> torch dtype.
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
_DTYPES = {**DTYPES, "float32": torch.float32, "float16": torch.float16, "half": torch.float16,
           "bfloat16": torch.bfloat16}  # aliases resolve_dtype accepts too
_LOG = logging.getLogger(__name__)


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


@dataclasses.dataclass(frozen=True)
class FrameResult:
    """One frame's predictions on the host, in camera pixels.

    Attributes:
        mask: ``[H, W]`` uint8 segmentation class ids (box-filled when enabled).
        color_mask: ``[H, W, 3]`` uint8 BGR rendering of ``mask``, or None if not requested.
        boxes: ``[N, 4]`` float32 xyxy camera pixels, best first.
        scores: ``[N]`` float32.
        labels: ``[N]`` int64 in ``1..K``; the class name is ``det_classes[label - 1]``.
        activity_probs: ``[A]`` float32 summing to 1, or None without an activity head.
        timings_ms: stage -> ms: ``host_to_device``, ``preprocess``, ``network`` (the memory
            runs inside the network's forward, so its time is included there),
            ``postprocess`` (decoding, box-fill, colouring), ``device_to_host``, ``total``;
            streams stepped as one batch (:func:`step_streams`) all report the batch's.
        memory: ``local_size``, ``global_size`` (entries held after this frame) and
            ``reset`` (True when this frame started from an empty memory).
    """

    mask: np.ndarray
    color_mask: np.ndarray | None
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    activity_probs: np.ndarray | None
    timings_ms: dict[str, float]
    memory: dict[str, Any]


class Predictor:
    """Frame-by-frame inference for one stream.

    Args:
        model: a network obeying the model contract (``out, state = model(x, state)``,
            ``model.priors(h, w)``); moved to ``device`` and put in eval mode.
        spec: the model's :class:`ModelSpec` (preprocessing, class names, postprocess).
        device: where the network runs.
        dtype: ``fp32``, or ``fp16``/``bf16`` through autocast (CUDA only).
        network: what runs the model step, ``(images, state) -> (ModelOutput, state)``
            (default: ``model`` itself, eager); :mod:`surg_perception.backends` builds the
            onnxruntime / TensorRT ones (:meth:`from_checkpoint` with ``backend``), the
            benchmark passes compiled or CUDA-graph steps, so it times this very predictor.

    ``postprocess`` may be replaced between steps (validated on assignment). The memory is
    reset by :meth:`reset` and automatically when the frame size changes.
    """

    def __init__(
        self,
        model: nn.Module,
        spec: ModelSpec,
        device: torch.device | str = "cpu",
        dtype: str | torch.dtype = torch.float32,
        network: Callable[[torch.Tensor, Any], tuple[Any, Any]] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.dtype = resolve_dtype(dtype)
        if self.dtype != torch.float32 and self.device.type != "cuda":
            raise ConfigError(
                f"dtype {self.dtype} runs through CUDA autocast; use fp32 on {self.device}"
            )
        self.spec = spec
        self.model = model.to(self.device).eval()
        self.postprocess = spec.postprocess
        self._palette = torch.from_numpy(palette_for(spec.model.seg_classes)).to(self.device)
        self._state = None
        self._frame_size: tuple[int, int] | None = None
        self._fresh = True
        self._staging = PinnedStaging() if self.device.type == "cuda" else None
        self._given_network = network  # shared by fork()
        # `is None`, not `or`: a compiled module forwards len() to the model and has no bool.
        self._network = network if network is not None else (
            lambda images, state: self.model(images, state=state))
        # Graph-captured steps forbid autocast's weight-cast cache; eager keeps it.
        self._cast_cache = network is None
        self._said_unbatched = False

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: torch.device | str = "cpu",
        dtype: str | torch.dtype = "fp32",
        backend: str | BackendConfig | None = None,
    ) -> Predictor:
        """Load a checkpoint (``load_model``, weights only) and wrap it in a predictor.

        ``backend`` (``eager`` default, ``onnxruntime``, ``tensorrt`` or a
        :class:`BackendConfig`) runs the network; exported ones are cached next to ``path``.
        """
        from surg_perception.backends.factory import make_network

        model, spec = load_model(path, device=device)
        network = make_network(backend, model, spec, device, dtype, checkpoint=path)
        return cls(model, spec, device=device, dtype=dtype, network=network)

    def fork(self) -> Predictor:
        """Another stream on the same weights and network step, with its own memory.

        Every backend's step is stateless (the memory is passed in and out), so sharing it
        is safe; the post-processing settings are copied.
        """
        other = Predictor(self.model, self.spec, self.device, self.dtype,
                          network=self._given_network)
        other.postprocess = dataclasses.replace(self.postprocess)
        return other

    @property
    def postprocess(self) -> PostprocessConfig:
        return self._postprocess

    @postprocess.setter
    def postprocess(self, cfg: PostprocessConfig) -> None:
        check_postprocess_config(cfg, self.spec.model)
        self._postprocess = cfg

    def reset(self) -> None:
        """Forget the stream: the next frame starts from an empty memory."""
        self._state = None
        self._frame_size = None
        self._fresh = True

    def memory_info(self) -> dict[str, int]:
        """``local_size`` and ``global_size`` of the memory now (0 when empty or disabled)."""
        if self._state is None:
            return {"local_size": 0, "global_size": 0}
        return {name: int(values[0]) for name, values in self._state.info().items()}

    def warmup(self, height: int, width: int, steps: int = 2, streams: int = 1) -> None:
        """Run ``steps`` black frames of this size (allocation, kernel choice), then reset.

        ``streams``: that many at once (2: a stereo pair's batch, :func:`step_streams`).
        """
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        eyes = [self, *(self.fork() for _ in range(streams - 1))]
        for _ in range(steps):
            step_streams(eyes, [frame] * streams, ["rgb"] * streams)
        self.reset()

    def step(
        self,
        frame: np.ndarray | torch.Tensor,
        color_order: str = "rgb",
        want_color_mask: bool = False,
    ) -> FrameResult:
        """Run one frame ``[H, W, 3]`` uint8 (channels in ``color_order``) through the model.

        The batch-of-1 case of :func:`step_streams`.

        Raises:
            ImageFormatError: the frame is not ``[H, W, 3]`` uint8 or the order is unknown.
        """
        (result,) = step_streams([self], [frame], [color_order], [want_color_mask])
        return result

    def batch_reason(self, states: Sequence[Any] | None = None) -> str:
        """Why streams cannot share one forward of this predictor's network (``""``: they
        can): the eager model takes any batch; an injected step must say so with
        ``batch_streams = True`` (the exported graphs have a static batch of 1).
        ``states``: the streams' (default: this one's)."""
        network = self._given_network
        eager = network is None or network is self.model
        if not eager and not getattr(network, "batch_streams", False):
            backend = getattr(network, "backend", None)
            if backend:
                return f"the {backend} network is exported for a batch of 1 (static shapes)"
            return (f"the injected network step ({type(network).__name__}) does not say it "
                    "takes a batch of streams (batch_streams = True)")
        return unstackable_reason([self._state] if states is None else states)

    def _begin(self, geometry: FrameGeometry) -> None:
        """A frame of ``geometry`` is next: reset first if the frame size changed."""
        if size_reset_reason(self._frame_size, geometry.image_size):
            self.reset()
        self._frame_size = geometry.image_size

    def _finish(self, host: dict[str, Any], timings: dict[str, float]) -> FrameResult:
        memory = {**self.memory_info(), "reset": self._fresh}
        self._fresh = False
        return FrameResult(timings_ms=dict(timings), memory=memory, **host)

    def _unbatched(self, reason: str) -> None:
        """Say once per predictor why its streams run one step each."""
        if not self._said_unbatched:
            self._said_unbatched = True
            _LOG.warning("streams run as one network step each, not one batch: %s", reason)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda" and self.dtype != torch.float32:
            return torch.autocast(device_type="cuda", dtype=self.dtype,
                                  cache_enabled=self._cast_cache)
        return contextlib.nullcontext()


def step_streams(
    predictors: Sequence[Predictor],
    frames: Sequence[np.ndarray | torch.Tensor],
    color_orders: Sequence[str],
    want_color_mask: Sequence[bool] | None = None,
) -> list[FrameResult]:
    """One frame per stream (a stereo pair: left, right) through ONE network forward.

    Each predictor is one stream with its own temporal memory; they share the first one's
    network (:meth:`Predictor.fork`). The frames are preprocessed per stream and stacked
    into a batch, the streams' states are stacked along the batch dim before the forward
    and split after it; post-processing runs per stream with its own settings. Every
    result reports the batch's stage times. A network step that takes one frame per call
    (an exported graph with a static batch, :meth:`Predictor.batch_reason`) runs the
    streams one step each instead, said once in the log.
    """
    wants = [False] * len(predictors) if want_color_mask is None else list(want_color_mask)
    _check_streams(predictors, frames, color_orders, wants)
    lead = predictors[0]
    reason = lead.batch_reason([p._state for p in predictors]) if len(predictors) > 1 else ""
    if reason:
        lead._unbatched(reason)
        return [step_streams([p], [f], [o], [w])[0]
                for p, f, o, w in zip(predictors, frames, color_orders, wants)]
    clock = StageClock(lead.device)
    with torch.inference_mode():
        uploads = [frame_to_tensor(f, lead.device, p._staging) for p, f in zip(predictors, frames)]
        clock.mark("host_to_device")
        images, geometries = [], []
        for predictor, image, order in zip(predictors, uploads, color_orders):
            batch, geometry = preprocess_frame(image, lead.spec.preprocess, order, lead.device)
            predictor._begin(geometry)  # a new frame size resets this stream's memory only
            images.append(batch)
            geometries.append(geometry)
        clock.mark("preprocess")
        outputs = _forward(predictors, torch.cat(images) if len(images) > 1 else images[0])
        clock.mark("network")
        preds = _postprocess(predictors, outputs, geometries, wants, images[0].shape[-2:])
        clock.mark("postprocess")
        hosts = [_download(pred, color) for pred, color in preds]
        clock.mark("device_to_host")
    timings = clock.finish()
    return [p._finish(host, timings) for p, host in zip(predictors, hosts)]


def _forward(predictors: Sequence[Predictor], images: torch.Tensor) -> list[ModelOutput]:
    """The batch through the first predictor's network; each stream keeps its new state."""
    lead = predictors[0]
    state = stack_states([p._state for p in predictors])
    with lead._autocast():
        output, state = lead._network(images, state)
    for predictor, own in zip(predictors, split_state(state, len(predictors))):
        predictor._state = own
    return split_output(output, len(predictors))


def _postprocess(predictors: Sequence[Predictor], outputs: Sequence[ModelOutput],
                 geometries: Sequence[FrameGeometry], wants: Sequence[bool],
                 input_size: tuple[int, int]) -> list[tuple[FramePrediction, Any]]:
    """Each stream's output decoded with its own settings, coloured where wanted."""
    lead = predictors[0]
    priors = lead.model.priors(*input_size) if outputs[0].det_logits is not None else None
    preds = []
    for predictor, output, geometry, want in zip(predictors, outputs, geometries, wants):
        (pred,) = postprocess_batch(output, priors, [geometry], lead.spec.model,
                                    predictor.postprocess)
        preds.append((pred, colorize(pred.mask, lead._palette) if want else None))
    return preds


def _check_streams(predictors: Sequence[Predictor], frames: Sequence[Any],
                   color_orders: Sequence[str], wants: Sequence[bool]) -> None:
    if not predictors or not len(predictors) == len(frames) == len(color_orders) == len(wants):
        raise ConfigError(f"step_streams needs one frame, colour order and colour-mask flag "
                          f"per predictor, got {len(predictors)} predictors, {len(frames)} "
                          f"frames, {len(color_orders)} orders, {len(wants)} flags")
    lead = predictors[0]
    for other in predictors[1:]:
        if (other.model is not lead.model or other._given_network is not lead._given_network
                or other.device != lead.device or other.dtype != lead.dtype):
            raise ConfigError("streams stepped together must share one network, device and "
                              "dtype", "make the other streams with Predictor.fork()")


def split_output(output: ModelOutput, count: int) -> list[ModelOutput]:
    """A batch :class:`ModelOutput` -> one batch-of-1 output per stream (views)."""
    if count == 1:
        return [output]
    return [type(output)(*(None if t is None else t[i:i + 1] for t in output))
            for i in range(count)]


def _download(pred: FramePrediction, color: torch.Tensor | None) -> dict[str, Any]:
    """Copy a frame's predictions (and the device-coloured mask, if any) to host arrays."""
    color = None if color is None else color.cpu().numpy()
    activity = None if pred.activity_probs is None else pred.activity_probs.cpu().numpy()
    return {
        "mask": pred.mask.cpu().numpy(),
        "color_mask": color,
        "boxes": pred.boxes.float().cpu().numpy(),
        "scores": pred.scores.float().cpu().numpy(),
        "labels": pred.labels.long().cpu().numpy(),
        "activity_probs": activity,
    }
