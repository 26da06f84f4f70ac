"""Contract tests every registered configuration gets: subclass ModelContract, set spec().

Each check maps to docs/design.md's model contract: finite training losses on every task,
eval-mode shapes, a gradient for every trainable parameter, save -> load gives identical
outputs, priors match the detection outputs, no HOG output outside training.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from surg_perception.checkpoint import load_model, save_checkpoint
from surg_perception.config import ModelSpec, load_spec
from surg_perception.data.clips import ClipBatch
from surg_perception.data.endovis17 import PART_CLASSES
from surg_perception.models.outputs import PerceptionModel
from surg_perception.models.registry import build_model
from surg_perception.training.config import LossWeights
from surg_perception.training.losses import TASK_OF
from surg_perception.training.step import clip_losses


def _clip_batch(spec: ModelSpec, raw: np.ndarray, frames: int) -> ClipBatch:
    """A collated batch of ``raw`` frames (shifted per step) with synthetic targets."""
    cfg = spec.model
    b, h, w, _ = raw.shape
    gen = torch.Generator().manual_seed(0)
    clip = np.stack([np.clip(raw.astype(np.int16) + 25 * t, 0, 255).astype(np.uint8)
                     for t in range(frames)], axis=1)  # [B, T, H, W, 3]
    boxes = torch.tensor([[0.1, 0.2, 0.5, 0.6], [0.55, 0.1, 0.9, 0.45]]) * torch.tensor(
        [w, h, w, h])
    labels = torch.tensor([1, len(cfg.det_classes)])
    parts = None  # the part head's targets, when the model has one
    if cfg.part_classes:
        parts = torch.randint(0, len(cfg.part_classes), (b, frames, h, w), generator=gen)
    return ClipBatch(
        images=torch.from_numpy(clip),
        masks=torch.randint(0, len(cfg.seg_classes), (b, frames, h, w), generator=gen),
        boxes=[[boxes] * frames for _ in range(b)],
        labels=[[labels] * frames for _ in range(b)],
        activity=torch.arange(b).repeat_interleave(frames).reshape(b, frames),
        sequences=["contract"] * b,
        frames=torch.arange(frames).repeat(b, 1),
        part_masks=parts,
    )


class ModelContract:
    """Subclasses provide a ``spec`` fixture; they may change ``size`` and ``frames``."""

    size: tuple[int, int] = (96, 160)  # non-square, odd multiples of 32
    frames: int = 1  # memory models run two frames so the memory's read path is exercised

    @staticmethod
    def build(spec: ModelSpec):
        torch.manual_seed(0)
        return build_model(spec.model)

    def images(self, batch: int = 2) -> tuple[torch.Tensor, np.ndarray]:
        rng = np.random.default_rng(1)
        raw = rng.integers(0, 256, size=(batch, *self.size, 3), dtype=np.uint8)
        return torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255.0 - 0.5, raw

    def run(self, model, images):
        state = None
        for step in range(self.frames):
            out, state = model(images + 0.1 * step, state)
        return out, state

    def test_train_losses_finite_and_every_parameter_gets_a_gradient(self, spec):
        """The trainer's own clip -> loss recipe (training.step.clip_losses), every task."""
        model = self.build(spec).train()
        _, raw = self.images()
        spec = dataclasses.replace(spec, preprocess=dataclasses.replace(
            spec.preprocess, input_size=self.size))
        losses = clip_losses(model, _clip_batch(spec, raw, self.frames), spec, LossWeights(),
                             TASK_OF.values(), torch.device("cpu"))
        tasks = {"seg", "det_loc", "det_conf", "activity", "hog"}
        assert set(losses.terms) == tasks | ({"part"} if spec.model.part_classes else set())
        for name, value in losses.terms.items():
            assert torch.isfinite(value), name
        assert torch.isfinite(losses.total)
        losses.total.backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert missing == []

    def test_type_loss_joins_the_clip_loss_when_weighted(self, spec):
        """``LossWeights.seg_type > 0``: clip_losses adds the foreground type CE, weighted."""
        _, raw = self.images()
        spec = dataclasses.replace(spec, preprocess=dataclasses.replace(
            spec.preprocess, input_size=self.size))
        batch = _clip_batch(spec, raw, self.frames)
        totals = {}
        for weight in (0.0, 2.0):
            model = self.build(spec).train()  # same seed: same weights, same outputs
            losses = clip_losses(model, batch, spec, LossWeights(seg_type=weight), {"seg"},
                                 torch.device("cpu"))
            assert ("seg_type" in losses.terms) == (weight > 0)
            totals[weight] = (losses.total.item(), losses.terms.get("seg_type"))
        (off, _), (on, term) = totals[0.0], totals[2.0]
        assert term is not None and term > 0
        assert abs(on - (off + 2.0 * term.item())) < 1e-4 * max(1.0, abs(on))

    def test_satisfies_the_model_protocol(self, spec):
        model = self.build(spec)
        assert isinstance(model, PerceptionModel)
        assert model.has_memory == spec.model.memory.enabled
        assert model.has_detection and model.has_activity
        assert model.has_parts == bool(spec.model.part_classes)

    def test_eval_shapes_and_no_hog(self, spec):
        model = self.build(spec).eval()
        cfg = spec.model
        images, _ = self.images(batch=1)
        with torch.no_grad():
            out, state = self.run(model, images)
        h, w = self.size
        priors = model.priors(h, w)
        assert out.seg_logits.shape == (1, len(cfg.seg_classes), h, w)
        assert out.det_logits.shape == (1, len(priors), len(cfg.det_classes) + 1)
        assert out.det_deltas.shape == (1, len(priors), 4)
        assert out.activity_logits.shape == (1, len(cfg.activity_classes))
        assert out.hog is None
        parts = len(cfg.part_classes)
        assert (out.part_logits is None if not parts
                else out.part_logits.shape == (1, parts, h, w))
        assert (state is None) == (not cfg.memory.enabled)
        assert priors.min() >= 0 and priors.max() <= 1

    def test_save_load_gives_identical_outputs(self, spec, tmp_path):
        model = self.build(spec).eval()
        images, _ = self.images(batch=1)
        path = save_checkpoint(tmp_path / "m.pt", model, spec, extra={"epoch": 3})
        loaded, loaded_spec = load_model(path)
        assert loaded_spec.model.encoder == spec.model.encoder
        with torch.no_grad():
            a, _ = self.run(model, images)
            b, _ = self.run(loaded, images)
        for x, y in zip(a, b):
            assert (x is None and y is None) or torch.equal(x, y)


