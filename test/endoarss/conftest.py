"""Shared fixtures for the EndoARSS tests: the tiny config (2-block, 64-wide ViT) on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from surg_perception.config import ModelSpec, load_spec
from surg_perception.models.endoarss import EndoARSS, build_endoarss

REPO = Path(__file__).resolve().parents[2]
TINY_YAML = REPO / "config" / "models" / "endoarss_tiny.yaml"
SMALL_YAML = REPO / "config" / "models" / "endoarss_small.yaml"


@pytest.fixture(scope="session")
def tiny_spec() -> ModelSpec:
    return load_spec(TINY_YAML)


@pytest.fixture
def tiny_model(tiny_spec: ModelSpec) -> EndoARSS:
    torch.manual_seed(0)
    return build_endoarss(tiny_spec.model)


@pytest.fixture
def images(tiny_spec: ModelSpec) -> torch.Tensor:
    """Two normalised frames at the tiny config's input size, [2, 3, 96, 128]."""
    height, width = tiny_spec.preprocess.input_size
    return torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(1))


def _perturb_zero_init(model: torch.nn.Module, std: float = 0.05) -> None:
    """Give LoRA/adapter ``up`` factors (zero at init) random values.

    At init those factors are zero, so their ``down`` partners get an exactly-zero gradient;
    tests that look for non-zero gradients everywhere start from a perturbed model.
    """
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("up.weight"):
                param.copy_(torch.randn(param.shape, generator=generator) * std)


def _task_losses(model: EndoARSS, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(segmentation, activity) cross-entropy losses against fixed random targets."""
    out, _ = model(images)
    generator = torch.Generator().manual_seed(3)
    batch, classes, height, width = out.seg_logits.shape
    seg_target = torch.randint(classes, (batch, height, width), generator=generator)
    act_target = torch.randint(out.activity_logits.shape[1], (batch,), generator=generator)
    seg = torch.nn.functional.cross_entropy(out.seg_logits, seg_target)
    act = torch.nn.functional.cross_entropy(out.activity_logits, act_target)
    return seg, act


@pytest.fixture
def perturb_zero_init():
    return _perturb_zero_init


@pytest.fixture
def task_losses():
    return _task_losses
