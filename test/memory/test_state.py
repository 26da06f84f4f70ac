"""MemoryState: flattening round trip, reset, device/dtype moves, error messages."""

import pytest
import torch

from surg_perception.errors import ConfigError
from surg_perception.models.memory import MemoryState


def test_tuple_round_trip(make_memory, frames, run):
    memory = make_memory()
    _, state = run(memory, frames(5))
    names, tensors = MemoryState.names(), state.to_tuple()
    assert len(names) == len(tensors) == 8
    rebuilt = MemoryState.from_tuple(names, tensors)
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.to_tuple(), tensors))
    shuffled = MemoryState.from_tuple(names[::-1], tensors[::-1])
    assert all(torch.equal(a, b) for a, b in zip(shuffled.to_tuple(), tensors))


def test_from_tuple_rejects_wrong_names():
    tensors = (torch.zeros(1),) * 8
    with pytest.raises(ConfigError, match="MemoryState.names"):
        MemoryState.from_tuple(("a",) * 8, tensors)
    with pytest.raises(ConfigError, match="7 tensors"):
        MemoryState.from_tuple(MemoryState.names(), tensors[:7])


def test_zero_state_layout(make_memory, frames):
    memory = make_memory()  # tau 3, capacity 4, keys 8, values 12
    state = memory.init_state(frames(1, batch=3)[0])
    assert state.batch_size == 3
    assert state.local_feats.shape == (3, 3, 16, 6, 8)
    assert state.bank_keys.shape == (3, 4, 8, 6, 8)
    assert state.bank_values.shape == (3, 4, 12, 6, 8)
    assert state.info() == {"local_size": [0, 0, 0], "global_size": [0, 0, 0]}
    assert not state.local_valid().any() and not state.bank_valid().any()


def test_local_window_keeps_newest_frames_in_order(make_memory, frames):
    memory = make_memory()  # tau 3
    feats = frames(4)
    state = memory.init_state(feats[0])
    for feat in feats[:2]:
        _, state = memory.read(feat, state)
    assert state.local_valid().tolist() == [[False, True, True]] * 2
    torch.testing.assert_close(state.local_feats[:, 2], feats[1])
    for feat in feats[2:]:
        _, state = memory.read(feat, state)
    assert state.info()["local_size"] == [3, 3]
    torch.testing.assert_close(state.local_feats, torch.stack(feats[1:], dim=1))


def test_reset_mask_must_match_batch(make_memory, frames):
    memory = make_memory()
    state = memory.init_state(frames(1)[0])
    with pytest.raises(ConfigError, match=r"shape \[2\]"):
        state.reset(torch.tensor([True, False, True]))


def test_to_changes_float_dtype_only(make_memory, frames, run):
    memory = make_memory()
    _, state = run(memory, frames(2))
    half = state.to("cpu", dtype=torch.float16)
    assert half.local_feats.dtype == torch.float16
    assert half.bank_count.dtype == torch.long
    assert half.info() == state.info()


def test_state_is_immutable(make_memory, frames):
    state = make_memory().init_state(frames(1)[0])
    with pytest.raises(AttributeError):
        state.step = torch.ones(2)


def test_detach_cuts_the_graph(make_memory, frames, run):
    memory = make_memory().train()
    _, state = run(memory, [f.requires_grad_() for f in frames(2)])
    assert state.local_feats.requires_grad and state.bank_keys.requires_grad
    detached = state.detach()
    assert not any(t.requires_grad for t in detached.to_tuple())
    assert detached.info() == state.info()
