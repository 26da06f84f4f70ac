"""Predictor on the tiny model: result contract, memory resets, determinism, input checks."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from surg_perception.checkpoint import save_checkpoint
from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.models.registry import build_model
from surg_perception.predictor import (
    DTYPES,
    FrameResult,
    Predictor,
    resolve_device,
    resolve_dtype,
    size_reset_reason,
)
from surg_perception.processing.colors import colorize_np, palette_for


@pytest.fixture
def predictor(tiny_model, tiny_spec) -> Predictor:
    return Predictor(tiny_model, tiny_spec)


def test_frame_result_contract_on_odd_non_square_frame(predictor, tiny_spec, random_frame):
    result = predictor.step(random_frame(101, 157), want_color_mask=True)
    assert isinstance(result, FrameResult)
    assert result.mask.shape == (101, 157) and result.mask.dtype == np.uint8
    assert int(result.mask.max()) < len(tiny_spec.model.seg_classes)
    palette = palette_for(tiny_spec.model.seg_classes)
    assert np.array_equal(result.color_mask, colorize_np(result.mask, palette))
    n = len(result.scores)
    assert n > 0  # tiny.yaml's score threshold (0.05) lets an untrained model's boxes through
    assert result.boxes.shape == (n, 4) and result.boxes.dtype == np.float32
    assert result.scores.dtype == np.float32 and result.labels.dtype == np.int64
    assert result.labels.min() >= 1 and result.labels.max() <= len(tiny_spec.model.det_classes)
    x0, y0, x1, y1 = result.boxes.T
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x1 <= 157).all() and (y1 <= 101).all()
    assert (x0 <= x1).all() and (y0 <= y1).all()
    assert result.activity_probs.shape == (len(tiny_spec.model.activity_classes),)
    assert result.activity_probs.dtype == np.float32
    assert result.activity_probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert {"host_to_device", "preprocess", "network", "postprocess", "device_to_host",
            "total"} <= set(result.timings_ms)
    assert result.memory == {"local_size": 1, "global_size": 0, "reset": True}
    assert predictor.step(random_frame(101, 157)).color_mask is None


def test_reset_clears_memory(predictor, random_frame):
    sizes = [predictor.step(random_frame(64, 80, seed)).memory["local_size"] for seed in range(3)]
    assert sizes == [1, 2, 3]
    predictor.reset()
    assert predictor.memory_info() == {"local_size": 0, "global_size": 0}
    assert predictor.step(random_frame(64, 80)).memory == {
        "local_size": 1, "global_size": 0, "reset": True
    }


def test_frame_size_change_resets_memory(predictor, random_frame):
    predictor.step(random_frame(64, 80))
    assert predictor.step(random_frame(64, 80)).memory["reset"] is False
    changed = predictor.step(random_frame(65, 80))
    assert changed.memory["reset"] is True and changed.memory["local_size"] == 1


def test_same_frames_same_outputs(tiny_model, tiny_spec, random_frame):
    frames = [random_frame(64, 80, seed) for seed in range(3)]
    first = Predictor(copy.deepcopy(tiny_model), tiny_spec)
    runs = [[first.step(f) for f in frames]]
    first.reset()
    runs.append([first.step(f) for f in frames])
    second = Predictor(copy.deepcopy(tiny_model), tiny_spec)
    runs.append([second.step(f) for f in frames])
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            for field in ("mask", "boxes", "scores", "labels", "activity_probs"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_memory_changes_the_output(predictor, random_frame):
    frame = random_frame(64, 80)
    fresh = predictor.step(frame)
    later = [predictor.step(frame) for _ in range(2)][-1]
    assert not np.array_equal(fresh.activity_probs, later.activity_probs)


def test_live_postprocess_replacement(predictor, random_frame):
    frame = random_frame(64, 80)
    assert len(predictor.step(frame).scores) > 0
    # the SSD's boxes only: an instrument's box scores its type vote, 1.0 when uniform
    predictor.postprocess = dataclasses.replace(predictor.postprocess, score_threshold=0.99,
                                                instance_boxes=False)
    assert len(predictor.step(frame).scores) == 0
    with pytest.raises(ConfigError, match="nms_threshold"):
        predictor.postprocess = dataclasses.replace(predictor.postprocess, nms_threshold=2.0)


def test_black_border_crop_maps_back(tiny_model, tiny_spec, random_frame):
    spec = dataclasses.replace(
        tiny_spec, preprocess=dataclasses.replace(tiny_spec.preprocess, crop="black_border")
    )
    frame = np.zeros((101, 157, 3), dtype=np.uint8)
    frame[10:90, 20:140] = random_frame(80, 120) | 64  # content brighter than the threshold
    result = Predictor(tiny_model, spec).step(frame)
    outside = np.ones((101, 157), dtype=bool)
    outside[10:90, 20:140] = False
    assert result.mask.shape == (101, 157) and (result.mask[outside] == 0).all()
    assert (result.boxes[:, [0, 2]] >= 20).all() and (result.boxes[:, [0, 2]] <= 140).all()
    assert (result.boxes[:, [1, 3]] >= 10).all() and (result.boxes[:, [1, 3]] <= 90).all()


@pytest.mark.parametrize(
    "frame, shape",
    [
        (np.zeros((64, 80), np.uint8), "(64, 80)"),
        (np.zeros((64, 80, 4), np.uint8), "(64, 80, 4)"),
        (np.zeros((64, 80, 3), np.float32), "(64, 80, 3)"),
        (np.zeros((1, 64, 80, 3), np.uint8), "(1, 64, 80, 3)"),
    ],
)
def test_bad_input_raises_image_format_error(predictor, frame, shape):
    with pytest.raises(ImageFormatError) as info:
        predictor.step(frame)
    assert shape in str(info.value)
    assert predictor.memory_info()["local_size"] == 0  # a rejected frame leaves no trace


def test_dtypes(tiny_model, tiny_spec):
    assert resolve_dtype("bf16") is torch.bfloat16
    assert resolve_dtype(torch.float16) is torch.float16
    with pytest.raises(ConfigError, match="fp32, fp16, bf16"):
        resolve_dtype("int8")
    with pytest.raises(ConfigError, match="use fp32 on cpu"):
        Predictor(tiny_model, tiny_spec, dtype="fp16")


def test_one_dtype_table_and_device_rule():
    assert DTYPES == {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="--device='gpu0' is not a torch device"):
        resolve_device("gpu0", "--device")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="model.device='cuda' but CUDA is not available"):
            resolve_device("cuda")
    params = pytest.importorskip("surg_perception.ros.params")  # the node's choices
    assert params.DTYPES == tuple(DTYPES)


def test_size_reset_rule():
    assert size_reset_reason(None, (10, 20)) == ""
    assert size_reset_reason((10, 20), (10, 20)) == ""
    assert size_reset_reason((10, 20), (20, 10)) == "image size changed from (10, 20) to (20, 10)"


def test_injected_network_runs_the_step(tiny_model, tiny_spec, random_frame):
    calls, model = [], copy.deepcopy(tiny_model)

    def network(images, state):
        calls.append(tuple(images.shape))
        return model(images, state=state)

    frame = random_frame(64, 80)
    injected = Predictor(model, tiny_spec, network=network).step(frame)
    eager = Predictor(copy.deepcopy(tiny_model), tiny_spec).step(frame)
    assert calls == [(1, 3, *tiny_spec.preprocess.input_size)]
    assert np.array_equal(injected.mask, eager.mask)
    np.testing.assert_array_equal(injected.scores, eager.scores)


def test_warmup_leaves_memory_empty(predictor):
    predictor.warmup(64, 80)
    assert predictor.memory_info() == {"local_size": 0, "global_size": 0}


def test_from_checkpoint_matches_the_model(tmp_path, tiny_model, tiny_spec, random_frame):
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, tiny_model, tiny_spec)
    loaded = Predictor.from_checkpoint(path, device="cpu", dtype="fp32")
    frame = random_frame(64, 80)
    expected = Predictor(tiny_model, tiny_spec).step(frame)
    got = loaded.step(frame)
    np.testing.assert_array_equal(got.mask, expected.mask)
    np.testing.assert_array_equal(got.boxes, expected.boxes)


def test_model_without_memory(tiny_spec, random_frame):
    cfg = dataclasses.replace(
        tiny_spec.model, memory=dataclasses.replace(tiny_spec.model.memory, enabled=False)
    )
    spec = dataclasses.replace(tiny_spec, model=cfg)
    predictor = Predictor(build_model(cfg), spec)
    first, second = (predictor.step(random_frame(64, 80, seed)) for seed in range(2))
    assert first.memory == {"local_size": 0, "global_size": 0, "reset": True}
    assert second.memory["reset"] is False and second.mask.shape == (64, 80)
