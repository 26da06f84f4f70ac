"""Instance typing on constructed masks: one type per instrument, other pixels untouched."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np
import torch

from surg_perception.classes import ENDOVIS17_INSTRUMENT_TYPES, ENDOVIS18_CLASSES
from surg_perception.config import ModelConfig, PostprocessConfig, spec_from_dict, to_dict
from surg_perception.processing.instance_typing import instance_typing, typing_classes
from surg_perception.processing.postprocess import postprocess_batch
from surg_perception.processing.preprocess import FrameGeometry

TYPES = typing_classes(ENDOVIS17_INSTRUMENT_TYPES, ENDOVIS17_INSTRUMENT_TYPES[1:])


def _two_instruments() -> torch.Tensor:
    """A 40x60 mask: a patchwork shaft (types 2/2/2/5) and, apart, a clean type-6 tool."""
    mask = torch.zeros(40, 60, dtype=torch.uint8)
    mask[5:10, 0:30] = 2
    mask[5:10, 20:27] = 5  # a patch of the wrong type along the same instrument
    mask[30:36, 40:60] = 6
    return mask


def test_a_patchwork_instrument_becomes_its_majority_type_and_others_keep_theirs():
    mask = _two_instruments()
    typed = instance_typing(mask, TYPES)
    assert set(typed[5:10, 0:30].unique().tolist()) == {2}
    assert set(typed[30:36, 40:60].unique().tolist()) == {6}
    assert torch.equal(typed == 0, mask == 0)  # background untouched, no pixel added
    assert torch.equal(instance_typing(typed, TYPES), typed)  # idempotent


def test_a_confident_box_covering_an_instrument_decides_its_type():
    mask = _two_instruments()
    # Detection label 5 ("Vessel Sealer", class 5) around the first instrument, score 0.9;
    # a weaker label-1 box holding only a sliver of it; a confident box on nothing.
    boxes = torch.tensor([[0.0, 4.0, 31.0, 11.0], [25.0, 4.0, 31.0, 11.0], [0, 15, 10, 25.0]])
    scores, labels = torch.tensor([0.9, 0.95, 0.99]), torch.tensor([5, 1, 3])
    typed = instance_typing(mask, TYPES, boxes, scores, labels, threshold=0.5, cover=0.5)
    assert set(typed[5:10, 0:30].unique().tolist()) == {5}
    assert set(typed[30:36, 40:60].unique().tolist()) == {6}  # no box covers it: majority
    assert typed[15:25, 0:10].eq(0).all()  # a box never paints background
    # Below the threshold the box does not count: back to the majority vote.
    low = instance_typing(mask, TYPES, boxes, torch.tensor([0.4, 0.4, 0.4]), labels)
    assert set(low[5:10, 0:30].unique().tolist()) == {2}


def test_touching_instruments_are_one_component_that_box_fill_splits_again():
    from surg_perception.processing.box_fill import box_fill, det_to_seg_map

    mask = torch.zeros(20, 40, dtype=torch.uint8)
    mask[5:15, 0:20] = 3  # instrument A (type 3) ...
    mask[5:15, 20:40] = 4  # ... touching instrument B (type 4): one component
    mask[5:15, 18:22] = 4
    boxes = torch.tensor([[0.0, 5.0, 19.0, 15.0], [21.0, 5.0, 40.0, 15.0]])  # 190 px each
    scores, labels = torch.tensor([0.9, 0.8]), torch.tensor([3, 4])
    typed = instance_typing(mask, TYPES, boxes, scores, labels)
    # Neither box holds half of the 400 pixels: the majority (220 px of type 4) types it all.
    assert typed[5:15].unique().tolist() == [4]
    mapping = det_to_seg_map(ENDOVIS17_INSTRUMENT_TYPES[1:], ENDOVIS17_INSTRUMENT_TYPES)
    split = box_fill(typed, boxes, scores, labels, mapping, 0.5)
    assert split[5:15, 0:19].unique().tolist() == [3] and split[5:15, 19:].unique().tolist() == [4]


def test_masks_without_instrument_types_are_left_alone():
    names = tuple(name for name, _ in ENDOVIS18_CLASSES)  # parts and organs, not types
    parts = typing_classes(names, ())
    assert parts.type_ids == ()
    mask = torch.tensor([[1, 1, 2, 3], [0, 4, 4, 0]], dtype=torch.uint8)
    assert torch.equal(instance_typing(mask, parts), mask)
    # Non-type classes inside a type vocabulary are not merged into instruments either.
    mixed = typing_classes(("background", "Bipolar Forceps", "thread"), ("Bipolar Forceps",))
    assert mixed.type_ids == (1,) and mixed.det_to_seg == (1,)
    mask = torch.tensor([[1, 2, 2, 2]], dtype=torch.uint8)
    assert instance_typing(mask, mixed).tolist() == [[1, 2, 2, 2]]


class Output(NamedTuple):
    seg_logits: torch.Tensor
    det_logits: torch.Tensor | None = None
    det_deltas: torch.Tensor | None = None
    activity_logits: torch.Tensor | None = None
    hog: torch.Tensor | None = None


def test_postprocess_types_instances_by_default_and_old_specs_load_it():
    mask = _two_instruments()
    logits = torch.nn.functional.one_hot(mask.long(), 8).permute(2, 0, 1)[None].float()
    geometry = FrameGeometry(image_size=(40, 60), crop_box=(0, 0, 60, 40), input_size=(40, 60))
    cfg = PostprocessConfig()
    assert cfg.instance_typing
    (on,) = postprocess_batch(Output(logits), None, [geometry], ModelConfig(), cfg)
    off_cfg = dataclasses.replace(cfg, instance_typing=False)
    (off,) = postprocess_batch(Output(logits), None, [geometry], ModelConfig(), off_cfg)
    assert torch.equal(off.mask, mask) and not torch.equal(on.mask, mask)
    assert set(on.mask[5:10, 0:30].unique().tolist()) == {2}
    data = to_dict(spec_from_dict({}))
    del data["postprocess"]["instance_typing"], data["postprocess"]["instance_cover"]
    assert spec_from_dict(data).postprocess.instance_typing is True
    assert np.array_equal(on.mask.numpy(), instance_typing(mask, TYPES).numpy())


def test_evaluate_reports_type_scores_with_and_without_instance_typing(tiny_spec, tmp_path):
    from surg_perception.data.endovis17 import EndoVis17Dataset
    from surg_perception.data.synth import SynthConfig, write_synth_dataset
    from surg_perception.evaluation.evaluate import ROWS, evaluate
    from surg_perception.models.registry import build_model
    from surg_perception.predictor import Predictor

    write_synth_dataset(tmp_path, SynthConfig(sequences=1, frames=3, size=(128, 96), seed=4))
    torch.manual_seed(0)
    predictor = Predictor(build_model(tiny_spec.model).eval(), tiny_spec)
    report = evaluate(predictor, EndoVis17Dataset(tmp_path, frame_size=None))
    overall = report["overall"]
    assert set(ROWS) <= set(overall)
    # Typing changes which type a pixel has, never whether it is an instrument.
    for key in ("binary_dice", "binary_iou"):
        np.testing.assert_equal(overall["instance_typing_on"][key], overall["box_fill_off"][key])
    assert predictor.postprocess.instance_typing is False  # the rows re-apply it
