"""Streams sharing one forward: their batch-of-1 memory states stacked and split.

:class:`~surg_perception.models.memory.state.MemoryState` is per stream along its batch
dim, so several streams (the eyes of a stereo pair) run through one network forward by
stacking their states before it and splitting the batch state after it
(``Predictor``'s ``step_streams``). Every field is indexed by stream only (the global
memory's sampling is seeded per stream by its own ``step``), so a batch of streams gives
each stream what it alone would get.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from surg_perception.models.memory.state import MemoryState


def unstackable_reason(states: Sequence[Any]) -> str:
    """Why these per-stream states cannot be stacked into one batch (``""``: they can)."""
    kinds = {type(s).__name__ for s in states if s is not None and not isinstance(s, MemoryState)}
    if kinds:
        return f"the network's state ({', '.join(sorted(kinds))}) is not a MemoryState"
    sizes = {s.batch_size for s in states if s is not None} - {1}
    return f"a stream's state holds a batch of {sorted(sizes)}, not 1" if sizes else ""


def stack_states(states: Sequence[MemoryState | None]) -> MemoryState | None:
    """Batch-of-1 states -> one state of ``len(states)`` streams, in order.

    None when every stream is fresh (the network starts them all empty); a fresh stream
    among others joins with zeros shaped like theirs, which is what an empty memory is
    (``MemoryState.reset``; the model's ``init_state`` builds the same zeros).
    """
    known = [s for s in states if s is not None]
    if len(states) == 1 or not known:
        return states[0] if known else None
    empty = known[0].reset()
    filled = [empty if s is None else s for s in states]
    return MemoryState(**{name: torch.cat([getattr(s, name) for s in filled])
                          for name in MemoryState.names()})


def split_state(state: MemoryState | None, count: int) -> list[MemoryState | None]:
    """A state of ``count`` streams -> one batch-of-1 state per stream (views, no copy)."""
    if count == 1 or state is None:
        return [state] * count
    return [MemoryState(**{name: getattr(state, name)[i:i + 1] for name in MemoryState.names()})
            for i in range(count)]
