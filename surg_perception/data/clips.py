"""Clips of T consecutive frames for temporal training, and their collate function.

A clip never crosses a sequence boundary: windows are built inside each sequence of a
:class:`SequenceDataset`. Augmentation (``transforms.py``) draws its random parameters
once per clip, so every frame of a clip is transformed the same way; the random stream
of clip ``i`` depends only on ``(seed, epoch, i)``, never on the DataLoader worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import dataclasses

import numpy as np
import torch
from torch.utils.data import Dataset

from surg_perception.data.sample import FrameSample, SequenceDataset
from surg_perception.errors import ConfigError, DatasetError

Clip = list[FrameSample]
ClipTransform = Callable[[Clip, torch.Generator], Clip]


class ClipDataset(Dataset):
    """Clips of ``length`` consecutive frames; item = list of :class:`FrameSample`.

    Args:
        frames: a sequence dataset (EndoVis17Dataset, EndoVis18Dataset, ...).
        length: frames per clip, T >= 1 (T = 1 gives single-frame training).
        stride: frame offset between the starts of successive clips of one sequence.
        transform: ``transform(clip, generator) -> clip`` (``transforms.Resize`` or
            ``transforms.train_augmentation(size)``).
        seed: base seed of the per-clip random generator.

    Sequences shorter than ``length`` give no clip; their names are in ``skipped``.
    """

    def __init__(self, frames: SequenceDataset, length: int, stride: int = 1,
                 transform: ClipTransform | None = None, seed: int = 0) -> None:
        if length < 1 or stride < 1:
            raise ConfigError(f"clip length ({length}) and stride ({stride}) must be >= 1")
        self.frames = frames
        self.length = length
        self.transform = transform
        self.seed = seed
        self.epoch = 0
        self.windows: list[tuple[int, ...]] = []
        self.skipped: list[str] = []
        for name, indices in frames.sequence_indices().items():
            if len(indices) < length:
                self.skipped.append(name)
            for start in range(0, len(indices) - length + 1, stride):
                self.windows.append(tuple(indices[start:start + length]))
        if not self.windows:
            raise DatasetError(f"no sequence has {length} frames for a clip "
                               f"(sequences: {', '.join(self.skipped) or 'none'})")

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation stream (call once per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> Clip:
        clip = [self.frames[i] for i in self.windows[index]]
        if self.transform is not None:
            # Mix (seed, epoch, index) into one 63-bit seed: reproducible in any worker.
            mixed = np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)
            generator = torch.Generator().manual_seed(int(mixed[0]))
            clip = self.transform(clip, generator)
        return clip


@dataclasses.dataclass(frozen=True)
class ClipBatch:
    """A batch of B clips of T frames.

    images    uint8 ``[B, T, H, W, 3]`` RGB (channels last, raw: preprocess normalises)
    masks     int64 ``[B, T, H, W]`` class ids
    boxes     ``boxes[b][t]`` float32 ``[N, 4]`` xyxy pixel edges
    labels    ``labels[b][t]`` int64 ``[N]`` 1-based type ids
    activity  int64 ``[B, T]``, -1 when unknown
    sequences B sequence names; frames int64 ``[B, T]`` frame numbers
    part_masks int64 ``[B, T, H, W]`` part ids, or None unless every frame has a part mask
    """

    images: torch.Tensor
    masks: torch.Tensor
    boxes: list[list[torch.Tensor]]
    labels: list[list[torch.Tensor]]
    activity: torch.Tensor
    sequences: list[str]
    frames: torch.Tensor
    part_masks: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> ClipBatch:
        """Move every tensor to ``device`` (dtypes unchanged)."""
        return dataclasses.replace(
            self, images=self.images.to(device), masks=self.masks.to(device),
            boxes=[[b.to(device) for b in clip] for clip in self.boxes],
            labels=[[lb.to(device) for lb in clip] for clip in self.labels],
            activity=self.activity.to(device), frames=self.frames.to(device),
            part_masks=None if self.part_masks is None else self.part_masks.to(device))


def collate_clips(clips: Sequence[Clip]) -> ClipBatch:
    """Stack clips of equal length and frame size into a :class:`ClipBatch`.

    Instance maps are left out: the trainer needs masks, boxes and labels only, and the
    boxes already are the tight boxes of the (augmented) instances.
    """
    sizes = {sample.size for clip in clips for sample in clip}
    lengths = {len(clip) for clip in clips}
    if len(sizes) != 1 or len(lengths) != 1:
        raise DatasetError(f"cannot batch clips with frame sizes {sorted(sizes)} and lengths "
                           f"{sorted(lengths)}; add a transforms.Resize to the ClipDataset")
    parts = None
    if all(s.part_mask is not None for clip in clips for s in clip):
        parts = torch.from_numpy(np.stack([[s.part_mask for s in clip] for clip in clips]))
    return ClipBatch(
        images=torch.from_numpy(np.stack([[s.image for s in clip] for clip in clips])),
        masks=torch.from_numpy(np.stack([[s.mask for s in clip] for clip in clips])).long(),
        boxes=[[torch.from_numpy(s.boxes).float() for s in clip] for clip in clips],
        labels=[[torch.from_numpy(s.labels).long() for s in clip] for clip in clips],
        activity=torch.tensor([[s.activity for s in clip] for clip in clips], dtype=torch.int64),
        sequences=[clip[0].sequence for clip in clips],
        frames=torch.tensor([[s.frame for s in clip] for clip in clips], dtype=torch.int64),
        part_masks=None if parts is None else parts.long(),
    )