def _open_memory(spec: ModelSpec, specs) -> ModelSpec:
    """Admit every frame (random weights are never confident) so the global read is used."""
    memory = dataclasses.replace(spec.model.memory, alpha=-1e9, beta=1e9)
    return specs.with_model(spec, memory=memory)


class TestTinyMemoryOff(ModelContract):
    @pytest.fixture
    def spec(self, specs):
        tiny = specs.tiny()
        return specs.with_model(tiny, memory=dataclasses.replace(tiny.model.memory,
                                                                 enabled=False))


class TestTinyMemoryOn(ModelContract):
    frames = 2

    @pytest.fixture
    def spec(self, specs):
        return _open_memory(specs.tiny(), specs)


class TestVggSmall(ModelContract):
    size = (64, 96)

    @pytest.fixture
    def spec(self, specs):
        return specs.vgg()


class TestVggSmallParts(ModelContract):
    """The transposed head's part classifier (shared upsampling) under the whole contract."""

    size = (64, 96)

    @pytest.fixture
    def spec(self, specs):
        return specs.with_model(specs.vgg(), part_classes=PART_CLASSES)


class TestVggSmallMemoryOn(ModelContract):
    size = (64, 96)
    frames = 2

    @pytest.fixture
    def spec(self, specs):
        return _open_memory(specs.vgg(memory=True), specs)


class TestLight(ModelContract):
    frames = 2

    @pytest.fixture
    def spec(self, specs):
        return _open_memory(load_spec(specs.config_dir / "light.yaml"), specs)


@pytest.mark.parametrize("size", [(32, 32), (160, 96)])
def test_tiny_runs_at_other_sizes(size, tiny):
    model = build_model(tiny.model).eval()
    with torch.no_grad():
        out, _ = model(torch.zeros(1, 3, *size))
    assert out.seg_logits.shape[-2:] == size
    assert out.det_logits.shape[1] == len(model.priors(*size))
