"""Training data: EndoVis 2017-layout clips, resized (optionally augmented) to the input size."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from surg_perception.config import ModelSpec
from surg_perception.data import ClipDataset, EndoVis17Dataset, collate_clips, train_augmentation
from surg_perception.data.endovis17 import mask_target, wants_parts
from surg_perception.data.transforms import Resize
from surg_perception.errors import DatasetError
from surg_perception.training.config import TrainConfig
from surg_perception.training.distributed import DistInfo, ResumableSampler


def build_clips(root: str | Path, spec: ModelSpec, cfg: TrainConfig) -> ClipDataset:
    """Clips of ``cfg.clip_length`` frames at the network input size.

    ``Resize`` stores each frame as ``processing.resize.resize_image`` makes it, which is what
    the predictor feeds the network for the same camera frame; with ``cfg.augment`` the
    geometric + photometric recipe of ``transforms.train_augmentation`` runs instead.
    """
    kwargs = {} if cfg.fold is None else {"fold": cfg.fold, "split": "train"}
    # frame_size=None: frames of any size are accepted because every frame is resized to
    # the network input anyway; the crop is the spec's, the rule the predictor applies.
    pre = spec.preprocess
    frames = EndoVis17Dataset(root, target=mask_target(spec), frame_size=None, crop=pre.crop,
                              border_threshold=pre.border_threshold, parts=wants_parts(spec),
                              **kwargs)
    size = tuple(spec.preprocess.input_size)
    transform = train_augmentation(size) if cfg.augment else Resize(size)
    return ClipDataset(frames, cfg.clip_length, cfg.clip_stride, transform, seed=cfg.seed)


class ClipStream:
    """Batches as one endless stream whose position is a function of the global step only.

    Step ``s`` reads batch ``s % per_epoch`` of epoch ``s // per_epoch``; each epoch's order
    comes from a seeded :class:`ResumableSampler`, so a resumed run sees the same batches.
    """

    def __init__(self, clips: ClipDataset, cfg: TrainConfig, info: DistInfo) -> None:
        self.clips = clips
        self.cfg = cfg
        self.sampler = ResumableSampler(clips, info, seed=cfg.seed)
        self.per_epoch = self.sampler.num_samples // cfg.batch_size
        if self.per_epoch == 0:
            raise DatasetError(
                f"{len(clips)} clips give no full batch of {cfg.batch_size} per process "
                f"(world size {info.world_size}); add data or lower train.batch_size")

    def batches(self, start_step: int):
        """Yield ``ClipBatch`` es from global step ``start_step`` on, forever."""
        epoch, offset = divmod(start_step, self.per_epoch)
        while True:
            self.clips.set_epoch(epoch)
            self.sampler.set_epoch(epoch, offset * self.cfg.batch_size)
            # A private generator: creating the iterator must not draw from the global RNG,
            # or a resumed run's dropout would diverge from the uninterrupted run's.
            loader = DataLoader(self.clips, batch_size=self.cfg.batch_size, sampler=self.sampler,
                                num_workers=self.cfg.workers, collate_fn=collate_clips,
                                drop_last=True, generator=torch.Generator().manual_seed(epoch),
                                persistent_workers=False)
            yield from loader
            epoch, offset = epoch + 1, 0
