"""``MemoryState``: the explicit, fixed-shape temporal state of the DMNet dual memory.

Every field is a tensor whose shape depends only on the batch size, the feature-map size
and the :class:`~surg_perception.config.MemoryConfig`, never on how many frames a stream
has seen: fill levels are counts, and readers mask the empty slots. A step therefore needs
no host synchronisation and can be exported to ONNX or captured in a CUDA graph, with the
state flattened by :meth:`MemoryState.to_tuple` and rebuilt by :meth:`MemoryState.from_tuple`.

Fields (B streams, C feature channels, h x w map, ``tau``/``capacity`` from the config,
Kc/Vc = ``key_channels``/``value_channels``):

- ``local_feats``  ``[B, tau, C, h, w]`` previous frames' features, oldest first (a sliding
  window: slot ``tau - 1`` holds frame t-1); the last ``local_count`` slots are valid.
- ``local_count``  ``[B]`` int64, frames in the window (0..tau).
- ``bank_keys``    ``[B, capacity, Kc, h, w]`` admitted entries' keys (ring buffer).
- ``bank_values``  ``[B, capacity, Vc, h, w]`` admitted entries' values.
- ``bank_count``   ``[B]`` int64, valid entries; slots ``0..bank_count-1`` are valid.
- ``bank_ptr``     ``[B]`` int64, the next slot to write = the oldest entry once full.
- ``last_admitted`` ``[B, C, h, w]`` feature of the latest admitted frame (novelty test).
- ``step``         ``[B]`` int64, frames read since the last reset (seeds the sampling).
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses

import torch
from torch import Tensor

from surg_perception.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class MemoryState:
    """Per-stream dual-memory state; immutable, every update returns a new state."""

    local_feats: Tensor
    local_count: Tensor
    bank_keys: Tensor
    bank_values: Tensor
    bank_count: Tensor
    bank_ptr: Tensor
    last_admitted: Tensor
    step: Tensor

    @classmethod
    def zeros(
        cls,
        feat: Tensor,
        tau: int,
        capacity: int,
        key_channels: int,
        value_channels: int,
    ) -> MemoryState:
        """Empty state shaped for ``feat`` ``[B, C, h, w]`` (its device and dtype)."""
        if feat.dim() != 4:
            raise ConfigError(
                f"memory expects a feature map [B, C, h, w], got shape {tuple(feat.shape)}"
            )
        b, c, h, w = feat.shape
        floats = {"device": feat.device, "dtype": feat.dtype}
        counter = torch.zeros(b, dtype=torch.long, device=feat.device)
        return cls(
            local_feats=torch.zeros(b, tau, c, h, w, **floats),
            local_count=counter,
            bank_keys=torch.zeros(b, capacity, key_channels, h, w, **floats),
            bank_values=torch.zeros(b, capacity, value_channels, h, w, **floats),
            bank_count=counter.clone(),
            bank_ptr=counter.clone(),
            last_admitted=torch.zeros(b, c, h, w, **floats),
            step=counter.clone(),
        )

    # ------------------------------------------------------------------ properties

    @property
    def batch_size(self) -> int:
        return self.local_count.shape[0]

    @property
    def tau(self) -> int:
        return self.local_feats.shape[1]

    @property
    def capacity(self) -> int:
        return self.bank_keys.shape[1]

    def local_valid(self) -> Tensor:
        """``[B, tau]`` bool: window slots holding a real frame (the newest ``local_count``)."""
        slots = torch.arange(self.tau, device=self.local_count.device)
        return slots[None, :] >= (self.tau - self.local_count)[:, None]

    def bank_valid(self) -> Tensor:
        """``[B, capacity]`` bool: bank slots holding an admitted entry."""
        slots = torch.arange(self.capacity, device=self.bank_count.device)
        return slots[None, :] < self.bank_count[:, None]

    # ------------------------------------------------------------------ stream control

    def reset(self, mask: Tensor | None = None) -> MemoryState:
        """Clear the streams selected by ``mask`` (``[B]`` bool; None = every stream)."""
        if mask is None:
            return dataclasses.replace(
                self, **{name: torch.zeros_like(t) for name, t in self._items()}
            )
        mask = torch.as_tensor(mask, dtype=torch.bool, device=self.step.device)
        if mask.shape != (self.batch_size,):
            raise ConfigError(
                f"reset mask must be a bool tensor of shape [{self.batch_size}] (one per "
                f"stream), got shape {tuple(mask.shape)}"
            )
        cleared = {}
        for name, t in self._items():
            keep = ~mask.view(-1, *([1] * (t.dim() - 1)))
            cleared[name] = torch.where(keep, t, torch.zeros_like(t))
        return dataclasses.replace(self, **cleared)

    def info(self) -> dict[str, list[int]]:
        """Fill levels per stream as python ints (synchronises with the device)."""
        return {
            "local_size": [int(v) for v in self.local_count.tolist()],
            "global_size": [int(v) for v in self.bank_count.tolist()],
        }

    def detach(self) -> MemoryState:
        """The same state cut from the autograd graph (truncated back-propagation in time)."""
        return dataclasses.replace(self, **{name: t.detach() for name, t in self._items()})

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> MemoryState:
        """Move every tensor to ``device``; ``dtype`` applies to the float tensors only."""
        moved = {}
        for name, t in self._items():
            target = dtype if (dtype is not None and t.is_floating_point()) else t.dtype
            moved[name] = t.to(device=device, dtype=target)
        return dataclasses.replace(self, **moved)

    # ------------------------------------------------------------------ flattening

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Field names in :meth:`to_tuple` order (use them as ONNX input/output names)."""
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_tuple(self) -> tuple[Tensor, ...]:
        return tuple(t for _, t in self._items())

    @classmethod
    def from_tuple(cls, names: Sequence[str], tensors: Sequence[Tensor]) -> MemoryState:
        """Rebuild a state from tensors listed under ``names`` (any order)."""
        names = tuple(names)
        if sorted(names) != sorted(cls.names()) or len(names) != len(tensors):
            raise ConfigError(
                f"cannot rebuild MemoryState from names {list(names)} and {len(tensors)} "
                f"tensors; expected one tensor for each of {list(cls.names())} "
                "(use MemoryState.names() and state.to_tuple())"
            )
        return cls(**dict(zip(names, tensors)))

    def _items(self) -> list[tuple[str, Tensor]]:
        return [(name, getattr(self, name)) for name in self.names()]
