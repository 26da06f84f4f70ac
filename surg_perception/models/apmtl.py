"""AP-MTL: one encoder shared by segmentation, SSD detection and activity heads (wiring only).

The parts are built elsewhere (:func:`surg_perception.models.registry.build_model`) and
passed in, so a test can wire a stub encoder or leave out any head.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.models.encoders.base import Encoder
from surg_perception.models.memory import MemoryState
from surg_perception.models.outputs import ModelOutput
from surg_perception.ops.confidence import entropy_confidence
from surg_perception.ops.priors import make_priors


class APMTL(nn.Module):
    """``out, state = model(images, state=None)``.

    Args of ``forward``:
        images: float ``[B, 3, H, W]``, normalised, H and W divisible by 32.
        state: the memory state from the previous frame of the same B streams, or None to
            start fresh (ignored, and returned as None, when the model has no memory).

    Returns ``(ModelOutput, state)``:
        seg_logits ``[B, S, H, W]``; part_logits ``[B, P, H, W]`` or None (the decoder's
        ``part_head``, on the type head's features; ``seg_decoder(taps)`` returns both,
        ``models/decoders/skip_scse_decoder.py``); det_logits ``[B, P, K+1]`` / det_deltas
        ``[B, P, 4]`` against ``self.priors(H, W)`` (None without a detection head);
        activity_logits ``[B, A]`` or None; hog ``[B, D]`` only in training mode with a HOG
        head.

    Memory: ``read`` aggregates the deepest encoder map with past frames before any decoder
    runs; after the segmentation, the frame is offered to the global memory with confidence
    = -(mean pixel entropy). Admission is a decision, not a path for gradients: it receives
    detached tensors.
    """

    def __init__(
        self,
        encoder: Encoder,
        seg_decoder: nn.Module,
        det_head: nn.Module | None = None,
        activity_head: nn.Module | None = None,
        hog_head: nn.Module | None = None,
        memory: nn.Module | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.seg_decoder = seg_decoder
        self.det_head = det_head
        self.activity_head = activity_head
        self.hog_head = hog_head
        self.memory = memory
        # Priors depend on the input size only; cached for the last size seen, moved with
        # the model by .to() and never saved (they are recomputed from the config).
        self.register_buffer("prior_boxes", torch.zeros(0, 4), persistent=False)
        self._prior_size: tuple[int, int] | None = None

    @property
    def has_detection(self) -> bool:
        return self.det_head is not None

    @property
    def has_activity(self) -> bool:
        return self.activity_head is not None

    @property
    def has_memory(self) -> bool:
        return self.memory is not None

    @property
    def has_parts(self) -> bool:
        return self.seg_decoder.part_head is not None

    def forward(
        self, images: Tensor, state: MemoryState | None = None
    ) -> tuple[ModelOutput, MemoryState | None]:
        _check_images(images)
        feats = self.encoder.trunk(images)
        current = feats.deepest
        deepest = current
        if self.memory is not None:
            if state is None:
                state = self.memory.init_state(current)
            deepest, state = self.memory.read(current, state)
        feats = self.encoder.extend(feats, deepest)
        seg_logits, part_logits = self.seg_decoder(feats.taps)
        det_logits = det_deltas = activity = hog = None
        if self.det_head is not None:
            det_logits, det_deltas = self.det_head(feats.det_features)
        if self.activity_head is not None:
            activity = self.activity_head(deepest, seg_logits)
        if self.hog_head is not None and self.training:
            hog = self.hog_head(deepest)
        if self.memory is not None:
            confidence = entropy_confidence(seg_logits.detach())
            state = self.memory.admit(state, current.detach(), confidence)
        return ModelOutput(seg_logits, det_logits, det_deltas, activity, hog,
                           part_logits), state

    def feature_sizes(self, height: int, width: int) -> list[tuple[int, int]]:
        """``(h, w)`` of each detection map for an input of ``height x width``.

        Runs the encoder on the meta device (shapes only: no compute, no side effects on
        batch-norm statistics).
        """
        tensors = {**dict(self.encoder.named_parameters()), **dict(self.encoder.named_buffers())}
        meta = {name: torch.empty_like(t, device="meta") for name, t in tensors.items()}
        dtype = next(self.encoder.parameters()).dtype
        probe = torch.empty(2, 3, height, width, device="meta", dtype=dtype)
        feats = functional_call(self.encoder, meta, (probe,))
        return [tuple(f.shape[-2:]) for f in feats.det_features]

    def priors(self, height: int, width: int) -> Tensor:
        """``[P, 4]`` (cx, cy, w, h) in [0, 1] for an input of ``height x width``; cached.

        Always float32, on the model's device: in fp16/bf16 a prior centre near 1 would be
        off by several pixels at 1280 wide.
        """
        if self.det_head is None:
            raise ConfigError("this model has no detection head (model.detection.enabled or "
                              "det_classes is empty), so it has no priors")
        cached = self._prior_size == (height, width) and self.prior_boxes.dtype == torch.float32
        if not cached:
            _check_size(height, width)
            self.prior_boxes = make_priors(self.det_head.cfg, self.feature_sizes(height, width),
                                           (height, width), device=self.prior_boxes.device)
            self._prior_size = (height, width)
        return self.prior_boxes


def _check_size(height: int, width: int) -> None:
    if height % 32 or width % 32 or height < 32 or width < 32:
        raise ImageFormatError(
            f"network input {height}x{width}: height and width must be positive multiples of "
            "32; set preprocess.input_size accordingly"
        )


def _check_images(images: Tensor) -> None:
    if images.dim() != 4 or images.shape[1] != 3:
        raise ImageFormatError(
            f"expected images [B, 3, H, W], got shape {tuple(images.shape)}"
        )
    _check_size(int(images.shape[-2]), int(images.shape[-1]))
