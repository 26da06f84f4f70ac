"""Rasterise one instrument: project its primitives, shade them, anti-alias, motion-blur.

Cylinders become strips around the axis (the strip normal shades them: bright centre line,
dark silhouettes, a specular streak near the centre); jaws become per-segment convex hulls
(side walls) under their camera-facing face, with fenestrations cut through. Lighting is a
point light at the endoscope tip: Lambert plus Blinn-Phong highlights, brightness falling off
with the squared distance. Everything is drawn with ``cv2.fillConvexPoly``/``fillPoly`` at
sub-pixel precision (``SHIFT`` bits) into a layer around the tool: hard part labels for the
masks, premultiplied colour + coverage for the image, whose edges are then softened (the
anti-aliasing) and smeared along the image motion (motion blur) before compositing.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from surg_perception.data.synth_camera import Z_NEAR, Camera
from surg_perception.data.synth_geometry import Cylinder, Plate, ToolGeometry
from surg_perception.data.synth_tissue import Z_REF

SHIFT = 4
STRIPS = 10
LIGHT = np.array([0.004, -0.006, 0.0])  # light fibre beside the lens (eye frame, m)


@dataclasses.dataclass(frozen=True)
class ToolLayer:
    """An instrument drawn over the rectangle at (x0, y0): soft colour and coverage for the
    image, hard part labels for the masks."""

    x0: int
    y0: int
    colour: np.ndarray  # float32 [h, w, 3], 0..255 premultiplied by the coverage
    alpha: np.ndarray  # float32 [h, w] coverage
    part: np.ndarray  # uint8 [h, w], 0 / 10 / 20 / 30


def shade(albedo: np.ndarray, normal: np.ndarray, point: np.ndarray, gloss: float,
          gain: float) -> np.ndarray:
    """RGB 0..255 of surface points [..., 3] (eye frame) with normals and albedos [..., 3]."""
    to_light = LIGHT - point
    dist = np.linalg.norm(to_light, axis=-1, keepdims=True)
    light = to_light / dist
    view = -point / np.linalg.norm(point, axis=-1, keepdims=True)
    half = light + view
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    n_l = np.abs(np.sum(normal * light, axis=-1, keepdims=True))
    n_h = np.clip(np.abs(np.sum(normal * half, axis=-1, keepdims=True)), 0, 1)
    falloff = np.clip((Z_REF / dist) ** 2, 0.1, 1.8) * gain
    spec = gloss * (0.9 * n_h ** 60 + 0.18 * n_h ** 8)
    return 255 * falloff * (albedo * (0.15 + 0.85 * n_l) + spec)


def _clip_near(points: np.ndarray, radii: np.ndarray, colours: np.ndarray):
    """Drop axis samples in front of the near plane (interpolating the crossing one)."""
    z = points[:, 2]
    if (z >= Z_NEAR).all():
        return points, radii, colours
    first = int(np.argmax(z >= Z_NEAR))  # the shaft runs from near the lens to the wrist
    if z[first] < Z_NEAR or first == 0:
        return None
    t = (Z_NEAR - z[first - 1]) / (z[first] - z[first - 1])
    start = points[first - 1] + t * (points[first] - points[first - 1])
    return (np.vstack([start, points[first:]]), np.concatenate([radii[first - 1:first],
            radii[first:]]), colours[first - 1:])


def _ring(cyl_points: np.ndarray, radii: np.ndarray, phi: np.ndarray, axis: np.ndarray):
    """Visible half of a cylinder along unit ``axis``: surface points [S, P, 3] and normals
    at angles ``phi`` (0 faces the camera)."""
    view = cyl_points / np.linalg.norm(cyl_points, axis=1, keepdims=True)
    away = view - np.sum(view * axis, axis=1, keepdims=True) * axis
    away /= np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-9)
    across = np.cross(axis, away)
    normals = (np.sin(phi)[None, :, None] * across[:, None]
               - np.cos(phi)[None, :, None] * away[:, None])
    return cyl_points[:, None] + radii[:, None, None] * normals, normals


class _Canvas:
    """The layer being drawn: pixel transform, colour, parts."""

    def __init__(self, cam: Camera, x0: int, y0: int, w: int, h: int) -> None:
        self.cam, self.x0, self.y0 = cam, x0, y0
        self.colour = np.zeros((h, w, 3), np.float32)
        self.part = np.zeros((h, w), np.uint8)

    def fixed(self, points: np.ndarray) -> np.ndarray:
        px = self.cam.project(points) - (self.x0, self.y0)
        return np.round(np.clip(px, -1e5, 1e5) * (1 << SHIFT)).astype(np.int32)

    def fill(self, poly: np.ndarray, rgb, part: int = 0, convex: bool = True) -> None:
        rgb = tuple(float(c) for c in rgb)
        if convex:
            cv2.fillConvexPoly(self.colour, poly, rgb, cv2.LINE_8, SHIFT)
        else:
            cv2.fillPoly(self.colour, [poly], rgb, cv2.LINE_8, SHIFT)
        if part and convex:
            cv2.fillConvexPoly(self.part, poly, part, cv2.LINE_8, SHIFT)
        elif part:
            cv2.fillPoly(self.part, [poly], part, cv2.LINE_8, SHIFT)


def _draw_cylinder(cv: _Canvas, cyl: Cylinder, gain: float) -> None:
    clipped = _clip_near(cyl.points, cyl.radii, cyl.colours)
    if clipped is None:
        return
    points, radii, colours = clipped
    axis = points[-1] - points[0]
    if np.linalg.norm(axis) < 1e-7:
        return
    axis /= np.linalg.norm(axis)
    # As many strips as the projected width needs (about 4 px each), at most STRIPS.
    width = 2 * radii.max() * cv.cam.fx / max(float(points[:, 2].min()), Z_NEAR)
    strips = int(np.clip(width / 4, 3, STRIPS))
    phi = np.linspace(-np.pi / 2, np.pi / 2, strips + 1)
    ring, _ = _ring(points, radii, phi, axis)
    mid_phi = (phi[1:] + phi[:-1]) / 2
    mids, normals = _ring((points[1:] + points[:-1]) / 2, (radii[1:] + radii[:-1]) / 2, mid_phi,
                          axis)
    rgb = shade(colours[:, None, :], normals, mids, cyl.gloss, gain)
    fixed = cv.fixed(ring)  # [S + 1, P, 2]
    outline = np.concatenate([fixed[:, 0], fixed[::-1, -1]])
    cv.fill(outline, rgb[:, 0].mean(0), cyl.part, convex=False)  # silhouette, edge colour
    quads = np.stack([fixed[:-1, :-1], fixed[1:, :-1], fixed[1:, 1:], fixed[:-1, 1:]], axis=2)
    for quad_row, rgb_row in zip(quads, rgb.tolist()):
        for quad, colour in zip(quad_row, rgb_row):
            cv2.fillConvexPoly(cv.colour, quad, colour, cv2.LINE_8, SHIFT)


def _draw_plate(cv: _Canvas, plate: Plate, gain: float) -> None:
    c, side, up = plate.centres, plate.side, plate.up
    hw, ht = plate.half_width[:, None], plate.half_thick[:, None]
    corners = np.stack([c + side * hw + up * ht, c - side * hw + up * ht,
                        c - side * hw - up * ht, c + side * hw - up * ht], axis=1)  # [S, 4, 3]
    fixed = cv.fixed(corners)
    box = fixed.reshape(-1, 2) >> SHIFT
    x0, y0 = np.clip(box.min(0) - 2, 0, None)
    x1, y1 = np.clip(box.max(0) + 3, 0, cv.part.shape[::-1])
    saved = (cv.colour[y0:y1, x0:x1].copy(), cv.part[y0:y1, x0:x1].copy())
    view = c.mean(0) / np.linalg.norm(c.mean(0))
    facing = 1.0 if np.dot(up, view) < 0 else -1.0  # the face turned to the camera
    albedo = np.array(plate.rgb)
    wall = shade(albedo * 0.55, side * np.sign(-np.dot(side, view)), c, plate.gloss * 0.5, gain)
    for s in range(len(c) - 1):
        hull = cv2.convexHull(np.concatenate([fixed[s], fixed[s + 1]]))
        cv.fill(hull, wall[s], plate.part)
    face = c + facing * up * ht
    face_rgb = shade(albedo, facing * up, face, plate.gloss, gain)
    left, right = cv.fixed(face + side * hw), cv.fixed(face - side * hw)
    for s in range(len(c) - 1):
        cv.fill(np.stack([left[s], left[s + 1], right[s + 1], right[s]]), face_rgb[s])
    # Edges give the jaw its outline: a bright rim on the face, a dark seam where it meets
    # the other jaw, on the edge turned to the camera.
    edge = -1.0 if np.dot(side, view) > 0 else 1.0
    px = max(1, int(round(0.3e-3 * cv.cam.fx / float(np.mean(c[:, 2])))))
    rim = tuple(float(v) for v in np.minimum(face_rgb.mean(0) * 1.6 + 30, 255))
    for line, rgb in ((face + side * hw * edge, rim),
                      (c - facing * up * ht + side * hw * edge, (10.0, 10.0, 12.0))):
        cv2.polylines(cv.colour, [cv.fixed(line)], False, rgb, px, cv2.LINE_8, SHIFT)
    offset = facing * up * float(plate.half_thick.mean())
    if plate.stripe is not None:
        rgb = shade(np.array(plate.stripe_rgb), facing * up, face.mean(0), 0.6, gain)
        cv.fill(cv.fixed(plate.stripe + offset), rgb, convex=False)
    if abs(np.dot(up, view)) > 0.3 and plate.windows and x1 > x0 and y1 > y0:
        hole = np.zeros((y1 - y0, x1 - x0), np.uint8)
        for window in plate.windows:
            cv2.fillPoly(hole, [cv.fixed(window + offset) - [x0 << SHIFT, y0 << SHIFT]], 1,
                         cv2.LINE_8, SHIFT)
        cut = hole > 0  # see through: restore what lay behind this jaw
        cv.colour[y0:y1, x0:x1][cut] = saved[0][cut]
        cv.part[y0:y1, x0:x1][cut] = saved[1][cut]


def motion_kernel(blur: np.ndarray) -> np.ndarray | None:
    """Normalised line kernel along the smear vector ``blur`` (px); None below 1 px."""
    length = float(np.hypot(*blur))
    if length < 1.0:
        return None
    half = int(np.ceil(length / 2)) + 1
    kernel = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    a, b = np.array([half, half]) - blur / 2, np.array([half, half]) + blur / 2
    cv2.line(kernel, tuple(np.round(a * 16).astype(int)), tuple(np.round(b * 16).astype(int)),
             1.0, 1, cv2.LINE_AA, 4)
    return kernel / kernel.sum()


def _extent(geom: ToolGeometry, cam: Camera, centre: np.ndarray) -> np.ndarray:
    pts = [p.points for p in geom.primitives if isinstance(p, Cylinder)]
    pts += [p.centres for p in geom.primitives if isinstance(p, Plate)]
    eye = cam.to_eye(np.concatenate(pts), centre)
    eye = eye[eye[:, 2] >= Z_NEAR]
    return cam.project(eye) if len(eye) else np.zeros((0, 2))


def render_tool(geom: ToolGeometry, cam: Camera, centre: np.ndarray, blur: np.ndarray,
                gain: float) -> ToolLayer | None:
    """Draw ``geom`` seen by ``cam`` at camera centre ``centre``; None when out of view.

    ``blur`` is the image motion (px) smeared over the exposure.
    """
    px = _extent(geom, cam, centre)
    if not len(px):
        return None
    pad = int(np.ceil(np.hypot(*blur))) + int(0.03 * max(cam.width, cam.height)) + 3
    x0, y0 = np.floor(px.min(0)).astype(int) - pad
    x1, y1 = np.ceil(px.max(0)).astype(int) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, cam.width), min(y1, cam.height)
    if x1 <= x0 or y1 <= y0:
        return None
    cv = _Canvas(cam, x0, y0, x1 - x0, y1 - y0)
    prims = []
    for prim in geom.primitives:  # painter's order: far parts first
        pts = prim.points if isinstance(prim, Cylinder) else prim.centres
        eye_pts = cam.to_eye(pts, centre)
        moved = dataclasses.replace(prim, **({"points": eye_pts} if isinstance(prim, Cylinder)
                                             else _plate_eye(prim, eye_pts, cam, centre)))
        prims.append((float(eye_pts[:, 2].mean()), len(prims), moved))
    for _, _, prim in sorted(prims, key=lambda p: (-p[0], p[1])):
        (_draw_cylinder if isinstance(prim, Cylinder) else _draw_plate)(cv, prim, gain)
    if not cv.part.any():
        return None
    alpha = (cv.part > 0).astype(np.float32)
    colour = cv2.multiply(cv.colour, cv2.merge([alpha, alpha, alpha]))  # premultiplied
    # Anti-aliased edges, then the smear of the image motion during the exposure.
    colour, alpha = (cv2.GaussianBlur(a, (3, 3), 0.55) for a in (colour, alpha))
    kernel = motion_kernel(blur)
    if kernel is not None:
        colour, alpha = (cv2.filter2D(a, -1, kernel, borderType=cv2.BORDER_CONSTANT)
                         for a in (colour, alpha))
    return ToolLayer(x0, y0, colour, alpha, cv.part)


def _plate_eye(plate: Plate, centres: np.ndarray, cam: Camera, centre: np.ndarray) -> dict:
    move = lambda p: None if p is None else cam.to_eye(p, centre)  # noqa: E731
    return {"centres": centres, "windows": [move(w) for w in plate.windows],
            "stripe": move(plate.stripe)}


def composite(image: np.ndarray, layer: ToolLayer) -> None:
    """Blend ``layer`` over float RGB ``image`` in place."""
    h, w = layer.part.shape
    roi = image[layer.y0:layer.y0 + h, layer.x0:layer.x0 + w]
    keep = 1.0 - layer.alpha
    cv2.multiply(roi, cv2.merge([keep, keep, keep]), dst=roi)
    cv2.add(roi, layer.colour, dst=roi)
