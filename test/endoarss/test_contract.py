"""Model contract (docs/design.md) for the tiny EndoARSS: shapes, loss, gradients, I/O."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from surg_perception.checkpoint import load_model, save_checkpoint
from surg_perception.config import load_spec
from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.models.endoarss import EndoARSS, build_endoarss, trainable_parameter_groups
from surg_perception.models.outputs import PerceptionModel
from surg_perception.models.registry import build_model

CONFIGS = Path(__file__).resolve().parents[2] / "config" / "models"
ONNX_ATOL = 1e-4  # fp32 eager vs onnxruntime CPU, absolute


def test_eval_outputs_follow_the_contract(tiny_model, tiny_spec, images):
    out, state = tiny_model.eval()(images)
    cfg = tiny_spec.model
    assert out.seg_logits.shape == (2, len(cfg.seg_classes), *images.shape[-2:])
    assert out.activity_logits.shape == (2, len(cfg.activity_classes))
    assert out.det_logits is None and out.det_deltas is None and out.hog is None
    assert state is None
    assert tiny_model.has_activity and not tiny_model.has_detection


def test_state_passes_through_as_none(tiny_model, images):
    _, state = tiny_model.eval()(images, state=None)
    assert tiny_model(images, state=state)[1] is None


def test_satisfies_the_model_protocol(tiny_model):
    assert isinstance(tiny_model, PerceptionModel)
    assert (tiny_model.has_detection, tiny_model.has_activity, tiny_model.has_memory) == (
        False, True, False)


def test_priors_are_refused_without_detection_head(tiny_model):
    with pytest.raises(ConfigError, match="no detection head"):
        tiny_model.priors(96, 128)


def test_wrong_image_layout_is_an_image_format_error(tiny_model):
    with pytest.raises(ImageFormatError, match=r"\[B, 3, H, W\]"):
        tiny_model(torch.zeros(1, 96, 128, 3))


def test_train_loss_is_finite_and_every_trainable_param_gets_a_gradient(
    tiny_model, images, perturb_zero_init, task_losses
):
    tiny_model.train()
    seg, act = task_losses(tiny_model, images)
    assert torch.isfinite(seg) and torch.isfinite(act)
    (seg + act).backward()
    trainable = [(n, p) for n, p in tiny_model.named_parameters() if p.requires_grad]
    assert all(p.grad is not None for _, p in trainable)
    # zero-init LoRA/adapter "up" factors leave their "down" partners a zero gradient at
    # init; once they are non-zero, every trainable parameter must receive signal
    tiny_model.zero_grad(set_to_none=True)
    perturb_zero_init(tiny_model)
    sum(task_losses(tiny_model, images)).backward()
    silent = [n for n, p in trainable if p.grad is None or torch.count_nonzero(p.grad) == 0]
    assert silent == []


def test_registry_builds_the_family(tiny_spec):
    model = build_model(tiny_spec.model)
    assert isinstance(model, EndoARSS)
    trainable_parameter_groups(model)


def test_save_load_gives_identical_outputs(
    tmp_path, tiny_model, tiny_spec, images, perturb_zero_init
):
    perturb_zero_init(tiny_model)  # so LoRA/adapters matter in the comparison
    tiny_model.eval()
    expected, _ = tiny_model(images)
    torch.manual_seed(123)  # the rebuilt model starts from different random weights
    loaded, spec = load_model(save_checkpoint(tmp_path / "arss.pt", tiny_model, tiny_spec))
    actual, _ = loaded(images)
    assert spec == tiny_spec
    assert torch.equal(actual.seg_logits, expected.seg_logits)
    assert torch.equal(actual.activity_logits, expected.activity_logits)


@pytest.mark.parametrize("option", ["detection", "memory", "hog"])
def test_unsupported_options_are_refused(tiny_spec, option):
    section = getattr(tiny_spec.model, option)
    enabled = dataclasses.replace(section, enabled=True)
    cfg = dataclasses.replace(tiny_spec.model, **{option: enabled})
    with pytest.raises(ConfigError, match=f"model.{option}.enabled"):
        build_endoarss(cfg)


def test_small_config_loads_and_builds():
    spec = load_spec(CONFIGS / "endoarss_small.yaml")
    height, width = spec.preprocess.input_size
    assert spec.model.family == "endoarss" and height % 32 == 0 and width % 32 == 0
    model = build_endoarss(spec.model)
    assert model.backbone.embed_dim == 384 and len(model.backbone.vit.blocks) == 12
    lora = trainable_parameter_groups(model)["shared_lora"]
    assert sum(p.numel() for p in lora) == 12 * 2 * 2 * 384 * 4  # blocks x {q,v} x {down,up}


class _Exportable(torch.nn.Module):
    """ONNX needs tensors, not a NamedTuple with None fields."""

    def __init__(self, model: EndoARSS) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, _ = self.model(images)
        return out.seg_logits, out.activity_logits


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # export is size-specialised
@pytest.mark.filterwarnings("ignore:Constant folding:UserWarning")
@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript:DeprecationWarning")
def test_onnx_export_matches_eager(tmp_path, tiny_model, images, perturb_zero_init):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    perturb_zero_init(tiny_model)
    wrapper = _Exportable(tiny_model).eval()
    path = tmp_path / "arss.onnx"
    torch.onnx.export(
        wrapper, (images,), str(path), dynamo=False, opset_version=17,
        input_names=["images"], output_names=["seg_logits", "activity_logits"],
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    seg, act = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        expected_seg, expected_act = wrapper(images)
    np.testing.assert_allclose(seg, expected_seg.numpy(), rtol=0, atol=ONNX_ATOL)
    np.testing.assert_allclose(act, expected_act.numpy(), rtol=0, atol=ONNX_ATOL)
