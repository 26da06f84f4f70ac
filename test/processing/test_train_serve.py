"""One camera frame gives the network the same input in training and in the predictor.

Training path: EndoVis17Dataset -> ClipDataset with the training ``Resize`` (build_clips with
augmentation off) -> collate_clips -> training.batch.frame_inputs (normalisation).
Serving path: Predictor.step on the camera frame as the camera delivers it (1920x1080 with
black bars, or 1280x1024), captured at the network's forward.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from surg_perception.data.clips import collate_clips
from surg_perception.data.io import read_rgb
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.predictor import Predictor
from surg_perception.processing.preprocess import normalize
from surg_perception.training.batch import frame_inputs
from surg_perception.training.config import TrainConfig
from surg_perception.training.data import build_clips


def _network_inputs(predictor: Predictor, frames: list[np.ndarray], order: str) -> list:
    """What ``predictor.step`` hands the network for each frame."""
    seen = []
    hook = predictor.model.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    try:
        for frame in frames:
            predictor.step(frame, color_order=order)
    finally:
        hook.remove()
    return seen


@pytest.mark.parametrize("size", [(1920, 1080), (1280, 1024)])
def test_training_and_predictor_inputs_are_identical(tmp_path: Path, tiny_model, tiny_spec,
                                                    size: tuple[int, int]) -> None:
    root = tmp_path / "data"
    write_synth_dataset(root, SynthConfig(sequences=1, frames=2, size=size, seed=11))
    cfg = TrainConfig(clip_length=2, clip_stride=1, batch_size=1, augment=False, workers=0)
    clips = build_clips(root, tiny_spec, cfg)
    batch = collate_clips([clips[0]])
    training = [frame_inputs(batch, t, tiny_spec, torch.device("cpu"), with_hog=False)[0]
                for t in range(2)]
    paths = sorted((root / "instrument_dataset_1" / "left_frames").iterdir())
    camera = [read_rgb(path) for path in paths]
    assert camera[0].shape == (size[1], size[0], 3)
    predictor = Predictor(tiny_model, tiny_spec)
    for order, frames in (("rgb", camera), ("bgr", [f[..., ::-1] for f in camera])):
        predictor.reset()
        serving = _network_inputs(predictor, frames, order)
        for train_x, serve_x in zip(training, serving, strict=True):
            assert serve_x.shape == (1, 3, *tiny_spec.preprocess.input_size)
            assert torch.equal(train_x, serve_x)
    # The check can fail: the old serving resize (bilinear, no antialiasing) of the same crop
    # gives other inputs.
    crop = torch.from_numpy(clips.frames[0].image).permute(2, 0, 1)[None].float()
    old = F.interpolate(crop, size=tiny_spec.preprocess.input_size, mode="bilinear",
                        antialias=False)
    assert not torch.equal(normalize(old, tiny_spec.preprocess), training[0])
