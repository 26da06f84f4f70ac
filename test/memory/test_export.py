"""The memory step exports to ONNX with the state flattened, and onnxruntime matches eager."""

import io

import pytest
import torch

from surg_perception.models.memory import DualMemory, MemoryState

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

NAMES = MemoryState.names()


class MemoryStep(torch.nn.Module):
    """``(feat, confidence, *state) -> (agg, *new_state)``: one read + admit."""

    def __init__(self, memory: DualMemory) -> None:
        super().__init__()
        self.memory = memory

    def forward(self, feat, confidence, *state):
        state = MemoryState.from_tuple(NAMES, state)
        agg, state = self.memory.read(feat, state)
        state = self.memory.admit(state, feat, confidence)
        return (agg, *state.to_tuple())


def export(step: MemoryStep, example: tuple) -> bytes:
    buffer = io.BytesIO()
    torch.onnx.export(
        step,
        example,
        buffer,
        dynamo=False,  # the TorchScript exporter: no onnxscript dependency
        input_names=["feat", "confidence", *NAMES],
        output_names=["agg", *[f"{name}_out" for name in NAMES]],
        opset_version=17,
    )
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_step_matches_eager_over_a_sequence(make_memory, frames):
    step = MemoryStep(make_memory()).eval()
    feats = frames(6)
    confidence = torch.tensor([0.0, -1.0])  # stream 1 never admits
    state = step.memory.init_state(feats[0]).to_tuple()
    with torch.no_grad():
        model = onnx.load_from_string(export(step, (feats[0], confidence, *state)))
        onnx.checker.check_model(model)
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        onnx_state = [t.numpy() for t in state]
        for feat in feats:
            eager = step(feat, confidence, *state)
            inputs = {"feat": feat.numpy(), "confidence": confidence.numpy()}
            outputs = session.run(None, {**inputs, **dict(zip(NAMES, onnx_state))})
            for got, want in zip(outputs, eager):
                torch.testing.assert_close(torch.from_numpy(got), want, rtol=1e-4, atol=1e-5)
            state, onnx_state = eager[1:], outputs[1:]
    final = MemoryState.from_tuple(NAMES, [torch.from_numpy(t) for t in onnx_state])
    assert final.info() == {"local_size": [3, 3], "global_size": [4, 0]}
