"""The part loss (CE + soft Dice, a term of the segmentation task) and a short training whose
held-out part IoU beats an all-background prediction and the untrained network."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from surg_perception.data import EndoVis17Dataset
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.evaluation.protocol import ProtocolScores
from surg_perception.models.outputs import ModelOutput
from surg_perception.processing.postprocess import postprocess_batch
from surg_perception.processing.preprocess import preprocess_frame
from surg_perception.training import ato
from surg_perception.training.config import LossWeights, PhaseConfig, TrainConfig
from surg_perception.training.losses import FrameTargets, seg_loss, task_losses, weighted_total
from surg_perception.training.trainer import Trainer

TRAIN_SEQUENCES, HELD_OUT = 6, 2


def _targets(parts: torch.Tensor | None) -> FrameTargets:
    gen = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 8, (2, 32, 32), generator=gen)
    return FrameTargets(masks, [torch.zeros(0, 4)] * 2, [torch.zeros(0, dtype=torch.long)] * 2,
                        torch.full((2,), -1), None, parts)


def test_part_loss_counts_in_the_seg_task_with_its_own_weight():
    gen = torch.Generator().manual_seed(1)
    output = ModelOutput(torch.randn(2, 8, 32, 32, generator=gen),
                         part_logits=torch.randn(2, 4, 32, 32, generator=gen))
    parts = torch.randint(0, 4, (2, 32, 32), generator=gen)
    losses = task_losses(output, _targets(parts), None, (0.1, 0.2))
    assert set(losses) == {"seg", "part"}
    assert torch.equal(losses["part"], seg_loss(output.part_logits, parts))
    seg_only = weighted_total(losses, LossWeights(part=0.0), ["seg"])
    assert torch.allclose(seg_only, losses["seg"])
    double = weighted_total(losses, LossWeights(part=2.0), ["seg"])
    assert torch.allclose(double, losses["seg"] + 2 * losses["part"])
    # ATO: the part head trains with the segmentation decoder, never in the detection phase.
    assert "seg" in ato.active_losses("segmentation") and "seg" in ato.active_losses("end_to_end")
    with pytest.raises(ValueError, match="active tasks"):
        weighted_total(losses, LossWeights(), ato.active_losses("detection"))
    # No part labels (or no part head): no part term.
    assert set(task_losses(output, _targets(None), None, (0.1, 0.2))) == {"seg"}
    assert set(task_losses(output._replace(part_logits=None), _targets(parts), None,
                           (0.1, 0.2))) == {"seg"}


def test_detection_phase_freezes_the_part_head(tiny_spec):
    from surg_perception.models.registry import build_model

    model = build_model(tiny_spec.model)
    base = ato.base_trainable(model)
    detection = ato.trainable_names(model, "detection", base)
    segmentation = ato.trainable_names(model, "segmentation", base)
    head = {n for n, _ in model.named_parameters() if n.startswith("seg_decoder.part_head.")}
    assert head and not head & detection and head <= segmentation


def _held_out_part_iou(model, spec, dataset: EndoVis17Dataset) -> tuple[float, float]:
    """(model, all-background) part IoU over ``dataset``, through processing's post-processing
    (part mask at camera resolution: the frames are larger than the network input)."""
    model.eval()
    scores, background = ProtocolScores(spec.model.seg_classes), ProtocolScores(())
    for indices in dataset.sequence_indices().values():
        state = None
        for index in indices:
            sample = dataset[index]
            images, geometry = preprocess_frame(sample.image, spec.preprocess)
            with torch.no_grad():
                output, state = model(images, state)
            (pred,) = postprocess_batch(output, None, [geometry], spec.model, spec.postprocess)
            assert pred.part_mask.shape == sample.part_mask.shape
            scores.update_parts(pred.part_mask.numpy(), sample.part_mask)
            background.update_parts(np.zeros_like(sample.part_mask), sample.part_mask)
    return scores.summary()["part_iou"], background.summary()["part_iou"]


@pytest.mark.slow
def test_short_training_learns_parts_on_held_out_sequences(tmp_path: Path, tiny_spec):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = tmp_path / "data"
    write_synth_dataset(data, SynthConfig(sequences=TRAIN_SEQUENCES + HELD_OUT, frames=8,
                                          size=(160, 128), seed=5))
    train_root, test_root = tmp_path / "train", tmp_path / "test"
    for k in range(1, TRAIN_SEQUENCES + HELD_OUT + 1):
        side = train_root if k <= TRAIN_SEQUENCES else test_root
        side.mkdir(exist_ok=True)
        (side / f"instrument_dataset_{k}").symlink_to(data / f"instrument_dataset_{k}")
    # Segmentation-decoder phases only: the part head trains where the decoder does.
    cfg = TrainConfig(optimizer="adam", lr=3e-3, weight_decay=0.0, batch_size=2, clip_length=4,
                      clip_stride=2, augment=True, workers=0, amp=False, log_interval=50,
                      ckpt_interval=1000,
                      phases=(PhaseConfig("end_to_end", iterations=120, lr=3e-3),))
    spec = dataclasses.replace(tiny_spec, model=dataclasses.replace(
        tiny_spec.model, hog=dataclasses.replace(tiny_spec.model.hog, enabled=False)))
    trainer = Trainer(spec, cfg, train_root, tmp_path / "run")
    held_out = EndoVis17Dataset(test_root, frame_size=None, parts=True)
    untrained, background = _held_out_part_iou(trainer.model, spec, held_out)
    history = trainer.fit()
    assert "part" in history[0] and history[-1]["part"] < history[0]["part"]
    trained, _ = _held_out_part_iou(trainer.model, spec, held_out)
    assert background == 0.0  # every held-out frame has parts; background scores none
    assert trained > max(background, untrained), (trained, untrained)
