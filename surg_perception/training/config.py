"""Training schedule configuration: frozen dataclasses, read from YAML at the edge.

Kept apart from :class:`~surg_perception.config.ModelSpec` on purpose: learning rates and
phase lengths never live next to prior-box geometry. The defaults are the AP-MTL paper's
(SGD, momentum 0.99, weight decay 1e-4, lr 1e-4, poly power 0.9, end-to-end at 1e-5).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from surg_perception.config import MemoryConfig, from_dict, load_yaml, to_dict
from surg_perception.errors import ConfigError
from surg_perception.training.ato import check_schedule

PHASE_NAMES = ("detection", "segmentation", "end_to_end")
OPTIMIZERS = ("sgd", "adam")


@dataclasses.dataclass(frozen=True)
class PhaseConfig:
    """One ATO phase. Give its length as ``iterations`` or ``epochs`` (exactly one > 0).

    ``lr`` None means ``TrainConfig.lr``; the poly schedule restarts at every phase.
    """

    name: str = "end_to_end"
    iterations: int = 0
    epochs: int = 0
    lr: float | None = None

    def __post_init__(self) -> None:
        if self.name not in PHASE_NAMES:
            raise ConfigError(f"phase name {self.name!r} unknown; use one of {PHASE_NAMES}")
        if self.iterations < 0 or self.epochs < 0 or (self.iterations > 0) == (self.epochs > 0):
            raise ConfigError(
                f"phase {self.name!r}: set exactly one of iterations ({self.iterations}) or "
                f"epochs ({self.epochs}) to a positive number"
            )
        if self.lr is not None and self.lr <= 0:
            raise ConfigError(f"phase {self.name!r}: lr must be > 0, got {self.lr}")


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """Weight of each task loss in the total (equal weights worked best for HOG)."""

    seg: float = 1.0
    det: float = 1.0  # multibox: localisation + confidence
    activity: float = 1.0
    hog: float = 1.0
    part: float = 1.0  # part segmentation (trains with the segmentation task)
    # Cross-entropy among the foreground classes on the foreground pixels alone (losses.py:
    # type_loss), with the segmentation task; 0 = off. Over the whole frame the background
    # outnumbers the instrument pixels 10-20 to 1, so the type decision gets little gradient.
    seg_type: float = 0.0


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimiser, schedule, data loading and logging of one training run."""

    optimizer: str = "sgd"
    lr: float = 1e-4
    momentum: float = 0.99
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    batch_size: int = 4
    # T consecutive frames; the memory state is carried through a clip. At least the memory's
    # tau, so training sees a full local memory as inference does (see fit_clip_to_memory).
    clip_length: int = 4
    clip_stride: int = 2
    augment: bool = True
    workers: int = 2
    amp: bool = True  # mixed precision, used on CUDA only
    grad_clip: float = 0.0  # max gradient norm; 0 = no clipping
    seed: int = 0
    fold: int | None = None  # EndoVis17 cross-validation fold (train split); None = all sequences
    log_interval: int = 10
    ckpt_interval: int = 200
    loss_weights: LossWeights = LossWeights()
    # Initialisation files, read once when a run starts (training/init.py; never downloaded).
    # Kept out of the model spec, so checkpoints carry no paths of this machine.
    pretrained_path: str | None = None  # AP-MTL: torchvision ImageNet .pth of the encoder
    backbone_weights: str | None = None  # EndoARSS: DINOv2 .safetensors / .pth of the ViT
    phases: tuple[PhaseConfig, ...] = (
        PhaseConfig("detection", epochs=50),
        PhaseConfig("segmentation", epochs=50),
        PhaseConfig("end_to_end", epochs=10, lr=1e-5),
    )

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"train.optimizer {self.optimizer!r} unknown; use one of {OPTIMIZERS}")
        positive = {"lr": self.lr, "batch_size": self.batch_size, "clip_length": self.clip_length,
                    "clip_stride": self.clip_stride, "log_interval": self.log_interval,
                    "ckpt_interval": self.ckpt_interval}
        bad = {k: v for k, v in positive.items() if not v > 0}
        if bad:
            raise ConfigError(f"train: {bad} must be > 0")
        if self.workers < 0 or self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("train: workers, weight_decay and grad_clip must be >= 0")
        if not self.phases:
            raise ConfigError("train.phases is empty; list at least one phase")
        check_schedule([phase.name for phase in self.phases])


def fit_clip_to_memory(cfg: TrainConfig, memory: MemoryConfig) -> tuple[TrainConfig, str | None]:
    """``cfg`` with ``clip_length >= memory.tau`` where the memory is on, and why it changed.

    Shorter clips never fill the local memory (tau previous frames), so the memory would
    train on a state it never has at inference. The clip is lengthened rather than refused
    so that existing schedules keep running; the message says so (None when unchanged).
    """
    if not memory.enabled or cfg.clip_length >= memory.tau:
        return cfg, None
    note = (f"train.clip_length {cfg.clip_length} is shorter than model.memory.tau "
            f"{memory.tau}: training on clips of {memory.tau} frames so the local memory fills "
            f"as it does at inference; set train.clip_length >= {memory.tau} to silence this")
    return dataclasses.replace(cfg, clip_length=memory.tau), note


def portable(cfg: TrainConfig) -> dict:
    """``cfg`` as a dict for a checkpoint: initialisation files by file name only (provenance
    without this machine's directories)."""
    data = to_dict(cfg)
    for key in ("pretrained_path", "backbone_weights"):
        if data[key] is not None:
            data[key] = Path(data[key]).name
    return data


def train_config_from_dict(data: dict) -> TrainConfig:
    """Build a :class:`TrainConfig`; unknown keys raise :class:`ConfigError` naming them."""
    return from_dict(TrainConfig, data, "train")


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a training YAML: either the fields at top level or under a ``train:`` key."""
    data = load_yaml(path)
    if "train" in data:
        data = data["train"]
    try:
        return train_config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
