"""Stream inference: one camera frame in, camera-space predictions out.

A :class:`Predictor` owns one video stream's temporal state (the dual memory) and runs
preprocess -> network (memory included) -> postprocess for each frame. Only the uint8 mask
and a few small tensors leave the device; on CUDA the step synchronises once, at the end.
Its step is :func:`~surg_perception.predictor.batching.step_streams` with one stream; a stereo
pair's eyes go through that in one batched forward, each with its own memory.
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
from surg_perception.models.memory.batch import unstackable_reason
from surg_perception.predictor.batching import step_streams
from surg_perception.predictor.devices import resolve_dtype, size_reset_reason
from surg_perception.predictor.result import FrameResult
from surg_perception.processing.colors import palette_for
from surg_perception.processing.postprocess import check_postprocess_config
from surg_perception.processing.preprocess import FrameGeometry
from surg_perception.processing.transfer import PinnedStaging

_LOG = logging.getLogger(__name__)


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
