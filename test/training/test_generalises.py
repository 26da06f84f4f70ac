"""The learning pipeline must generalise, not memorise: a short CPU training on a small
synthetic set beats trivial predictors on HELD-OUT sequences (never seen in training).

This is the CI guard of the held-out benchmark (scripts/benchmark_synthetic.sh): a broken
input pipeline, loss, prior layout or post-processing makes the model no better than a
constant prediction, and this test fails. The thresholds are the trivial baselines computed
on the same held-out frames, not hand-picked numbers.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

from surg_perception.config import load_spec
from surg_perception.data import EndoVis17Dataset
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.evaluation.evaluate import evaluate, published_row
from surg_perception.evaluation.metrics import nanmean, segmentation_scores
from surg_perception.predictor import Predictor
from surg_perception.training.config import PhaseConfig, TrainConfig
from surg_perception.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
TRAIN_SEQUENCES, HELD_OUT = 20, 3


def _baselines(dataset: EndoVis17Dataset, train: EndoVis17Dataset) -> dict[str, float]:
    """Scores of constant predictions: every pixel instrument / the most frequent type."""
    counts = np.bincount(np.concatenate([train[i].mask.ravel() for i in range(len(train))]),
                         minlength=8)
    frequent = int(np.argmax(counts[1:]) + 1)
    binary, typed = [], []
    for i in range(len(dataset)):
        truth = dataset[i].mask
        constant = np.full_like(truth, frequent)
        binary.append(segmentation_scores(constant, truth, 8)["binary_dice"])
        typed.append(segmentation_scores(constant, truth, 8)["type_dice"])
    return {"binary_dice": nanmean(binary), "type_dice": nanmean(typed)}


@pytest.mark.slow
def test_short_training_beats_trivial_predictors_on_held_out_sequences(tmp_path):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = tmp_path / "data"
    write_synth_dataset(data, SynthConfig(sequences=TRAIN_SEQUENCES + HELD_OUT, frames=8,
                                          size=(160, 128), seed=3))
    train_root, test_root = tmp_path / "train", tmp_path / "test"
    train_root.mkdir()
    test_root.mkdir()
    for k in range(1, TRAIN_SEQUENCES + HELD_OUT + 1):
        side = train_root if k <= TRAIN_SEQUENCES else test_root
        (side / f"instrument_dataset_{k}").symlink_to(data / f"instrument_dataset_{k}")
    spec = load_spec(REPO / "config" / "models" / "tiny.yaml")
    cfg = TrainConfig(optimizer="adam", lr=3e-3, weight_decay=0.0, batch_size=2, clip_length=4,
                      clip_stride=2, augment=True, workers=0, amp=False, log_interval=50,
                      ckpt_interval=1000,
                      phases=(PhaseConfig("detection", iterations=60),
                              PhaseConfig("segmentation", iterations=80),
                              PhaseConfig("end_to_end", iterations=60, lr=1e-3)))
    trainer = Trainer(spec, cfg, train_root, tmp_path / "run")
    untrained = evaluate(Predictor(trainer.model, spec), held_out := EndoVis17Dataset(
        test_root, frame_size=None))["overall"]
    trainer.fit()
    predictor = Predictor.from_checkpoint(tmp_path / "run" / "model.pt")
    row = published_row(predictor.spec.postprocess)
    scores = evaluate(predictor, held_out)["overall"]
    baseline = _baselines(held_out, EndoVis17Dataset(train_root, frame_size=None))
    assert scores["frames"] == HELD_OUT * 8
    # Instruments found: better than a constant prediction and than the untrained network.
    assert scores[row]["binary_dice"] > max(baseline["binary_dice"],
                                            untrained[row]["binary_dice"] or 0.0), (
        scores[row], baseline, untrained[row])
    # Types: better than the most frequent type everywhere. (200 CPU steps at 96x128 do not
    # yet beat an untrained network's random types reliably: see reports/synthetic/REPORT.md.)
    assert scores[row]["type_dice"] > baseline["type_dice"], (scores[row], baseline)
    # The detection head learns: its own boxes (the published ones add the instruments' boxes,
    # typed by the masks, which after 200 steps are mostly of the wrong type: mAP 0.0 here).
    assert scores["map50_ssd"] > (untrained["map50_ssd"] or 0.0), (scores["map50_ssd"],
                                                                   untrained["map50_ssd"])
