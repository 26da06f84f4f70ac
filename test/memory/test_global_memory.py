"""AGA admission (alpha/beta, first frame), bank bound and eviction, slot sampling."""

import torch

from surg_perception.models.memory.global_memory import feature_distance, sample_slots

C, H, W = 16, 6, 8


def constant(*values: float) -> torch.Tensor:
    """[B, C, H, W] maps, stream i filled with values[i] (per-position distance 4 |a - b|)."""
    per_stream = torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1)
    return per_stream.expand(-1, C, H, W).contiguous()


def test_feature_distance_is_mean_per_position_l2():
    a, b = constant(0.0, 1.0), constant(0.5, 1.0)
    torch.testing.assert_close(feature_distance(a, b), torch.tensor([2.0, 0.0]))


def test_first_frame_needs_only_alpha(make_memory):
    memory = make_memory()  # alpha=-0.5
    feat = constant(0.0, 0.0)  # identical to the zero "latest admitted" map
    state = memory.admit(memory.init_state(feat), feat, torch.tensor([-0.4, -0.6]))
    assert state.info()["global_size"] == [1, 0]


def test_admission_follows_alpha_and_beta(make_memory):
    memory = make_memory()  # alpha=-0.5, beta=-1: admit if distance > 1
    state = memory.init_state(constant(0, 0, 0, 0))
    state = memory.admit(state, constant(0, 0, 0, 0), torch.zeros(4))
    # streams: (far, confident), (near, confident), (far, unconfident), (near, unconfident)
    feat = constant(0.5, 0.1, 0.5, 0.1)  # distances 2.0, 0.4, 2.0, 0.4
    admit = memory.global_.should_admit(state, feat, torch.tensor([0.0, 0.0, -0.7, -0.7]))
    assert admit.tolist() == [True, False, False, False]
    state = memory.admit(state, feat, torch.tensor([0.0, 0.0, -0.7, -0.7]))
    assert state.info()["global_size"] == [2, 1, 1, 1]
    torch.testing.assert_close(state.last_admitted[0], feat[0])
    torch.testing.assert_close(state.last_admitted[1], torch.zeros(C, H, W))


def test_novelty_is_measured_against_latest_admitted_entry(make_memory):
    memory = make_memory()
    state = memory.init_state(constant(0))
    for value in (0.0, 0.4, 0.8):  # each 1.6 from the previous admitted one: all admitted
        state = memory.admit(state, constant(value), torch.zeros(1))
    assert state.info()["global_size"] == [3]
    state = memory.admit(state, constant(0.9), torch.zeros(1))  # 0.4 from 0.8: rejected
    assert state.info()["global_size"] == [3]


def test_bank_is_bounded_and_evicts_oldest(make_memory):
    memory = make_memory()  # capacity 4
    state = memory.init_state(constant(0))
    values = [0.5 * i for i in range(6)]
    for value in values:
        state = memory.admit(state, constant(value), torch.zeros(1))
    assert state.info()["global_size"] == [4]
    assert state.bank_keys.shape[1] == 4
    # Ring buffer after 6 writes: slots hold frames 4, 5, 2, 3; the next write (oldest) is 2.
    expected = [values[i] for i in (4, 5, 2, 3)]
    for slot, value in enumerate(expected):
        key = memory.global_.memory_key(constant(value))[0]
        torch.testing.assert_close(state.bank_keys[0, slot], key)
    assert state.bank_ptr.tolist() == [2]


def test_sampling_picks_distinct_valid_slots_and_is_reproducible():
    valid = torch.arange(8)[None, :] < torch.tensor([[8], [5], [1]])
    seen = set()
    for step in range(20):
        steps = torch.full((3,), step)
        index, picked = sample_slots(steps, valid, n=3, seed=0)
        again, _ = sample_slots(steps, valid, n=3, seed=0)
        assert torch.equal(index, again)
        assert picked.sum(1).tolist() == [3, 3, 1]
        for row, ok in zip(index, picked):
            assert len(set(row.tolist())) == 3
            assert all(valid_slot < 8 for valid_slot in row[ok].tolist())
        assert set(index[1][picked[1]].tolist()) <= set(range(5))
        assert index[2][picked[2]].tolist() == [0]
        seen.add(tuple(sorted(index[0].tolist())))
    assert len(seen) > 5  # the subset read changes from step to step


def test_sampling_depends_on_seed():
    valid = torch.ones(1, 16, dtype=torch.bool)
    picks = {
        seed: [tuple(sample_slots(torch.tensor([s]), valid, 4, seed)[0][0].tolist())
               for s in range(10)]
        for seed in (0, 1)
    }
    assert picks[0] != picks[1]


def test_empty_bank_read_is_identity(make_memory):
    memory = make_memory()
    query = torch.randn(2, C, H, W)
    out = memory.global_(query, memory.init_state(query))
    torch.testing.assert_close(out, query, rtol=0, atol=0)
