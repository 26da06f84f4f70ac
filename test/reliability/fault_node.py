"""Test-only launcher: ``apmtl_node`` whose model fails like a lost GPU while a flag file exists.

Run as ``python test/reliability/fault_node.py --ros-args ...`` with the environment variable
``SURG_PERCEPTION_FAULT_FLAG`` naming a file. Whenever that file exists, the loaded model's
forward raises the ``RuntimeError`` PyTorch raises when the device disappears mid-step;
otherwise the node is exactly the production node. The injection wraps the model after the
node's own ``load_predictor`` (the one place the node gets its model), so production code
carries no test-only branch.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
import sys

from surg_perception.ros import lifecycle_node
from surg_perception.ros import node as node_module

FLAG = Path(os.environ["SURG_PERCEPTION_FAULT_FLAG"])
CUDA_LOST = ("CUDA error: an illegal memory access was encountered (injected by "
             "test/reliability/fault_node.py)")


def _faulty(forward):
    @functools.wraps(forward)
    def wrapped(*args, **kwargs):
        if FLAG.exists():
            raise RuntimeError(CUDA_LOST)
        return forward(*args, **kwargs)
    return wrapped


def _load_predictor_with_faults(settings):
    predictor = _original_load_predictor(settings)
    model = predictor.model
    model.forward = _faulty(model.forward)  # nn.Module.__call__ uses the instance attribute
    return predictor


_original_load_predictor = lifecycle_node.load_predictor
lifecycle_node.load_predictor = _load_predictor_with_faults

if __name__ == "__main__":
    sys.exit(node_module.main())
