"""``torchrun`` data parallelism: process group set-up, the resumable sampler, DDP wrapping.

Launched with ``torchrun --nproc_per_node N -m surg_perception.cli train ...``, every process
reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the environment; gloo serves the CPU,
NCCL the GPUs. Only rank 0 logs and writes checkpoints. A single plain process is world
size 1 and needs no process group.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
import os

import torch
from torch import nn
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistInfo:
    """Join the ``torchrun`` process group if the environment describes one.

    On CUDA each process takes the GPU ``LOCAL_RANK``; returns the rank information.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend=backend)
    return info


def process_device(device: torch.device, info: DistInfo) -> torch.device:
    """The device of this process: ``cuda:LOCAL_RANK`` under torchrun on GPUs."""
    if device.type == "cuda" and info.enabled:
        return torch.device("cuda", info.local_rank)
    return device


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DDP wrapper for the current phase's trainable parameters (identity on one process).

    Re-wrap after each ATO phase change: DDP registers the parameters that require grad
    when it is built. ``find_unused_parameters`` covers heads without labels in a batch.
    """
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


class ResumableSampler(DistributedSampler):
    """:class:`DistributedSampler` (seeded shuffle, sharded by rank) that can start mid-epoch.

    ``set_epoch(epoch, start)`` skips the first ``start`` indices of this rank's shard, so a
    resumed run sees exactly the clips an uninterrupted run would have seen next.
    """

    def __init__(self, dataset: Dataset, info: DistInfo, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=info.world_size, rank=info.rank,
                         shuffle=shuffle, seed=seed, drop_last=True)
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:  # type: ignore[override]
        super().set_epoch(epoch)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start:])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


def reduce_mean(values: dict[str, float], keys: list[str], info: DistInfo,
                device: torch.device) -> dict[str, float]:
    """Average scalar logs over the ranks that have them (identity on one process).

    ``keys`` must be the same list on every rank (collectives need equal shapes); a key
    missing on some ranks is averaged over the others, and dropped if no rank has it.
    """
    if not info.enabled:
        return values
    sums = torch.tensor([values.get(k, 0.0) for k in keys], dtype=torch.float64, device=device)
    counts = torch.tensor([float(k in values) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(sums)
    dist.all_reduce(counts)
    return {k: s / c for k, s, c in zip(keys, sums.tolist(), counts.tolist()) if c > 0}
