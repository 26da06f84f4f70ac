"""Several streams (a stereo pair's eyes) through ONE batched network forward.

:func:`step_streams` is the step of every :class:`~surg_perception.predictor.Predictor`: a
mono step is its batch-of-1 case. It reaches into the predictors it is given (their state,
upload buffer, network) through :class:`Stream`, so this module does not import the
predictor's and the two stay one-way (the predictor module imports this one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import contextlib
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from surg_perception.config import ModelSpec, PostprocessConfig
from surg_perception.errors import ConfigError
from surg_perception.models.memory.batch import split_state, stack_states
from surg_perception.models.outputs import ModelOutput
from surg_perception.predictor.result import FrameResult
from surg_perception.processing.colors import colorize
from surg_perception.processing.postprocess import FramePrediction, postprocess_batch
from surg_perception.processing.preprocess import (
    FrameGeometry,
    frame_to_tensor,
    preprocess_frame,
)
from surg_perception.processing.timing import StageClock
from surg_perception.processing.transfer import PinnedStaging


class Stream(Protocol):
    """What :func:`step_streams` uses of a stream: :class:`Predictor` is the one."""

    device: torch.device
    dtype: torch.dtype
    spec: ModelSpec
    model: nn.Module
    postprocess: PostprocessConfig
    _state: Any
    _staging: PinnedStaging | None
    _palette: torch.Tensor
    _network: Callable[[torch.Tensor, Any], tuple[Any, Any]]
    _given_network: Any

    def batch_reason(self, states: Sequence[Any] | None = None) -> str: ...
    def _begin(self, geometry: FrameGeometry) -> None: ...
    def _finish(self, host: dict[str, Any], timings: dict[str, float]) -> FrameResult: ...
    def _unbatched(self, reason: str) -> None: ...
    def _autocast(self) -> contextlib.AbstractContextManager: ...


def step_streams(
    predictors: Sequence[Stream],
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


def _forward(predictors: Sequence[Stream], images: torch.Tensor) -> list[ModelOutput]:
    """The batch through the first predictor's network; each stream keeps its new state."""
    lead = predictors[0]
    state = stack_states([p._state for p in predictors])
    with lead._autocast():
        output, state = lead._network(images, state)
    for predictor, own in zip(predictors, split_state(state, len(predictors))):
        predictor._state = own
    return split_output(output, len(predictors))


def _postprocess(predictors: Sequence[Stream], outputs: Sequence[ModelOutput],
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


def _check_streams(predictors: Sequence[Stream], frames: Sequence[Any],
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
    parts = None if pred.part_mask is None else pred.part_mask.cpu().numpy()
    return {
        "mask": pred.mask.cpu().numpy(),
        "color_mask": color,
        "boxes": pred.boxes.float().cpu().numpy(),
        "scores": pred.scores.float().cpu().numpy(),
        "labels": pred.labels.long().cpu().numpy(),
        "activity_probs": activity,
        "part_mask": parts,
    }
