"""Where a 2D tip error lies: along the true shaft axis or across it, and at which end.

A median 2D tip error says how far, not why. Measured in the true tool's frame it tells the
faults apart: a tip on the silhouette but short of the jaw end (small negative ``along``), a
tip off the axis (``across``), or a tip found at the far end of the tool, where the shaft
leaves the mask (``along`` below minus half the visible length: "other end").
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class TipOffset:
    """Estimated minus true tip, in px, in the true tool's image frame."""

    along: float  # along the shaft axis, positive beyond the tip (away from the tool body)
    across: float  # unsigned distance from the shaft axis' image line
    visible_length: float  # from the true tip back to the farthest visible tool pixel

    @property
    def other_end(self) -> bool:
        return self.along < -0.5 * self.visible_length


def tip_offset(estimate: tuple[float, float], truth: tuple[float, float],
               line_2d: tuple[float, float, float], mask: np.ndarray) -> TipOffset | None:
    """Offset of ``estimate`` from ``truth`` (x, y px) for a tool of visible ``mask``.

    ``line_2d`` is the shaft axis' image line ``a x + b y + c = 0`` (``synth_gt.jsonl``'s
    ``shaft_axis.line_2d``); its direction is oriented from the tool's visible pixels towards
    the true tip. None when the mask is empty or the line degenerate.
    """
    a, b = float(line_2d[0]), float(line_2d[1])
    norm = np.hypot(a, b)
    ys, xs = np.nonzero(mask)
    if norm == 0 or not xs.size:
        return None
    direction = np.array([-b, a]) / norm
    tip = np.asarray(truth, np.float64)
    behind = (np.stack([xs, ys], axis=1) + 0.5 - tip) @ direction  # pixel centres
    if float(np.mean(behind)) > 0:  # the body must lie behind the tip
        direction, behind = -direction, -behind
    delta = np.asarray(estimate, np.float64) - tip
    return TipOffset(along=float(delta @ direction),
                     across=abs(float(delta @ np.array([-direction[1], direction[0]]))),
                     visible_length=float(max(-behind.min(), 0.0)))


def offset_stats(offsets: list[TipOffset]) -> dict:
    """Medians of along / across, the share at the other end, and n."""
    if not offsets:
        return {"n": 0, "along_median": None, "across_median": None, "other_end_share": None}
    return {"n": len(offsets),
            "along_median": float(np.median([o.along for o in offsets])),
            "across_median": float(np.median([o.across for o in offsets])),
            "other_end_share": float(np.mean([o.other_end for o in offsets]))}
