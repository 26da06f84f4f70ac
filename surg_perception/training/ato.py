"""ATO (asynchronous task-aware optimisation): what trains, and which losses count, per phase.

AP-MTL trains its tasks asynchronously so that they do not fight over the shared encoder:

1. ``detection``: encoder + memory + SSD head (+ activity and HOG heads, whose labels come
   for free); the segmentation decoder is frozen and its loss ignored (decoder detached).
2. ``segmentation``: only the segmentation decoder (+ the temporal memory, which DMNet
   trains for segmentation) on the detection-trained encoder, which stays frozen.
3. ``end_to_end``: every parameter and every loss, at a small learning rate (1e-5 in the
   paper), to regularise the tasks against each other.

Only parameters that were trainable when the model was built can ever be unfrozen: a
family that freezes its backbone itself (EndoARSS) keeps it frozen in every phase.
Frozen modules are also put in eval mode so their batch-norm statistics stay fixed.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from surg_perception.errors import ConfigError

ALL = "*"


@dataclasses.dataclass(frozen=True)
class PhasePlan:
    """Module attributes that train (``ALL`` = every one) and the losses that count."""

    modules: tuple[str, ...]
    losses: tuple[str, ...]


PLANS: dict[str, PhasePlan] = {
    "detection": PhasePlan(("encoder", "memory", "det_head", "activity_head", "hog_head"),
                           ("det", "activity", "hog")),
    "segmentation": PhasePlan(("seg_decoder", "memory"), ("seg",)),
    "end_to_end": PhasePlan((ALL,), ("seg", "det", "activity", "hog")),
}
# The modules a phase cannot do without (a model lacking them cannot run that phase).
_REQUIRED = {"detection": ("encoder", "det_head"), "segmentation": ("encoder", "seg_decoder")}


def plan_for(phase: str) -> PhasePlan:
    """The :class:`PhasePlan` of phase ``phase``; unknown names raise ConfigError."""
    if phase not in PLANS:
        raise ConfigError(f"ATO phase {phase!r} unknown; valid phases: {sorted(PLANS)}")
    return PLANS[phase]


def base_trainable(model: nn.Module) -> frozenset[str]:
    """Names of the parameters the model itself leaves trainable (call once, right after build)."""
    return frozenset(name for name, p in model.named_parameters() if p.requires_grad)


def _check_supported(model: nn.Module, phase: str) -> None:
    missing = [m for m in _REQUIRED.get(phase, ()) if getattr(model, m, None) is None]
    if missing:
        raise ConfigError(
            f"ATO phase {phase!r} needs the model part(s) {missing}, which "
            f"{type(model).__name__} does not have; train it with an end_to_end phase only"
        )


def phase_modules(model: nn.Module, phase: str) -> list[str]:
    """Top-level module attributes that train in ``phase`` (those the model has)."""
    _check_supported(model, phase)
    plan = plan_for(phase)
    children = [name for name, _ in model.named_children()]
    if ALL in plan.modules:
        return children
    return [name for name in children if name in plan.modules]


def trainable_names(model: nn.Module, phase: str, base: frozenset[str]) -> frozenset[str]:
    """Parameter names that train in ``phase``: inside its modules and in ``base``."""
    prefixes = tuple(f"{m}." for m in phase_modules(model, phase))
    return frozenset(n for n, _ in model.named_parameters() if n.startswith(prefixes) and n in base)


def apply_phase(model: nn.Module, phase: str, base: frozenset[str]) -> list[nn.Parameter]:
    """Set ``requires_grad`` for ``phase`` and return the trainable parameters, in model order.

    Raises:
        ConfigError: the phase is unknown, or the model lacks a part it needs.
    """
    names = trainable_names(model, phase, base)
    if not names:
        raise ConfigError(f"ATO phase {phase!r} leaves no trainable parameter in this model")
    params = []
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)
        if name in names:
            params.append(param)
    return params


def set_train_mode(model: nn.Module, phase: str) -> None:
    """``model.train()``, then eval mode for the top-level modules frozen in ``phase``.

    The model itself stays in training mode (training-only outputs such as the HOG head's
    keep coming); frozen parts keep their batch-norm running statistics and skip dropout.
    """
    model.train()
    training = set(phase_modules(model, phase))
    for name, child in model.named_children():
        if name not in training:
            child.eval()


def active_losses(phase: str) -> tuple[str, ...]:
    """Names of the losses that count in ``phase`` (keys of the loss dict)."""
    return plan_for(phase).losses
