"""TensorRT engine cache: the key logic (pure, always tested) and the build (GPU only)."""

import importlib.util
from pathlib import Path

import pytest

from surg_perception.export.tensorrt import (
    TensorRTUnavailableError,
    cache_key,
    engine_path,
    model_hash,
    require_tensorrt,
)

BASE = dict(model_sha256=model_hash(b"onnx"), tensorrt_version="10.3.0",
            compute_capability=(8, 9), input_shape=(1, 3, 96, 128))


@pytest.mark.parametrize("field,value", [
    ("model_sha256", model_hash(b"other onnx")),
    ("tensorrt_version", "10.4.0"),
    ("compute_capability", (9, 0)),
    ("input_shape", (1, 3, 128, 160)),
    ("precision", "fp32"),
])
def test_cache_key_changes_with_each_component(field, value):
    assert cache_key(**{**BASE, field: value}) != cache_key(**BASE)


def test_cache_key_is_stable_and_names_the_engine(tmp_path):
    key = cache_key(**BASE)
    assert key == cache_key(**BASE) and len(key) == 24
    assert engine_path(tmp_path, key) == tmp_path / f"step_{key}.engine"


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None,
                    reason="tensorrt is installed: the missing-library error cannot occur")
def test_missing_tensorrt_gives_a_clear_error():
    with pytest.raises(TensorRTUnavailableError, match="TensorRT is not installed"):
        require_tensorrt()


def test_engine_is_built_once_then_cached(tmp_path):
    pytest.importorskip("tensorrt", reason="TensorRT is not installed (GPU machines only)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU: TensorRT engines are built on the GPU that runs them")
    from surg_perception.config import load_spec
    from surg_perception.export.onnx import export_onnx
    from surg_perception.export.tensorrt import build_engine
    from surg_perception.models.registry import build_model

    spec = load_spec(Path(__file__).resolve().parents[2] / "config" / "models" / "tiny.yaml")
    onnx_path = export_onnx(build_model(spec.model), spec, tmp_path / "step.onnx")
    messages = []
    first = build_engine(onnx_path, tmp_path / "cache", log=messages.append)
    stamp = first.stat().st_mtime_ns
    again = build_engine(onnx_path, tmp_path / "cache", log=messages.append)
    assert again == first and again.stat().st_mtime_ns == stamp
    assert messages[0].startswith("built") and messages[1].startswith("using cached")
