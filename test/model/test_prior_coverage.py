"""Prior coverage and its tuning on constructed boxes; AP-MTL's published priors; configs."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from surg_perception.config import DetectionConfig, load_spec, spec_from_dict, to_dict
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.model_info import _layouts, coverage_report, dataset_boxes, main
from surg_perception.ops.prior_coverage import prior_coverage
from surg_perception.ops.prior_tuning import Layout, suggest_geometry
from surg_perception.ops.priors import cell_shapes, make_priors, priors_per_location

from .conftest import CONFIG_DIR

ONE_MAP = DetectionConfig(min_scales=(0.25,), max_scales=(0.25,), aspect_ratios=((),))


def test_coverage_counts_boxes_with_a_prior_of_iou_half():
    # One 4x4 map at 64x64, squares of 0.25: cell centres at 0.125 + k / 4.
    priors = make_priors(ONE_MAP, [(4, 4)], (64, 64))
    on_cell = [0.0, 0.0, 0.25, 0.25]  # exactly prior 0 (and its twin square): IoU 1
    shifted = [0.05, 0.0, 0.30, 0.25]  # IoU 0.2 / 0.3 = 0.67 with cell 0
    thin = [0.0, 0.0, 0.25, 0.06]  # IoU 0.24 at best: uncovered
    result = prior_coverage(torch.tensor([on_cell, shifted, thin]), priors)
    assert result.boxes == 3
    assert math.isclose(result.covered, 2 / 3, rel_tol=1e-6)
    assert result.median_positives == 2  # 2 (both squares of one cell), 2, 0
    assert math.isclose(result.median_best_iou, 2 / 3, rel_tol=1e-5)
    assert math.isnan(prior_coverage(torch.zeros(0, 4), priors).covered)


def test_suggestion_adds_shapes_that_cover_wide_boxes():
    layout = Layout((64, 64), [(8, 8)])
    # Wide, flat boxes (0.5 x 0.1) on every row of cells: the square priors cover none.
    cy = (torch.arange(8) + 0.5) / 8
    x, y = torch.meshgrid(torch.linspace(0, 0.5, 6), cy - 0.05, indexing="ij")
    boxes = torch.stack([x, y, x + 0.5, y + 0.1], dim=-1).reshape(-1, 4)
    base = dataclasses.replace(ONE_MAP, min_scales=(0.1,), max_scales=(0.1,))
    before = prior_coverage(boxes, make_priors(base, layout.feature_sizes, (64, 64)))
    assert before.covered == 0
    tuned = suggest_geometry(base, boxes, [layout], target=1.0, min_positives=1)
    after = prior_coverage(boxes, make_priors(tuned, layout.feature_sizes, (64, 64)))
    assert after.covered == 1.0
    assert tuned.min_scales == base.min_scales  # the SSD part is kept
    (shapes,) = tuned.extra_shapes
    assert all(w > 3 * h for w, h in shapes)  # it chose wide shapes
    # A re-run starts from the SSD part again instead of stacking a second suggestion.
    assert suggest_geometry(tuned, boxes, [layout], target=1.0, min_positives=1) == tuned


def test_extra_shapes_follow_the_ssd_shapes_of_each_cell():
    cfg = dataclasses.replace(ONE_MAP, extra_shapes=(((0.5, 0.1),),))
    assert priors_per_location(cfg) == (3,)
    priors = make_priors(cfg, [(1, 2)], (64, 128), dtype=torch.float64)
    assert priors.shape == (6, 4)
    # cell 0: square, square, extra; widths are fractions of W=128 scaled from H=64
    assert torch.allclose(priors[2], torch.tensor([0.25, 0.5, 0.25, 0.1], dtype=torch.float64))
    assert math.isclose(priors[3, 0].item(), 0.75)


def test_old_spec_dicts_load_with_the_old_geometry(tiny):
    data = to_dict(tiny)
    for key in ("extra_shapes", "scale_reference"):  # fields newer than the first checkpoints
        del data["model"]["detection"][key]
    old = spec_from_dict(data).model.detection
    assert old.extra_shapes == () and old.scale_reference == 1.0
    assert priors_per_location(old) == priors_per_location(DetectionConfig())


PUBLISHED_MIN = (100, 198, 356, 518, 640, 810)  # AP-MTL public code, pixels at min_dim 1024
PUBLISHED_MAX = (198, 356, 518, 640, 810, 1024)


def test_apmtl_uses_the_published_prior_sizes_and_count():
    spec = load_spec(CONFIG_DIR / "apmtl.yaml")
    cfg = spec.model.detection
    for k, (low, high) in enumerate(zip(PUBLISHED_MIN, PUBLISHED_MAX)):
        square, between, *_ = cell_shapes(cfg, k)
        assert square[0] * 1024 == low  # exact: sizes are pixels of a 1024-pixel side
        assert math.isclose(between[0] * 1024, math.sqrt(low * high), rel_tol=1e-12)
    (layout,) = _layouts(spec, [(1024, 1024)])
    assert layout.feature_sizes == [(128, 128), (64, 64), (32, 32), (16, 16), (14, 14), (12, 12)]
    assert priors_per_location(cfg) == (4, 6, 6, 6, 4, 4)
    assert len(make_priors(cfg, layout.feature_sizes, layout.image_size)) == 99_152


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory):
    """Synthetic boxes from a seed the shipped shapes were not tuned on (tuning: seed 10).

    320x256 frames: at 160x128 an instrument tip entering the view is a box of 1-2 pixels,
    smaller than a network input pixel, which no prior (and no detector) resolves.
    """
    root = tmp_path_factory.mktemp("cover") / "data"
    write_synth_dataset(root, SynthConfig(sequences=24, frames=4, size=(320, 256), seed=21))
    return root


@pytest.mark.parametrize("name, sizes", [("tiny.yaml", [(96, 128)]),
                                         ("light.yaml", [(256, 320), (512, 640)])])
def test_shipped_configs_cover_synthetic_boxes(held_out, name, sizes):
    report = coverage_report(load_spec(CONFIG_DIR / name), [held_out], sizes)
    assert report["boxes"] > 50
    for row in report["current"]:
        assert row["covered"] >= 0.95, (
            f"{name} at {row['input_size']}: {row['covered']:.1%} of the synthetic boxes have "
            "a prior of IoU >= 0.5; re-derive extra_shapes with `surg-perception model-info "
            f"config/models/{name} --prior-coverage DATA --suggest` (see model_info.py)")


def test_cli_prints_coverage_and_a_suggestion(held_out, capsys):
    config = str(CONFIG_DIR / "tiny.yaml")
    assert main([config, "--prior-coverage", str(held_out), "--suggest"]) == 0
    out = capsys.readouterr().out
    assert "of boxes with a prior of IoU >= 0.5" in out and "extra_shapes:" in out
    assert main([config, "--suggest"]) == 2  # nothing to cover
    assert "--prior-coverage" in capsys.readouterr().err
    assert len(dataset_boxes([held_out])) > 0
