"""The seven EndoVis 2017 instrument types as 3D models: sizes (metres), colours, jaw shapes.

Every type carries the cues a person uses on real video (jaw length, width, curvature, tip,
fenestrations, wrist shape), plus one the renderer makes unmistakable at any scale: a colour
of its own (hue) on the shaft, the wrist and ring bands near the wrist, so that any visible
part of an instrument tells its type at the 256x320 network input and at 96x128, also when
only the shaft or only the tip is in view:

==  ==========================  ===============================================================
id  type                        cues
==  ==========================  ===============================================================
1   Bipolar Forceps             slender curved (Maryland) jaws, pointed tips; blue shaft, wrist
                                and band
2   Prograsp Forceps            medium jaws, 2 windows, broad base, round tip; green, 2 bands
3   Large Needle Driver         short stout blunt jaws, dark serrated insert; yellow, wide band
4   Vessel Sealer               long broad flat dark jaws with a bright electrode stripe, bulky
                                purple wrist housing wider than the shaft; purple broad band
5   Grasping Retractor          long broad jaws, 3 windows; cyan shaft, wrist and band
6   Monopolar Curved Scissors   curved pointed bright blades, copper tip cover; black shaft,
                                red band
7   Other                       suction/irrigation tube: 5 mm light silver shaft, no wrist, no
                                jaws, rounded darker tip with holes (tip = part 30); no band
==  ==========================  ===============================================================

da Vinci shafts are 8 mm across and black; the colours are this generator's device to keep
the types separable with a margin (real types differ mostly at the tip). The "Other" tube is
5 mm. Jaws are flat plates hinged on a pivot axis; ``curve`` bends them sideways within the
plate (Maryland, scissors).
"""

from __future__ import annotations

import dataclasses

import numpy as np

RGB = tuple[float, float, float]
# type id -> (ground-truth folder base name, name used in VQLA questions)
TOOL_NAMES: dict[int, tuple[str, str]] = {
    1: ("Bipolar_Forceps", "bipolar_forceps"),
    2: ("Prograsp_Forceps", "prograsp_forceps"),
    3: ("Large_Needle_Driver", "large_needle_driver"),
    4: ("Vessel_Sealer", "vessel_sealer"),
    5: ("Grasping_Retractor", "grasping_retractor"),
    6: ("Monopolar_Curved_Scissors", "monopolar_curved_scissors"),
    7: ("Other", "other_instrument"),
}
GRASPERS = (1, 2, 3, 4, 5)  # can close on tissue (Grasping, Retraction)
ENERGY = (1, 4, 6)  # Cauterization
CUTTERS = (6,)  # Cutting
SUCTION = (7,)  # Suction


@dataclasses.dataclass(frozen=True)
class JawSpec:
    """One of the two identical jaws; lengths in metres, opening in radians (full angle)."""

    length: float
    base_width: float
    tip_width: float
    thickness: float
    curve: float  # sideways offset of the tip, fraction of the length
    tip: str  # 'pointed', 'blunt' or 'round'
    windows: int  # fenestrations cut through the jaw
    max_opening: float
    rgb: RGB
    gloss: float
    stripe_rgb: RGB | None = None  # painted insert along the jaw face


@dataclasses.dataclass(frozen=True)
class ToolSpec:
    """Shaft, ring bands (start and length from the wrist joint backwards), wrist, jaws."""

    shaft_radius: float
    shaft_rgb: RGB
    shaft_gloss: float
    bands: tuple[tuple[float, float, RGB], ...]
    wrist_length: float  # 0: no wrist (jawless tube)
    wrist_radius: float
    wrist_rgb: RGB
    jaw: JawSpec | None
    tip_length: float = 0.0  # jawless tube: length of the tip part (30)
    tip_rgb: RGB = (0.5, 0.5, 0.5)

    def reach(self, opening: float = 0.0) -> float:
        """Distance from the wrist joint to the tool-tip point along the jaw axis."""
        if self.jaw is None:
            return self.tip_length
        return self.wrist_length + self.jaw.length * float(np.cos(opening / 2))


