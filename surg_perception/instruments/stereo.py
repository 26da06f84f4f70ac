"""Instruments across the eyes of a rectified stereo pair, and their tips in 3D.

:class:`StereoRig` holds the two 3x4 projection matrices of ``camera_info`` (``p``: the
rectified pair, ``P_right[0][3] = -fx * baseline``) and optionally the left rectification
rotation ``r``. :func:`match_instances` pairs left and right instances of the same class
that satisfy the epipolar constraint of a rectified pair (tips on nearly the same row,
``|v_l - v_r| <= max_row_error_px``; a positive disparity ``u_l - u_r`` inside the range the
depth limits allow), by ``linear_sum_assignment`` on the row error. :func:`triangulate` gives
the tip in the left camera optical frame (x right, y down, z forward; metres) with
``cv2.triangulatePoints``, rotated back by ``r^T`` when a rectification rotation is given;
every result says whether it is valid and, if not, why.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from surg_perception.errors import ConfigError
from surg_perception.instruments.instances import Instance

REASONS = ("ok", "mono", "no_match", "no_tip", "disparity", "depth")


@dataclasses.dataclass(frozen=True)
class StereoConfig:
    """Epipolar gate (pixels) and the depth range (metres) a tip may have."""

    max_row_error_px: float = 6.0
    min_depth_m: float = 0.01
    max_depth_m: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.min_depth_m < self.max_depth_m:
            raise ConfigError("need 0 < min_depth_m < max_depth_m")


@dataclasses.dataclass(frozen=True, eq=False)
class StereoRig:
    """Rectified pair from ``camera_info``: ``p_left``, ``p_right`` 3x4, optional ``r_left``."""

    p_left: np.ndarray
    p_right: np.ndarray
    r_left: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("p_left", "p_right"):
            p = np.asarray(getattr(self, name), np.float64)
            if p.shape != (3, 4):
                raise ConfigError(f"{name} must be 3x4 (camera_info p), got {p.shape}")
            object.__setattr__(self, name, p)
        if not np.allclose(self.p_left[:, :3], self.p_right[:, :3], atol=1e-6) or \
                self.baseline_m <= 0:
            raise ConfigError("projection matrices are not a rectified pair with the right eye "
                              "on the right (same K, P_right[0][3] < 0)",
                              "pass the p of the rectified camera_info of both eyes")

    @classmethod
    def from_camera_info(cls, left: dict, right: dict) -> StereoRig:
        """From two ``camera_info``-like records (``p`` flat or 3x4, ``r`` optional)."""
        r = left.get("r")
        return cls(np.reshape(left["p"], (3, 4)), np.reshape(right["p"], (3, 4)),
                   None if r is None else np.reshape(r, (3, 3)).astype(np.float64))

    @property
    def fx(self) -> float:
        return float(self.p_left[0, 0])

    @property
    def baseline_m(self) -> float:
        return float(-(self.p_right[0, 3] - self.p_left[0, 3]) / self.p_left[0, 0])

    def disparity_range(self, cfg: StereoConfig) -> tuple[float, float]:
        """(min, max) disparity in pixels of points between the depth limits."""
        fb = self.fx * self.baseline_m
        return fb / cfg.max_depth_m, fb / cfg.min_depth_m


@dataclasses.dataclass(frozen=True)
class StereoTip:
    """A tip in 3D: ``point`` (x, y, z) m in the left optical frame, or None when not valid."""

    point: tuple[float, float, float] | None
    valid: bool
    reason: str  # one of REASONS
    disparity: float | None = None


def match_instances(left: list[Instance], right: list[Instance], rig: StereoRig,
                    cfg: StereoConfig = StereoConfig()) -> list[tuple[int, int]]:
    """Pairs (left index, right index) of the same instrument (module docstring)."""
    if not left or not right:
        return []
    lo, hi = rig.disparity_range(cfg)
    cost = np.full((len(left), len(right)), np.inf)
    for i, a in enumerate(left):
        for j, b in enumerate(right):
            dv = abs(a.tip_2d[1] - b.tip_2d[1])
            disparity = a.tip_2d[0] - b.tip_2d[0]
            if a.class_id == b.class_id and dv <= cfg.max_row_error_px and \
                    lo <= disparity <= hi:
                cost[i, j] = dv
    if not np.isfinite(cost).any():
        return []
    rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
    return [(int(r), int(c)) for r, c in zip(rows, cols) if np.isfinite(cost[r, c])]


def triangulate(tip_left: tuple[float, float] | None, tip_right: tuple[float, float] | None,
                rig: StereoRig, cfg: StereoConfig = StereoConfig()) -> StereoTip:
    """The 3D tip from its two image points (pixels of the rectified frames)."""
    if tip_left is None or tip_right is None:
        return StereoTip(None, False, "no_tip")
    disparity = float(tip_left[0] - tip_right[0])
    lo, hi = rig.disparity_range(cfg)
    if not lo <= disparity <= hi:
        return StereoTip(None, False, "disparity", disparity)
    h = cv2.triangulatePoints(rig.p_left, rig.p_right,
                              np.array(tip_left, np.float64).reshape(2, 1),
                              np.array(tip_right, np.float64).reshape(2, 1)).ravel()
    point = h[:3] / h[3]
    if rig.r_left is not None:
        point = rig.r_left.T @ point
    if not cfg.min_depth_m <= point[2] <= cfg.max_depth_m:
        return StereoTip(None, False, "depth", disparity)
    return StereoTip((float(point[0]), float(point[1]), float(point[2])), True, "ok", disparity)


def stereo_tips(left: list[Instance], right: list[Instance], rig: StereoRig,
                cfg: StereoConfig = StereoConfig()) -> list[StereoTip]:
    """One :class:`StereoTip` per left instance (``no_match`` where no right one pairs)."""
    out = [StereoTip(None, False, "no_match") for _ in left]
    for i, j in match_instances(left, right, rig, cfg):
        out[i] = triangulate(left[i].tip_2d, right[j].tip_2d, rig, cfg)
    return out
