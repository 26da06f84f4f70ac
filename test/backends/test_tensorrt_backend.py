"""The tensorrt backend: a typed error where it cannot run; parity and caching on a GPU."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from surg_perception.backends import BackendConfig
from surg_perception.checkpoint import save_checkpoint
from surg_perception.config import load_spec
from surg_perception.models.registry import build_model
from surg_perception.predictor import Predictor

TINY = Path(__file__).resolve().parents[2] / "config" / "models" / "tiny.yaml"
HAVE_TRT = importlib.util.find_spec("tensorrt") is not None
HAVE_GPU = torch.cuda.is_available()
needs_trt = pytest.mark.skipif(not (HAVE_TRT and HAVE_GPU),
                               reason=f"needs TensorRT and a CUDA GPU (tensorrt installed: "
                                      f"{HAVE_TRT}, CUDA available: {HAVE_GPU})")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    spec = load_spec(TINY)
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt",
                           build_model(spec.model).eval(), spec)


@pytest.mark.skipif(HAVE_TRT and HAVE_GPU, reason="TensorRT runs here")
def test_without_tensorrt_or_gpu_the_error_says_what_is_missing(checkpoint):
    from surg_perception.export.tensorrt import TensorRTUnavailableError

    with pytest.raises(TensorRTUnavailableError, match="TensorRT|CUDA"):
        Predictor.from_checkpoint(checkpoint, backend="tensorrt")
    assert not Path(f"{checkpoint}.onnx-cache").exists()  # nothing exported in vain


@needs_trt
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_tensorrt_matches_eager_within_fp16_tolerance_and_caches(checkpoint):
    eager = Predictor.from_checkpoint(checkpoint, device="cuda")
    trt = Predictor.from_checkpoint(checkpoint, device="cuda",
                                    backend=BackendConfig("tensorrt"))
    rng = np.random.default_rng(0)
    height, width = eager.spec.preprocess.input_size
    for _ in range(4):
        frame = rng.integers(0, 256, (height, width, 3), np.uint8)
        a, b = eager.step(frame), trt.step(frame)
        assert a.memory == b.memory
        assert (a.mask != b.mask).mean() <= 0.02  # fp16 engine: near-ties may flip
        assert np.allclose(a.activity_probs, b.activity_probs, atol=2e-2)
    engines = sorted(Path(f"{checkpoint}.onnx-cache").glob("*.engine"))
    assert len(engines) == 1
    stamp = engines[0].stat().st_mtime_ns
    Predictor.from_checkpoint(checkpoint, device="cuda",
                              backend="tensorrt")
    assert engines[0].stat().st_mtime_ns == stamp  # reused, not rebuilt


@needs_trt
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_tensorrt_carries_the_part_logits(checkpoint):
    """The engine's ``part_logits`` (tiny.yaml has a part head) match eager, fp16 aside."""
    from surg_perception.backends.factory import make_network
    from surg_perception.checkpoint import load_model

    model, spec = load_model(checkpoint, device="cuda")
    network = make_network(BackendConfig("tensorrt"), model, spec, "cuda", checkpoint=checkpoint)
    image = torch.randn(1, 3, *spec.preprocess.input_size, device="cuda",
                        generator=torch.Generator("cuda").manual_seed(0))
    with torch.inference_mode():
        want, _ = model.eval()(image)
        got, _ = network(image, None)
    assert got.part_logits.shape == want.part_logits.shape == (1, 4, *image.shape[-2:])
    assert torch.allclose(got.part_logits.float(), want.part_logits, atol=5e-2, rtol=5e-2)
    agree = (got.part_logits.argmax(1) == want.part_logits.argmax(1)).float().mean()
    assert agree >= 0.98  # fp16 engine: near-ties may flip