MM = 1e-3
_SILVER = (0.80, 0.80, 0.82)
SPECS: dict[int, ToolSpec] = {
    1: ToolSpec(4 * MM, (0.06, 0.12, 0.45), 0.9, ((6 * MM, 3 * MM, (0.10, 0.35, 0.95)),),
                9 * MM, 3.6 * MM, (0.22, 0.45, 0.80),
                JawSpec(15 * MM, 3.6 * MM, 0.7 * MM, 2.2 * MM, 0.30, "pointed", 0, 0.9,
                        (0.78, 0.78, 0.80), 1.0)),
    2: ToolSpec(4 * MM, (0.05, 0.36, 0.08), 0.9,
                ((5 * MM, 2.5 * MM, (0.10, 0.80, 0.25)), (10 * MM, 2.5 * MM, (0.10, 0.80, 0.25))),
                10 * MM, 3.8 * MM, (0.25, 0.55, 0.30),
                JawSpec(19 * MM, 6.0 * MM, 2.8 * MM, 2.6 * MM, 0.0, "round", 2, 1.0,
                        _SILVER, 1.0)),
    3: ToolSpec(4 * MM, (0.42, 0.38, 0.03), 0.8, ((6 * MM, 5 * MM, (0.95, 0.82, 0.10)),),
                8 * MM, 3.9 * MM, (0.60, 0.52, 0.20),
                JawSpec(11 * MM, 5.4 * MM, 4.4 * MM, 3.4 * MM, 0.0, "blunt", 0, 0.6,
                        (0.58, 0.60, 0.63), 0.7, stripe_rgb=(0.22, 0.22, 0.24))),
    4: ToolSpec(4 * MM, (0.36, 0.06, 0.40), 0.8, ((9 * MM, 7 * MM, (0.58, 0.20, 0.85)),),
                15 * MM, 5.6 * MM, (0.45, 0.20, 0.60),
                JawSpec(24 * MM, 6.8 * MM, 5.6 * MM, 3.0 * MM, 0.06, "round", 0, 0.5,
                        (0.30, 0.30, 0.33), 0.6, stripe_rgb=(0.90, 0.90, 0.92))),
    5: ToolSpec(4 * MM, (0.04, 0.36, 0.42), 0.9, ((6 * MM, 3.5 * MM, (0.10, 0.85, 0.90)),),
                9 * MM, 3.9 * MM, (0.22, 0.52, 0.58),
                JawSpec(26 * MM, 6.2 * MM, 5.4 * MM, 2.4 * MM, 0.0, "round", 3, 1.0,
                        _SILVER, 1.0)),
    6: ToolSpec(4 * MM, (0.06, 0.06, 0.07), 0.9, ((16 * MM, 3 * MM, (0.90, 0.10, 0.10)),),
                10 * MM, 4.4 * MM, (0.62, 0.36, 0.20),
                JawSpec(14 * MM, 3.4 * MM, 0.4 * MM, 1.6 * MM, 0.35, "pointed", 0, 0.7,
                        (0.90, 0.88, 0.82), 1.3)),
    7: ToolSpec(2.5 * MM, (0.74, 0.76, 0.78), 1.3, (), 0.0, 0.0, (0.0, 0.0, 0.0), None,
                tip_length=12 * MM, tip_rgb=(0.45, 0.47, 0.50)),
}


def jaw_slices(jaw: JawSpec, count: int = 9) -> tuple[np.ndarray, ...]:
    """Cross-sections of a jaw: distance u from the pivot, sideways centre offset,
    half width and half thickness (metres), each [S]; the tip shape sets the last slices."""
    u = np.linspace(0.0, 1.0, count)
    half = 0.5 * (jaw.base_width + (jaw.tip_width - jaw.base_width) * u)
    if jaw.tip == "round":  # a half-disc end on the last width
        ang = np.linspace(0.0, np.pi / 2, 5)[1:]
        r = half[-1] / jaw.length
        u = np.concatenate([u * (1 - r), 1 - r + r * np.sin(ang)])
        half = np.concatenate([half, half[-1] * np.cos(ang)])
    elif jaw.tip == "blunt":  # square end with chamfered corners
        u = np.concatenate([u * 0.96, [1.0]])
        half = np.concatenate([half, [half[-1] * 0.7]])
    half = np.maximum(half, 0.15 * 1e-3)
    thick = 0.5 * jaw.thickness * (1.0 - 0.45 * u)
    centre = jaw.curve * jaw.length * u ** 2
    return u * jaw.length, centre, half, thick


def jaw_windows(jaw: JawSpec) -> list[np.ndarray]:
    """Fenestrations as (u, v) outlines [K, 2] (metres, v sideways from the centre line)."""
    if jaw.windows == 0:
        return []
    start, stop = 0.22 * jaw.length, 0.86 * jaw.length
    gap = 0.06 * jaw.length
    size = (stop - start - gap * (jaw.windows - 1)) / jaw.windows
    width = 0.27 * (jaw.base_width + jaw.tip_width) / 2
    ang = np.linspace(0, np.pi, 6)
    outlines = []
    for k in range(jaw.windows):
        a, b = start + k * (size + gap), start + k * (size + gap) + size
        r = min(width, (b - a) / 2)
        end_b = np.stack([b - r + r * np.sin(ang), r * np.cos(ang)], axis=1)  # rounded slot
        end_a = np.stack([a + r - r * np.sin(ang), -r * np.cos(ang)], axis=1)
        outlines.append(np.concatenate([end_b, end_a]))
    return outlines
