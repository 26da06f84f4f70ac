"""What every model family returns (see docs/design.md, "Model contract")."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol, runtime_checkable

from torch import Tensor


class ModelOutput(NamedTuple):
    """Network outputs for a batch of B images of size H x W.

    seg_logits: ``[B, S, H, W]``, S = len(cfg.seg_classes).
    det_logits: ``[B, P, K+1]`` or None; column 0 = background, column i = det_classes[i-1].
    det_deltas: ``[B, P, 4]`` or None; SSD offsets against ``model.priors(H, W)``.
    activity_logits: ``[B, A]`` or None.
    hog: ``[B, D]`` in training mode when cfg.hog.enabled, else None.
    part_logits: ``[B, P, H, W]`` (P = len(cfg.part_classes)) or None without a part head.
    """

    seg_logits: Tensor
    det_logits: Tensor | None = None
    det_deltas: Tensor | None = None
    activity_logits: Tensor | None = None
    hog: Tensor | None = None
    part_logits: Tensor | None = None  # last, so positional construction stays as it was


@runtime_checkable
class PerceptionModel(Protocol):
    """What every model family provides (``build_model`` returns one; see docs/design.md).

    ``forward(images [B, 3, H, W], state=None) -> (ModelOutput, state)``: ``images`` are
    normalised network inputs; ``state`` is the memory state of the stream (None = empty;
    always None without memory). ``has_detection`` / ``has_activity`` say which optional
    outputs are not None; ``has_memory`` whether a state is carried. ``priors(H, W)`` gives
    the ``[P, 4]`` cxcywh prior boxes the detection outputs refer to (only when
    ``has_detection``); ``has_parts`` whether ``part_logits`` is not None. Callers read these
    flags; they never probe with ``getattr``.
    """

    @property
    def has_detection(self) -> bool: ...

    @property
    def has_activity(self) -> bool: ...

    @property
    def has_memory(self) -> bool: ...

    @property
    def has_parts(self) -> bool: ...

    def priors(self, height: int, width: int) -> Tensor: ...

    def forward(self, images: Tensor, state: Any = None) -> tuple[ModelOutput, Any]: ...
