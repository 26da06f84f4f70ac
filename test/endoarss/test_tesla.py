"""TESLA: each task adapter learns only from its own loss; the shared LoRA from both."""

from __future__ import annotations

import pytest
import torch

from surg_perception.models.endoarss import trainable_parameter_groups
from surg_perception.models.endoarss.tesla import Tesla


def _grads_after(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return trainable_parameter_groups(model)


def _all_zero(params) -> bool:
    return all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in params)


def _all_nonzero(params) -> bool:
    return all(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in params)


@pytest.mark.parametrize(
    ("task", "own", "other"),
    [("seg", "seg_adapter", "activity_adapter"), ("activity", "activity_adapter", "seg_adapter")],
)
def test_each_adapter_gets_gradients_only_from_its_own_task(
    tiny_model, images, perturb_zero_init, task_losses, task, own, other
):
    perturb_zero_init(tiny_model)  # non-zero up factors: every adapter weight can get a grad
    tiny_model.train()
    seg, act = task_losses(tiny_model, images)
    groups = _grads_after(tiny_model, seg if task == "seg" else act)
    assert _all_nonzero(groups[own])
    assert _all_zero(groups[other])
    assert _all_nonzero(groups["shared_lora"])


def test_shared_lora_gradient_is_the_sum_of_both_tasks(
    tiny_model, images, perturb_zero_init, task_losses
):
    perturb_zero_init(tiny_model)
    tiny_model.eval()  # deterministic (no dropout) so three forward passes agree
    per_task = []
    for index in (0, 1):
        groups = _grads_after(tiny_model, task_losses(tiny_model, images)[index])
        per_task.append([p.grad.clone() for p in groups["shared_lora"]])
    groups = _grads_after(tiny_model, sum(task_losses(tiny_model, images)))
    for seg_grad, act_grad, param in zip(*per_task, groups["shared_lora"]):
        torch.testing.assert_close(param.grad, seg_grad + act_grad, rtol=1e-4, atol=1e-9)


def test_tesla_starts_as_identity_for_both_tasks():
    tokens = torch.randn(2, 10, 16)
    seg, act = Tesla(16, rank=4)(tokens)
    assert torch.equal(seg, tokens)
    assert torch.equal(act, tokens)
