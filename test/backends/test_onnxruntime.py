"""The onnxruntime backend behind the Predictor: parity with eager over a stream, the cache."""

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from surg_perception.backends import BackendConfig
from surg_perception.backends.cache import BackendCacheError
from surg_perception.checkpoint import save_checkpoint
from surg_perception.config import load_spec
from surg_perception.errors import ConfigError
from surg_perception.models.registry import build_model
from surg_perception.predictor import Predictor

pytest.importorskip("onnx", reason="onnx is needed to export (the `export` extra)")
pytest.importorskip("onnxruntime", reason="onnxruntime is the backend under test")

from surg_perception.backends.factory import make_network  # noqa: E402
from surg_perception.backends.runtime import BackendUnavailableError  # noqa: E402
from surg_perception.export.onnx import ATOL, RTOL, argmax_ties  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

TINY = Path(__file__).resolve().parents[2] / "config" / "models" / "tiny.yaml"
FRAMES = 5


def _spec():
    spec = load_spec(TINY)
    # Admit every frame into the global bank, so both memories fill within the stream.
    memory = dataclasses.replace(spec.model.memory, alpha=-1e9, beta=1e9)
    return dataclasses.replace(spec, model=dataclasses.replace(spec.model, memory=memory))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    spec = _spec()
    torch.manual_seed(0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt",
                           build_model(spec.model).eval(), spec)


@pytest.fixture(scope="module")
def predictors(checkpoint):
    ort = Predictor.from_checkpoint(checkpoint, backend=BackendConfig("onnxruntime", threads=1))
    return Predictor.from_checkpoint(checkpoint), ort


def _frames(spec, count=FRAMES, seed=0):
    rng = np.random.default_rng(seed)
    height, width = spec.preprocess.input_size
    return [rng.integers(0, 256, (height + 8, width, 3), np.uint8) for _ in range(count)]


def test_network_outputs_match_eager_over_a_stream_with_state(predictors):
    eager, ort = predictors
    eager_state = ort_state = None
    generator = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        for frame in range(FRAMES):
            image = torch.randn(1, 3, *eager.spec.preprocess.input_size, generator=generator)
            want, eager_state = eager.model(image, state=eager_state)
            got, ort_state = ort._network(image, ort_state)
            assert got.part_logits is not None  # tiny.yaml has a part head
            for name in ("seg_logits", "det_logits", "det_deltas", "activity_logits",
                         "part_logits"):
                a, b = getattr(want, name).numpy(), getattr(got, name).numpy()
                assert np.allclose(b, a, atol=ATOL, rtol=RTOL), (name, frame)
            for name in ("seg_logits", "part_logits"):  # the arg-max masks, ties aside
                logits_a, logits_b = getattr(want, name), getattr(got, name)
                mask_a, mask_b = logits_a.argmax(1).numpy(), logits_b.argmax(1).numpy()
                ties = argmax_ties(logits_a.numpy(), ATOL, RTOL)
                assert np.array_equal(mask_a[~ties], mask_b[~ties]), (name, frame)
            for a, b in zip(eager_state.to_tuple(), ort_state.to_tuple()):
                assert a.dtype == b.dtype
                assert torch.allclose(a.float(), b.float(), atol=ATOL, rtol=RTOL)
    assert eager_state.info() == ort_state.info()
    assert eager_state.info()["global_size"][0] == FRAMES  # the bank path ran


def test_predictor_results_match_eager_frame_by_frame(predictors):
    eager, ort = predictors
    eager.reset()
    ort.reset()
    for frame in _frames(eager.spec):
        a, b = eager.step(frame), ort.step(frame)
        assert a.memory == b.memory
        assert (a.mask != b.mask).mean() <= 1e-3  # only arg-max ties may differ
        assert np.allclose(a.activity_probs, b.activity_probs, atol=1e-5)
        assert a.labels.shape == b.labels.shape
        assert np.allclose(a.scores, b.scores, atol=1e-4)
        near = np.abs(a.boxes[:, None] - b.boxes[None]).max(-1) <= 1e-2  # camera pixels
        assert near.any(1).all()  # the same boxes; equal scores may come in either order
    assert b.memory["global_size"] == FRAMES and b.memory["local_size"] > 0


