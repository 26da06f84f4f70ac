"""ATO (asynchronous task-aware optimisation): what trains, and which losses count, per phase.

AP-MTL trains its tasks asynchronously so that they do not fight over the shared encoder:

1. ``detection``: the shared trunk (encoder + DMNet temporal memory) + SSD head + activity
   and HOG heads (their labels come for free); the segmentation decoder is frozen and its
   loss ignored (decoder detached).
2. ``segmentation``: only the segmentation decoder, on the detection-trained trunk, which
   stays frozen - the memory included. The part head (``model.part_classes``) is a head of
   that decoder and its loss (``part``) belongs to the ``seg`` task, so it trains here and in
   ``end_to_end``, never in ``detection``.
3. ``end_to_end``: every parameter and every loss, at a small learning rate (1e-5 in the
   paper), to regularise the tasks against each other.

The rule (enforced by :func:`check_schedule`): a part shared by several tasks - the encoder
and the temporal memory, whose output feeds the segmentation decoder, the SSD head, the
activity head and the HOG head - trains only in a phase whose losses include every task
already trained on it. ``detection`` runs first, when no other head has learnt anything to
lose; ``end_to_end`` has every loss on; ``segmentation`` therefore leaves the trunk alone.
(Training the memory on the segmentation loss alone moved the features under the trained
detection and activity heads: held-out mAP fell from 0.068 to 0.041 over that phase.)
The activity head reads the memory's output; it trains in ``detection`` (with the memory
training alongside) and in ``end_to_end``.

Only parameters that were trainable when the model was built can ever be unfrozen: a
family that freezes its backbone itself (EndoARSS) keeps it frozen in every phase.
Frozen modules are also put in eval mode so their batch-norm statistics stay fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    "segmentation": PhasePlan(("seg_decoder",), ("seg",)),
    "end_to_end": PhasePlan((ALL,), ("seg", "det", "activity", "hog")),
}
# Parts whose output every task reads, and the task each head serves.
SHARED = ("encoder", "memory")
HEAD_TASKS = {"seg_decoder": "seg", "det_head": "det", "activity_head": "activity",
              "hog_head": "hog"}
# The modules a phase cannot do without (a model lacking them cannot run that phase).
_REQUIRED = {"detection": ("encoder", "det_head"), "segmentation": ("encoder", "seg_decoder")}


def plan_for(phase: str) -> PhasePlan:
    """The :class:`PhasePlan` of phase ``phase``; unknown names raise ConfigError."""
    if phase not in PLANS:
        raise ConfigError(f"ATO phase {phase!r} unknown; valid phases: {sorted(PLANS)}")
    return PLANS[phase]


def _trains(plan: PhasePlan, module: str) -> bool:
    return ALL in plan.modules or module in plan.modules


def check_schedule(phases: Sequence[str]) -> None:
    """Raise :class:`ConfigError` if a phase would train a shared part under a trained head.

    A phase that trains the encoder or the memory must count the loss of every task whose
    head an earlier phase trained; otherwise it changes that head's input without its loss
    and degrades the task (see the module docstring).
    """
    trained: set[str] = set()
    for index, name in enumerate(phases):
        plan = plan_for(name)
        lost = sorted(trained - set(plan.losses))
        if lost and any(_trains(plan, part) for part in SHARED):
            raise ConfigError(
                f"ATO phase {index + 1} ({name!r}) trains the shared encoder/memory without "
                f"the loss of {lost}, whose head(s) an earlier phase trained; put "
                f"{name!r} before those phases or use end_to_end (every loss) instead")
        trained |= {task for head, task in HEAD_TASKS.items() if _trains(plan, head)}


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
    return frozenset(n for n, _ in model.named_parameters()
                     if n.startswith(prefixes) and n in base)


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
