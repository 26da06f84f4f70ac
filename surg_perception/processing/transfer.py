"""Host -> GPU upload of camera frames through one reusable pinned buffer.

A copy from pageable memory makes CUDA stage the bytes through a driver buffer and block
the host; copying the frame into page-locked memory we own lets the upload run as an
asynchronous (``non_blocking``) DMA. The buffer is reused frame after frame: the
predictor's step ends with a synchronising download, so the previous upload has always
finished before the buffer is overwritten.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class PinnedStaging:
    """One page-locked ``uint8`` buffer, reallocated only when the frame shape changes."""

    def __init__(self) -> None:
        self._buffer: Tensor | None = None

    def upload(self, frame: np.ndarray, device: torch.device) -> Tensor:
        """Copy ``frame`` (any strides) into the pinned buffer and start its async upload."""
        if self._buffer is None or tuple(self._buffer.shape) != frame.shape:
            self._buffer = torch.empty(frame.shape, dtype=torch.uint8, pin_memory=True)
        np.copyto(self._buffer.numpy(), frame)  # one host copy; handles negative strides
        return self._buffer.to(device, non_blocking=True)
