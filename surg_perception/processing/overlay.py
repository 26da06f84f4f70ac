"""Overlay rendering for RViz/Foxglove: a pure NumPy/OpenCV function of one frame's results.

RViz's vision_msgs plugins draw 3D detections only, so 2D results are shown as an image:
the colour mask blended over the camera frame, boxes with class names and scores, the
instruments' 2D tool tips (small ringed dots), the top activity and the node's frame rate.
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclasses.dataclass(frozen=True)
class OverlayOptions:
    """How the overlay is drawn; every field may change live in the node."""

    alpha: float = 0.5  # weight of the colour mask in the blend (0 = frame only)
    draw_labels: bool = True  # class names + scores next to boxes, activity text
    show_fps: bool = True


def render_overlay(
    frame_bgr: np.ndarray,
    color_mask: np.ndarray | None,
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    det_classes: Sequence[str],
    activity_probs: np.ndarray | None = None,
    activity_classes: Sequence[str] = (),
    fps: float | None = None,
    options: OverlayOptions = OverlayOptions(),
    tips: Sequence[tuple[float, float]] = (),
) -> np.ndarray:
    """Draw one frame's results; returns a new ``[H, W, 3]`` uint8 BGR image.

    Args:
        frame_bgr: ``[H, W, 3]`` uint8 camera frame in BGR.
        color_mask: ``[H, W, 3]`` uint8 BGR mask colours (black = background) or None.
        boxes: ``[N, 4]`` xyxy camera pixels; ``scores`` ``[N]``; ``labels`` ``[N]`` in 1..K.
        det_classes: detection class names (``labels - 1`` indexes them).
        activity_probs: ``[A]`` probabilities or None; ``activity_classes`` their names.
        fps: frame rate to print (top-left) when ``options.show_fps``.
        tips: 2D tool tips ``(u, v)`` in camera pixels (the instruments' ``tip_2d``).
    """
    canvas = np.ascontiguousarray(frame_bgr, dtype=np.uint8).copy()
    if color_mask is not None and options.alpha > 0:
        blended = cv2.addWeighted(canvas, 1.0 - options.alpha, color_mask, options.alpha, 0.0)
        # Only instrument pixels are tinted; background keeps the original frame.
        foreground = color_mask.any(axis=2)
        canvas[foreground] = blended[foreground]
    scale = _text_scale(canvas.shape[0])
    for box, score, label in zip(boxes.tolist(), scores.tolist(), labels.tolist()):
        colour = _label_colour(int(label))
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), colour, max(1, int(2 * scale)))
        if options.draw_labels:
            name = det_classes[label - 1] if 1 <= label <= len(det_classes) else str(label)
            _put_text(canvas, f"{name} {score:.2f}", (x0, max(y0 - 3, 10)), scale, colour)
    _draw_tips(canvas, tips, scale)
    lines = []
    if options.show_fps and fps is not None:
        lines.append(f"{fps:.1f} fps")
    if options.draw_labels and activity_probs is not None and len(activity_probs):
        best = int(np.argmax(activity_probs))
        name = activity_classes[best] if best < len(activity_classes) else str(best)
        lines.append(f"{name} {float(activity_probs[best]):.2f}")
    for row, text in enumerate(lines):
        _put_text(canvas, text, (4, int((row + 1) * 22 * scale) + 2), scale, (255, 255, 255))
    return canvas


def _draw_tips(canvas: np.ndarray, tips: Sequence[tuple[float, float]], scale: float) -> None:
    # A dark ring around a bright dot shows on tissue, metal and the colour mask alike.
    radius = max(2, int(round(4 * scale)))
    for u, v in tips:
        centre = (int(round(u)), int(round(v)))
        cv2.circle(canvas, centre, radius + 1, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(canvas, centre, radius, (0, 255, 255), -1, cv2.LINE_AA)


def _text_scale(height: int) -> float:
    """Font scale that stays legible from 96-pixel test frames to 1080p endoscopes."""
    return float(np.clip(height / 720.0, 0.3, 1.5))


def _label_colour(label: int) -> tuple[int, int, int]:
    """A fixed, distinct BGR colour per detection label."""
    rng = np.random.default_rng(label)
    b, g, r = rng.integers(64, 256, size=3).tolist()
    return int(b), int(g), int(r)


def _put_text(canvas: np.ndarray, text: str, origin: tuple[int, int], scale: float,
              colour: tuple[int, int, int]) -> None:
    """``text`` with a dark outline, which keeps it readable over bright tissue and tools.

    The outline is the glyphs dilated by one pixel, not the text drawn again thicker: OpenCV
    advances each glyph by its stroke width, so a thick copy drifts right of the thin one and
    showed ghost characters after the label ("0.76" read "0.765")."""
    (width, height), baseline = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = origin
    x0, y0 = max(x - 2, 0), max(y - height - 2, 0)
    x1, y1 = min(x + width + 2, canvas.shape[1]), min(y + baseline + 2, canvas.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    glyphs = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.putText(glyphs, text, (x - x0, y - y0), _FONT, scale, 255, 1, cv2.LINE_AA)
    outline = cv2.dilate(glyphs, np.ones((3, 3), np.uint8))[..., None] / 255.0
    fill = glyphs[..., None] / 255.0
    roi = canvas[y0:y1, x0:x1].astype(np.float32) * (1.0 - outline)  # the dark outline
    roi = roi * (1.0 - fill) + np.asarray(colour, np.float32) * fill
    canvas[y0:y1, x0:x1] = np.round(roi).astype(np.uint8)
