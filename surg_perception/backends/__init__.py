"""Inference backends behind the :class:`~surg_perception.predictor.Predictor`.

A backend turns a model into the Predictor's network step ``(images, state) -> (ModelOutput,
state)``: ``eager`` (the model itself), ``onnxruntime`` (the exported raw network with the
memory state as explicit inputs/outputs) or ``tensorrt`` (an engine built from that ONNX).
Pre- and post-processing stay the Predictor's own, so only the network changes. This package
root imports no torch (command-line ``--help`` reads :data:`BACKENDS`); the steps live in
:mod:`surg_perception.backends.factory`.
"""

from surg_perception.backends.config import BACKENDS, BackendConfig, backend_config

__all__ = ["BACKENDS", "BackendConfig", "backend_config"]
