"""Smooth paths: easing, interpolation and the endoscope's moves during Idle phases."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PAN_LIMITS = (np.array([-0.03, -0.025, -0.015]), np.array([0.03, 0.025, 0.025]))  # metres


def ease(s: float) -> float:
    """Smoothstep of ``s`` clipped to [0, 1]: starts and stops without a jolt."""
    s = min(max(s, 0.0), 1.0)
    return s * s * (3 - 2 * s)


def lerp(a, b, s: float):
    """``a + (b - a) * s`` for scalars or arrays."""
    return a + (np.asarray(b) - np.asarray(a)) * s


def camera_path(rng: np.random.Generator, centre: np.ndarray, n: int,
                allowed: Callable[[np.ndarray], bool],
                clear: Callable[[np.ndarray], bool] | None = None) -> list[np.ndarray]:
    """Endoscope positions for ``n`` Idle frames starting at ``centre``.

    Only positions ``allowed`` accepts are visited (e.g. far enough from the tissue). With
    ``clear`` (tells whether no instrument is in view from a position) the endoscope looks
    away: it moves 7-9.5 cm sideways (and 1.5 cm closer) to a position ``clear`` accepts,
    dwells and comes back; without it, or when no such position exists, it pans and zooms
    slowly by up to 2 cm within PAN_LIMITS (or keeps still when no step is allowed).
    """
    if clear is not None:
        for angle in rng.permutation(8) * (np.pi / 4):
            for dist in (0.07, 0.095):
                far = centre + np.array([np.cos(angle) * dist, np.sin(angle) * dist * 0.8, 0.015])
                if allowed(far) and clear(far):
                    go = int(0.4 * n)
                    return [lerp(centre, far, ease((i + 1) / go)) if i < go
                            else far if i < n - go
                            else lerp(far, centre, ease((i - n + go + 1) / go))
                            for i in range(n)]
    goal = centre
    for _ in range(4):
        step = np.array([rng.uniform(-0.02, 0.02), rng.uniform(-0.015, 0.015),
                         rng.uniform(-0.012, 0.015)])
        if allowed(np.clip(centre + step, *PAN_LIMITS)):
            goal = np.clip(centre + step, *PAN_LIMITS)
            break
    return [lerp(centre, goal, ease((i + 1) / n)) for i in range(n)]
