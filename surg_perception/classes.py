"""Class vocabularies of the datasets this package is trained on.

The lists follow the dataset documentation exactly (see README, "Datasets"); index 0
of a segmentation vocabulary is always background.
"""

ENDOVIS17_INSTRUMENT_TYPES: tuple[str, ...] = (
    "background",
    "Bipolar Forceps",
    "Prograsp Forceps",
    "Large Needle Driver",
    "Vessel Sealer",
    "Grasping Retractor",
    "Monopolar Curved Scissors",
    "Other",
)

# EndoVis 2017 part labels inside each per-instrument ground-truth mask.
ENDOVIS17_PART_VALUES: dict[int, str] = {10: "shaft", 20: "wrist", 30: "claspers"}

# EndoVis 2018 scene segmentation: (name, RGB colour). Map label PNGs by RGB, never grey.
ENDOVIS18_CLASSES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("background-tissue", (0, 0, 0)),
    ("instrument-shaft", (0, 255, 0)),
    ("instrument-clasper", (0, 255, 255)),
    ("instrument-wrist", (125, 255, 12)),
    ("kidney-parenchyma", (255, 55, 0)),
    ("covered-kidney", (24, 55, 125)),
    ("thread", (187, 155, 25)),
    ("clamps", (0, 255, 125)),
    ("suturing-needle", (255, 255, 125)),
    ("suction-instrument", (123, 15, 175)),
    ("small-intestine", (124, 155, 5)),
    ("ultrasound-probe", (12, 255, 141)),
)

# EndoVis-18-VQLA / MTLEndovis action vocabulary.
ACTIVITIES: tuple[str, ...] = (
    "Idle",
    "Grasping",
    "Retraction",
    "Tissue_Manipulation",
    "Tool_Manipulation",
    "Cutting",
    "Cauterization",
    "Suction",
    "Looping",
    "Suturing",
    "Clipping",
    "Staple",
    "Ultrasound_Sensing",
)

ENDOVIS17_CV_FOLDS: tuple[tuple[int, ...], ...] = ((1, 3), (2, 5), (4, 8), (6, 7))
ENDOVIS17_CROP_OFFSET: tuple[int, int] = (320, 28)  # (x, y) of the 1280x1024 crop
ENDOVIS17_CROP_SIZE: tuple[int, int] = (1280, 1024)  # (width, height)
