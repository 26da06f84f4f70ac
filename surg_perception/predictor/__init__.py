"""Stream inference: :class:`Predictor` (one stream's memory and step), :func:`step_streams`
(several streams, a stereo pair's eyes, in one batched forward), :class:`FrameResult`.

Modules, imported one way (no circles): ``devices`` (device / dtype / reset rule) and
``result`` (FrameResult) at the bottom, ``batching`` (step_streams) on them, ``stream``
(Predictor) on all three.
"""

from surg_perception.predictor.batching import split_output, step_streams
from surg_perception.predictor.devices import (
    DTYPES,
    resolve_device,
    resolve_dtype,
    size_reset_reason,
)
from surg_perception.predictor.result import FrameResult
from surg_perception.predictor.stream import Predictor

__all__ = ["DTYPES", "FrameResult", "Predictor", "resolve_device", "resolve_dtype",
           "size_reset_reason", "split_output", "step_streams"]
