"""Pinhole stereo endoscope of the synthetic generator: intrinsics, projection, camera_info.

Frames (all metres): the *world* frame is the left camera's optical frame at frame 0 (x right,
y down, z forward). The endoscope only translates (pan = x/y, zoom = z), so a world point X
is ``X - c(t)`` in the left camera frame at frame t and ``X - c(t) - (B, 0, 0)`` in the right
one (rectified pair, horizontal baseline B = 5 mm).

Intrinsics follow the rendered size: ``fx = (1280 / 2) / tan(HFOV / 2) * W / 1280`` with a
70 degree horizontal field of view, ``fy`` the same focal length scaled by ``H / 1024``, and
the principal point at the image centre (``cx = W / 2 - 0.5``: pixel centres are integers),
so every size shows the view of the 1280x1024 EndoVis crop, as if downscaled from it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

HFOV_DEG = 70.0
BASE_SIZE = (1280, 1024)  # (W, H) at which fx == fy
BASELINE_M = 0.005
Z_NEAR = 0.012  # geometry closer than this to the lens is clipped away


@dataclasses.dataclass(frozen=True)
class Camera:
    """One eye: rendered size, intrinsics (px) and its x offset from the left eye (m)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    shift: float = 0.0  # 0 for the left eye, the baseline for the right eye

    def k(self) -> np.ndarray:
        """3x3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def to_eye(self, points: np.ndarray, centre: np.ndarray) -> np.ndarray:
        """World points [..., 3] -> this eye's optical frame at camera centre ``centre``."""
        return points - centre - np.array([self.shift, 0.0, 0.0])

    def project(self, points: np.ndarray) -> np.ndarray:
        """Eye-frame points [..., 3] (z >= Z_NEAR) -> pixel coordinates [..., 2]."""
        z = np.maximum(points[..., 2], Z_NEAR)
        return np.stack([self.fx * points[..., 0] / z + self.cx,
                         self.fy * points[..., 1] / z + self.cy], axis=-1)

    def ray(self, u: float, v: float) -> np.ndarray:
        """Eye-frame direction (z = 1) through normalised image point (u, v) in [0, 1]."""
        x, y = u * self.width - 0.5, v * self.height - 0.5
        return np.array([(x - self.cx) / self.fx, (y - self.cy) / self.fy, 1.0])

    def inside(self, pixels: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Whether pixel points [..., 2] lie inside the frame shrunk by ``margin`` (fraction)."""
        mx, my = margin * self.width, margin * self.height
        return ((pixels[..., 0] >= mx - 0.5) & (pixels[..., 0] <= self.width - 0.5 - mx)
                & (pixels[..., 1] >= my - 0.5) & (pixels[..., 1] <= self.height - 0.5 - my))


def make_camera(width: int, height: int, eye: str = "left") -> Camera:
    """The synthetic endoscope's ``eye`` ('left' or 'right') for frames of ``width x height``."""
    focal = (BASE_SIZE[0] / 2) / math.tan(math.radians(HFOV_DEG) / 2)
    shift = {"left": 0.0, "right": BASELINE_M}[eye]
    return Camera(width, height, focal * width / BASE_SIZE[0], focal * height / BASE_SIZE[1],
                  width / 2 - 0.5, height / 2 - 0.5, shift)


def projection_matrix(cam: Camera, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """3x4 P of ``cam`` in written-frame pixels (``offset``: where the render sits).

    P maps left-camera-frame points to this eye: ``P = K' [I | -shift e_x]``, so the right
    eye has ``P[0][3] = -fx * baseline`` as in ROS camera_info.
    """
    k = cam.k()
    k[0, 2] += offset[0]
    k[1, 2] += offset[1]
    return np.hstack([k, k @ np.array([[-cam.shift], [0.0], [0.0]])])


def camera_info(cam: Camera, size: tuple[int, int], offset: tuple[int, int] = (0, 0)) -> dict:
    """sensor_msgs/CameraInfo-like record of ``cam`` for written frames of ``size`` (W, H)."""
    p = projection_matrix(cam, offset)
    return {"width": int(size[0]), "height": int(size[1]), "distortion_model": "plumb_bob",
            "d": [0.0] * 5, "k": p[:, :3].round(6).tolist(),
            "r": np.eye(3).tolist(), "p": p.round(6).tolist()}
