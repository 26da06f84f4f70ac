"""EndoARSS-style image corruptions, each at 5 severities, for the robustness suite.

Every function maps an RGB uint8 ``[H, W, 3]`` frame, a severity ``1..5`` and a numpy
``Generator`` to a new uint8 ``[H, W, 3]`` frame; :func:`corrupt` seeds the generator, so
the same (image, name, severity, seed) always gives the same bytes. Sizes that depend on
the image (blur radius, smoke scale, spot radius) scale with its shorter side, so a
severity means the same visual strength at 320x256 and at 1280x1024.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from surg_perception.errors import ConfigError, ImageFormatError

SEVERITIES = (1, 2, 3, 4, 5)
Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _scale(image: np.ndarray) -> float:
    """Shorter side relative to 256 px (sizes below are given for a 256 px image)."""
    return min(image.shape[:2]) / 256.0


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise on [0, 1]: a random ``cells x cells`` grid, bicubically upsampled."""
    grid = rng.random((cells, cells)).astype(np.float32)
    field = cv2.resize(grid, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    field -= field.min()
    return field / max(float(field.max()), 1e-6)


def gaussian_noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = (8, 16, 24, 36, 48)[severity - 1]
    return _to_uint8(image + rng.normal(0.0, sigma, image.shape))


def gaussian_blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = max(0.5, (0.75, 1.5, 2.5, 3.5, 5.0)[severity - 1] * _scale(image))
    size = 2 * int(np.ceil(3 * sigma)) + 1  # explicit: OpenCV's own choice is 1 px below ~0.4
    return cv2.GaussianBlur(image, (size, size), sigmaX=sigma, sigmaY=sigma)


def smoke(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Cautery smoke: a whitish haze of uneven density."""
    strength = (0.2, 0.3, 0.4, 0.5, 0.65)[severity - 1]
    alpha = strength * (0.4 + 0.6 * _smooth_field(rng, image.shape[:2], 5))[..., None]
    haze = np.array([215.0, 210.0, 205.0])
    return _to_uint8(image * (1 - alpha) + haze * alpha)


def bleeding(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Blood: dark-red pools where a smooth field is high, plus an overall red tint."""
    area = (0.05, 0.1, 0.18, 0.27, 0.38)[severity - 1]
    field = _smooth_field(rng, image.shape[:2], 6)
    pool = np.clip((field - np.quantile(field, 1 - area)) * 8.0, 0.0, 0.85)[..., None]
    blood = np.array([120.0, 8.0, 10.0])
    tinted = image * np.array([1.0, 1.0 - 0.05 * severity, 1.0 - 0.05 * severity])
    return _to_uint8(tinted * (1 - pool) + blood * pool)


def specular(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Specular reflections: saturated white spots with soft edges."""
    count = (3, 6, 10, 15, 22)[severity - 1]
    height, width = image.shape[:2]
    light = np.zeros((height, width), np.float32)
    for _ in range(count):
        radius = max(1, int(rng.uniform(2.0, 6.0) * _scale(image)))
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(light, center, radius, 1.0, thickness=-1)
    light = cv2.GaussianBlur(light, (0, 0), sigmaX=max(0.5, _scale(image)))[..., None]
    return _to_uint8(image * (1 - light) + 255.0 * light)


def contrast(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factor = (0.75, 0.6, 0.45, 0.3, 0.2)[severity - 1]
    mean = image.reshape(-1, 3).mean(axis=0)
    return _to_uint8((image - mean) * factor + mean)


def jpeg(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    quality = (60, 40, 25, 15, 8)[severity - 1]
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageFormatError(f"JPEG encoding failed for an image of shape {image.shape}")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "gaussian_blur": gaussian_blur,
    "smoke": smoke,
    "bleeding": bleeding,
    "specular": specular,
    "contrast": contrast,
    "jpeg": jpeg,
}


def corrupt(image: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """Apply corruption ``name`` at ``severity`` (1..5) to an RGB uint8 ``[H, W, 3]`` frame.

    Deterministic: the random generator is seeded with ``seed``.
    """
    if name not in CORRUPTIONS:
        raise ConfigError(f"corruption {name!r} unknown; valid names: {sorted(CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ConfigError(f"severity {severity} out of range; use one of {SEVERITIES}")
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ImageFormatError(f"corrupt expects an RGB uint8 [H, W, 3] frame, got "
                               f"{image.dtype} {image.shape}")
    out = CORRUPTIONS[name](np.ascontiguousarray(image), severity, np.random.default_rng(seed))
    return np.ascontiguousarray(out, dtype=np.uint8)