def test_second_load_reuses_the_cached_export(checkpoint, predictors):
    cache = Path(f"{checkpoint}.onnx-cache")
    (onnx_file,) = cache.glob("*.onnx")
    stamp = onnx_file.stat().st_mtime_ns
    model, spec = predictors[0].model, predictors[0].spec
    lines = []
    network = make_network("onnxruntime", model, spec, "cpu", checkpoint=checkpoint,
                           log=lines.append)
    assert lines == [f"reusing cached network {onnx_file}"]
    assert onnx_file.stat().st_mtime_ns == stamp
    assert network.providers == ("CPUExecutionProvider",)


def test_other_size_selects_another_cached_file(checkpoint, predictors, tmp_path):
    model, spec = predictors[0].model, predictors[0].spec
    small = dataclasses.replace(spec, preprocess=dataclasses.replace(spec.preprocess,
                                                                     input_size=(64, 96)))
    lines = []
    make_network(BackendConfig("onnxruntime", cache_dir=str(tmp_path)), model, small, "cpu",
                 checkpoint=checkpoint, log=lines.append)
    assert lines[0].startswith("exported network")
    assert len(list(tmp_path.glob("*.onnx"))) == 1
    assert next(model.parameters()).device.type == "cpu"


def test_a_corrupt_cached_file_is_a_typed_error_and_rebuild_repairs_it(predictors, tmp_path):
    model, spec = predictors[0].model, predictors[0].spec
    config = BackendConfig("onnxruntime", cache_dir=str(tmp_path))
    make_network(config, model, spec, "cpu")
    (onnx_file,) = tmp_path.glob("*.onnx")
    with open(onnx_file, "r+b") as file:
        file.truncate(os.path.getsize(onnx_file) // 2)
    with pytest.raises(BackendCacheError, match="corrupt.*rebuild"):
        make_network(config, model, spec, "cpu")
    onnx_file.with_suffix(".json").unlink()
    with pytest.raises(BackendCacheError, match="no readable record"):
        make_network(config, model, spec, "cpu")
    lines = []
    make_network(dataclasses.replace(config, rebuild=True), model, spec, "cpu",
                 log=lines.append)
    assert lines[0].startswith("exported")
    make_network(config, model, spec, "cpu")  # valid again


def test_fork_shares_the_backend_with_its_own_memory(predictors):
    _, ort = predictors
    ort.reset()
    frame = _frames(ort.spec, 1)[0]
    ort.step(frame)
    other = ort.fork()
    assert other._network is ort._network
    assert other.step(frame).memory["local_size"] == 1
    assert ort.step(frame).memory["local_size"] == 2


def test_bad_settings_are_typed_errors(predictors, tmp_path):
    model, spec = predictors[0].model, predictors[0].spec
    with pytest.raises(ConfigError, match="unknown inference backend"):
        BackendConfig("torchscript")
    with pytest.raises(ConfigError, match="cache folder"):
        make_network("onnxruntime", model, spec, "cpu")
    with pytest.raises(ConfigError, match="fp32"):
        make_network("onnxruntime", model, spec, "cpu", dtype="fp16", checkpoint="x.pt")
    assert make_network("eager", model, spec, "cpu") is None
    cfg = BackendConfig("onnxruntime", cache_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="not available"):
        make_network(dataclasses.replace(cfg, providers=("NoSuchExecutionProvider",)),
                     model, spec, "cpu")


def test_cuda_without_a_cuda_provider_says_what_to_install(predictors, tmp_path):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime here has the CUDA execution provider")
    model, spec = predictors[0].model, predictors[0].spec
    cfg = BackendConfig("onnxruntime", cache_dir=str(tmp_path))
    with pytest.raises(BackendUnavailableError, match="onnxruntime-gpu"):
        make_network(cfg, model, spec, torch.device("cuda"))


def test_providers_follow_the_device_and_the_request(tmp_path):
    from surg_perception.backends.factory import resolve_providers

    cpu = torch.device("cpu")
    assert resolve_providers(BackendConfig("onnxruntime"), cpu) == [("CPUExecutionProvider", {})]
    asked = BackendConfig("onnxruntime", providers=("CPUExecutionProvider",))
    assert resolve_providers(asked, cpu, tmp_path) == [("CPUExecutionProvider", {})]


def test_a_compiled_module_is_accepted_as_the_network(predictors):
    # torch.compile's module forwards len() to the model, so it has no truth value: the
    # Predictor must test `is None`, not `or` (the bench's compile backend died on it).
    model, spec = predictors[0].model, predictors[0].spec
    compiled = torch.compile(model, dynamic=False)  # lazy: nothing compiles until called
    with pytest.raises(TypeError):
        bool(compiled)
    predictor = Predictor(model, spec, network=compiled)
    assert predictor.fork()._network is compiled
