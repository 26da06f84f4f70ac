"""One benchmarked stream: JPEG frames through every stage of the node, timed per stage.

The device stages are :class:`~surg_perception.predictor.Predictor`'s own ``StageClock``
marks (upload, preprocess, network, postprocess, download: CUDA events, one sync per
frame), with the benchmarked backend as its network; host stages (decode, messages) are
timed by ``perf_counter``. :class:`StereoStream` runs each frame as a stereo pair (the node's
stereo path): both eyes in one batched forward, or one step per eye.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import cv2
import numpy as np
import torch

from surg_perception.bench.backends import Step
from surg_perception.config import ModelSpec
from surg_perception.predictor import Predictor, step_streams

DEVICE_STAGES = ("host_to_device", "preprocess", "network", "postprocess", "device_to_host")
HOST_STAGES = ("decode", "message_build", "serialize")


def make_jpeg_frames(height: int, width: int, count: int, seed: int = 0) -> list[bytes]:
    """``count`` JPEG-encoded BGR frames of a smooth random scene drifting sideways.

    Smooth content keeps JPEG sizes and decode times close to a real endoscope's.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, height // 32), max(2, width // 32) * 2, 3), np.uint8)
    scene = cv2.resize(coarse, (width * 2, height), interpolation=cv2.INTER_CUBIC)
    frames = []
    for index in range(count):
        shift = (index * 7) % width
        view = np.ascontiguousarray(scene[:, shift:shift + width])
        ok, encoded = cv2.imencode(".jpg", view, [cv2.IMWRITE_JPEG_QUALITY, 90])
        frames.append(encoded.tobytes())
    return frames


@dataclasses.dataclass
class StreamTimes:
    """Per-frame samples (ms) of one measured stream."""

    stages: dict[str, list[float]]
    step_ms: list[float] = dataclasses.field(default_factory=list)  # upload .. download
    total_ms: list[float] = dataclasses.field(default_factory=list)  # decode .. serialised
    serialized_bytes: int = 0

    def add(self, spans: dict[str, float], size: int) -> None:
        for name, values in self.stages.items():
            values.append(spans[name])
        self.step_ms.append(sum(spans[s] for s in DEVICE_STAGES))
        self.total_ms.append(spans["total"])
        self.serialized_bytes = size


class StagedStream:
    """Runs frames through decode -> :class:`Predictor` step -> messages -> serialise.

    The device stages are the predictor's own (``Predictor.step``'s ``timings_ms``, pinned
    uploads included), with ``step`` (eager, compiled, CUDA graph, TensorRT) as its network:
    the benchmark times the path the node takes, not a copy of it.
    """

    def __init__(self, step: Step, model: torch.nn.Module, spec: ModelSpec,
                 device: torch.device, dtype: torch.dtype, messages: Any = None) -> None:
        self.predictor = Predictor(model, spec, device, dtype, network=step)
        self.messages = messages

    def warm(self, frames: list[bytes], count: int) -> None:
        """Process ``count`` frames unrecorded, then start a fresh stream (as after a reset)."""
        for index in range(count):
            self.process(frames[index % len(frames)], index)
        self.predictor.reset()

    def new_times(self) -> StreamTimes:
        host = HOST_STAGES if self.messages else HOST_STAGES[:1]
        names = (*host, *DEVICE_STAGES)
        return StreamTimes({name: [] for name in names})

    def process(self, jpeg: bytes, index: int) -> tuple[dict[str, float], int]:
        """One JPEG frame through every stage: ``({stage: ms, "total": ms}, bytes sent)``."""
        start = time.perf_counter()
        pixels = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        decoded = time.perf_counter()
        result = self.predictor.step(pixels, "bgr", want_color_mask=True)
        spans = dict(result.timings_ms)
        spans["decode"] = (decoded - start) * 1e3
        size = 0
        if self.messages:
            built_at = time.perf_counter()
            messages = self.messages.build(result, index, spans["total"])
            serial_at = time.perf_counter()
            size = self.messages.serialize(messages)
            spans["message_build"] = (serial_at - built_at) * 1e3
            spans["serialize"] = (time.perf_counter() - serial_at) * 1e3
        spans["total"] = (time.perf_counter() - start) * 1e3
        return spans, size


DISPARITY_PX = 8  # the right eye: the left frame shifted by this much (content only)


class StereoStream(StagedStream):
    """A stereo pair per frame: the decoded JPEG as the left eye, shifted by
    ``DISPARITY_PX`` as the right; both eyes through ONE batched forward
    (:func:`~surg_perception.predictor.step_streams`, as the node's stereo path), or with
    ``batched=False`` one step per eye (the stages summed over the eyes). Each eye keeps
    its own memory; no messages (the network stage is what this compares).
    """

    def __init__(self, step: Step, model: torch.nn.Module, spec: ModelSpec,
                 device: torch.device, dtype: torch.dtype, batched: bool = True) -> None:
        super().__init__(step, model, spec, device, dtype, None)
        self.right = self.predictor.fork()
        self.batched = batched

    def warm(self, frames: list[bytes], count: int) -> None:
        super().warm(frames, count)
        self.right.reset()

    def process(self, jpeg: bytes, index: int) -> tuple[dict[str, float], int]:
        start = time.perf_counter()
        left = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        right = np.roll(left, -DISPARITY_PX, axis=1)
        decoded = time.perf_counter()
        eyes = [self.predictor, self.right]
        if self.batched:
            spans = dict(step_streams(eyes, [left, right], ["bgr", "bgr"], [True, False])[0]
                         .timings_ms)
        else:
            results = [eye.step(frame, "bgr", eye is self.predictor)
                       for eye, frame in zip(eyes, (left, right))]
            spans = {k: sum(r.timings_ms[k] for r in results) for k in results[0].timings_ms}
        spans["decode"] = (decoded - start) * 1e3
        spans["total"] = (time.perf_counter() - start) * 1e3
        return spans, 0


def run_interleaved(streams: list[StagedStream], frames: list[bytes]) -> list[StreamTimes]:
    """Every frame through every stream in turn, so a noisy machine slows all alike.

    Runs compared by ratios then see the same background load (a shared CI host can be
    several times oversubscribed); each stream keeps its own memory state.
    """
    times = [stream.new_times() for stream in streams]
    with torch.inference_mode():
        for index, jpeg in enumerate(frames):
            for stream, record in zip(streams, times):
                record.add(*stream.process(jpeg, index))
    return times
