"""SE attention gates: identity when attached, only they train, statistics per unit."""

import torch

from surg_perception.pruning.attention import UnitAttention


def test_gates_start_as_identity_and_detach_cleanly(tiny_model, tiny_spec, analysed, frames,
                                                    helpers):
    units, _ = analysed(tiny_model, tiny_spec)
    before = helpers.run_frames(tiny_model, frames[:1])
    attention = UnitAttention(units)
    with attention.attached():
        gated = helpers.run_frames(tiny_model, frames[:1])
    after = helpers.run_frames(tiny_model, frames[:1])
    for a, b, c in zip(before[0], gated[0], after[0]):
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, c)


def test_statistics_cover_every_unit_and_only_gates_get_gradients(tiny_model, tiny_spec,
                                                                   analysed, frames):
    units, _ = analysed(tiny_model, tiny_spec)
    attention = UnitAttention(units)
    for p in tiny_model.parameters():
        p.requires_grad_(False)
    with attention.attached():
        attention.collecting = True
        out, _ = tiny_model(frames[0])
        out.seg_logits.mean().backward()
    stats = attention.statistics()
    assert set(stats) == {unit.name for unit in units}
    assert all(stats[u.name].shape == (u.width,) for u in units)
    assert all(bool(torch.allclose(s, torch.ones_like(s))) for s in stats.values())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in attention.parameters())
    assert all(p.grad is None for p in tiny_model.parameters())
