"""Camera frame -> normalised network input, plus the geometry that maps outputs back.

Everything runs on torch tensors, so the same code serves the CPU tests and the GPU node:
the uint8 frame is uploaded once and cropped, reordered, resized and normalised on the
device. The crop (``processing/crop.py``) is stretched onto the network input without
letterboxing, so a point at fraction (u, v) of the network input is at the same fraction of
the crop box. The resize is ``processing/resize.py``'s, the one the training transforms use,
so a camera frame reaches the network exactly as its dataset copy did in training.

Colour order: dataset samples and training batches are RGB; a camera frame carries its own
order (``color_order``); :func:`to_network_input` reorders to ``PreprocessConfig.color_order``.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses

import numpy as np
import torch
from torch import Tensor

from surg_perception.config import PreprocessConfig
from surg_perception.errors import ConfigError, ImageFormatError
from surg_perception.processing.crop import crop_box, find_crop_box  # noqa: F401 (old path)
from surg_perception.processing.resize import resize_image
from surg_perception.processing.transfer import PinnedStaging

COLOR_ORDERS = ("rgb", "bgr")


@dataclasses.dataclass(frozen=True)
class FrameGeometry:
    """How one camera frame maps onto the network input.

    Attributes:
        image_size: ``(H, W)`` of the camera frame.
        crop_box: ``(x0, y0, x1, y1)`` camera pixels fed to the network (end exclusive);
            the whole frame when no border is cropped.
        input_size: ``(H', W')`` of the network input.
    """

    image_size: tuple[int, int]
    crop_box: tuple[int, int, int, int]
    input_size: tuple[int, int]

    @property
    def crop_size(self) -> tuple[int, int]:
        """``(height, width)`` of the crop box."""
        x0, y0, x1, y1 = self.crop_box
        return y1 - y0, x1 - x0

    @property
    def is_cropped(self) -> bool:
        return self.crop_box != (0, 0, self.image_size[1], self.image_size[0])

    def boxes_to_camera(self, boxes: Tensor) -> Tensor:
        """``[N, 4]`` xyxy normalised to the network input -> ``[N, 4]`` xyxy camera pixels.

        Pixel ``(i, j)`` covers ``[j, j + 1) x [i, i + 1)``, so the image spans ``[0, W]``.
        Boxes are clipped to the crop box (the only part the network saw), which lies
        inside the image.
        """
        x0, y0, x1, y1 = self.crop_box
        # Python scalars, not new tensors: building a CUDA tensor from a list syncs the host.
        xs = boxes[:, 0::2].clamp(0.0, 1.0) * (x1 - x0) + x0
        ys = boxes[:, 1::2].clamp(0.0, 1.0) * (y1 - y0) + y0
        return torch.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], dim=1)


def check_color_order(color_order: str) -> None:
    """Raise :class:`ImageFormatError` unless ``color_order`` is ``"rgb"`` or ``"bgr"``."""
    if color_order not in COLOR_ORDERS:
        raise ImageFormatError(
            f"unknown colour order {color_order!r}; say which order the frame's channels are "
            f"in: one of {COLOR_ORDERS}"
        )


def frame_to_tensor(
    frame: np.ndarray | Tensor,
    device: torch.device | str = "cpu",
    staging: PinnedStaging | None = None,
) -> Tensor:
    """Check a camera frame and upload it once: ``[H, W, 3]`` uint8 -> tensor on ``device``.

    ``staging``: a pinned host buffer that makes the upload to a CUDA device asynchronous.

    Raises:
        ImageFormatError: not an array/tensor, not uint8, not ``[H, W, 3]`` or empty.
    """
    if not isinstance(frame, (np.ndarray, Tensor)):
        raise ImageFormatError(
            f"expected a uint8 [H, W, 3] numpy array or torch tensor, got {type(frame).__name__}"
        )
    shape = tuple(frame.shape)
    if frame.dtype not in (np.uint8, torch.uint8):
        raise ImageFormatError(
            f"expected a uint8 frame [H, W, 3], got dtype {frame.dtype} with shape {shape}; "
            "convert 8-bit colour images only (e.g. cv_bridge 'rgb8'/'bgr8')"
        )
    if len(shape) != 3 or shape[2] != 3 or shape[0] == 0 or shape[1] == 0:
        raise ImageFormatError(
            f"expected a colour frame of shape [H, W, 3], got shape {shape}; convert grey or "
            "alpha images to 3 channels first"
        )
    if isinstance(frame, np.ndarray):
        if staging is not None and torch.device(device).type == "cuda":
            return staging.upload(frame, torch.device(device))
        # torch.from_numpy refuses negative strides (e.g. frame[..., ::-1]).
        frame = torch.from_numpy(np.ascontiguousarray(frame))
    return frame.to(device, non_blocking=True)


def normalize(images: Tensor, cfg: PreprocessConfig) -> Tensor:
    """``[B, 3, H, W]`` float on ``[0, 255]`` -> ``(x / 255 - mean) / std``, in place.

    ``cfg.mean``/``cfg.std`` are listed in the network's channel order (``cfg.color_order``).
    """
    # non_blocking: a blocking host->device copy would wait for the stream to drain.
    mean = torch.tensor(cfg.mean, dtype=images.dtype).to(images.device, non_blocking=True)
    std = torch.tensor(cfg.std, dtype=images.dtype).to(images.device, non_blocking=True)
    mean, std = mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)
    return images.div_(255.0).sub_(mean).div_(std)


def to_network_order(images: Tensor, cfg: PreprocessConfig, color_order: str = "rgb") -> Tensor:
    """``[B, 3, h, w]`` with channels in ``color_order`` -> channels in ``cfg.color_order``."""
    check_color_order(color_order)
    if cfg.color_order not in COLOR_ORDERS:
        raise ConfigError(
            f"preprocess.color_order must be one of {COLOR_ORDERS}, got {cfg.color_order!r}"
        )
    return images if color_order == cfg.color_order else images.flip(1)


def to_network_input(images: Tensor, cfg: PreprocessConfig, color_order: str = "rgb") -> Tensor:
    """``[B, 3, h, w]`` uint8 in ``color_order`` -> ``[B, 3, H', W']`` float32, normalised.

    Channels are reordered to ``cfg.color_order``, resized to ``cfg.input_size`` with
    :func:`~surg_perception.processing.resize.resize_image` (antialiased bilinear, rounded
    to uint8: the training transforms store exactly that image) and normalised with the
    spec's mean/std. Frames already at the input size are only normalised.
    """
    images = resize_image(to_network_order(images, cfg, color_order), cfg.input_size)
    return normalize(images.float(), cfg)


def preprocess_frame(
    frame: np.ndarray | Tensor,
    cfg: PreprocessConfig,
    color_order: str = "rgb",
    device: torch.device | str = "cpu",
    staging: PinnedStaging | None = None,
) -> tuple[Tensor, FrameGeometry]:
    """One camera frame -> network input ``[1, 3, H', W']`` float32 on ``device`` + geometry.

    Args:
        frame: ``[H, W, 3]`` uint8, channels in ``color_order``.
        cfg: the model spec's preprocessing (input size, mean/std, colour order, crop).
    """
    check_color_order(color_order)
    image = frame_to_tensor(frame, device, staging)
    height, width = image.shape[:2]
    crop = crop_box(image, cfg.crop, cfg.border_threshold)
    x0, y0, x1, y1 = crop
    chw = image[y0:y1, x0:x1].permute(2, 0, 1).unsqueeze(0)
    geometry = FrameGeometry((height, width), crop, tuple(cfg.input_size))
    return to_network_input(chw, cfg, color_order), geometry


def preprocess_batch(
    frames: Sequence[np.ndarray | Tensor] | np.ndarray | Tensor,
    cfg: PreprocessConfig,
    color_order: str = "rgb",
    device: torch.device | str = "cpu",
) -> tuple[Tensor, list[FrameGeometry]]:
    """Several frames (a sequence, or ``[B, H, W, 3]`` uint8) -> ``[B, 3, H', W']`` + geometries.

    Frames may differ in size and crop; each is mapped on its own, then stacked.
    """
    if len(frames) == 0:
        raise ImageFormatError("preprocess_batch got no frames")
    results = [preprocess_frame(frame, cfg, color_order, device) for frame in frames]
    return torch.cat([r[0] for r in results]), [r[1] for r in results]
