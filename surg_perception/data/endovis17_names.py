"""EndoVis 2017 ground-truth folder names -> instrument type ids.

The eight training sequences do not name their per-instrument folders uniformly
(:data:`RELEASED_FOLDERS` lists them as released): the side is a prefix
(``Left_Prograsp_Forceps_labels``) or a suffix (``Large_Needle_Driver_Left_labels``), the
``_labels`` suffix is sometimes missing (``Prograsp_Forceps``, ``Right_Vessel_Sealer``) and one
folder carries the instrument's model (``Maryland_Bipolar_Forceps_labels``). Like the
preparation code everyone uses (TernausNet's ``prepare_data.py``, ISINet's ``organize2017.py``)
the type is found by the instrument's name inside the folder name, here made exact:

- names and folder are compared case-insensitively as ``_``-separated words (spaces and ``-``
  count as ``_``), and a name matches when its words occur consecutively in the folder name,
  so side words, ``labels`` or a model prefix around it do not matter and ``Other`` does not
  match inside another word;
- the longest matching name wins (``Maryland_Bipolar_Forceps`` over ``Bipolar_Forceps``);
  ``Prograsp_Forceps`` and ``Grasping_Retractor`` share no word sequence, so they never mix;
- two different types matching with names of equal length, or no match at all, is a
  :class:`DatasetError` naming the folder and the known names.
"""

from __future__ import annotations

import re

from surg_perception.errors import DatasetError

# Instrument name (EndoVis spelling) -> type id of classes.ENDOVIS17_INSTRUMENT_TYPES.
INSTRUMENT_NAMES: dict[str, int] = {
    "Bipolar_Forceps": 1,
    "Maryland_Bipolar_Forceps": 1,
    "Prograsp_Forceps": 2,
    "Large_Needle_Driver": 3,
    "Vessel_Sealer": 4,
    "Grasping_Retractor": 5,
    "Monopolar_Curved_Scissors": 6,
    "Other": 7,
}
OTHER = 7  # drop-in, non-robotic tools (probes, laparoscopic instruments)

# The folders of the training release (ground_truth/ of instrument_dataset_1..8), as read by
# public loaders of that release; tests check that every one maps to its type.
RELEASED_FOLDERS: dict[int, dict[str, int]] = {
    1: {"Left_Prograsp_Forceps_labels": 2, "Maryland_Bipolar_Forceps_labels": 1,
        "Other_labels": 7, "Right_Prograsp_Forceps_labels": 2},
    2: {"Left_Prograsp_Forceps_labels": 2, "Other_labels": 7,
        "Right_Prograsp_Forceps_labels": 2},
    3: {"Left_Large_Needle_Driver_labels": 3, "Right_Large_Needle_Driver_labels": 3},
    4: {"Large_Needle_Driver_Left_labels": 3, "Large_Needle_Driver_Right_labels": 3,
        "Prograsp_Forceps_labels": 2},
    5: {"Bipolar_Forceps_labels": 1, "Grasping_Retractor_labels": 5, "Vessel_Sealer_labels": 4},
    6: {"Left_Large_Needle_Driver_labels": 3, "Monopolar_Curved_Scissors_labels": 6,
        "Prograsp_Forceps": 2, "Right_Large_Needle_Driver_labels": 3},
    7: {"Left_Bipolar_Forceps": 1, "Right_Vessel_Sealer": 4},
    8: {"Bipolar_Forceps_labels": 1, "Left_Grasping_Retractor_labels": 5,
        "Monopolar_Curved_Scissors_labels": 6, "Right_Grasping_Retractor_labels": 5},
}

_SEPARATORS = re.compile(r"[\s\-_]+")


def _words(name: str) -> tuple[str, ...]:
    return tuple(w for w in _SEPARATORS.split(name.lower()) if w)


_NAME_WORDS = {name: _words(name) for name in INSTRUMENT_NAMES}


def _contains(words: tuple[str, ...], part: tuple[str, ...]) -> bool:
    return any(words[i:i + len(part)] == part for i in range(len(words) - len(part) + 1))


def instrument_type_id(folder_name: str) -> int:
    """Type id (1..7) of a ground-truth folder name, by the rules in the module docstring.

    Raises:
        DatasetError: no instrument name, or names of two types equally long, in the name.
    """
    words = _words(folder_name)
    matches = [(len(part), name) for name, part in _NAME_WORDS.items() if _contains(words, part)]
    if not matches:
        raise DatasetError(
            f"unknown instrument folder {folder_name!r}: its name contains none of the known "
            f"instrument names {', '.join(INSTRUMENT_NAMES)} (case-insensitive, any side "
            "prefix/suffix, with or without _labels); rename it or remove it from ground_truth")
    longest = max(length for length, _ in matches)
    best = {INSTRUMENT_NAMES[name] for length, name in matches if length == longest}
    if len(best) > 1:
        names = sorted(name for length, name in matches if length == longest)
        raise DatasetError(f"ambiguous instrument folder {folder_name!r}: it names "
                           f"{' and '.join(names)}; keep one instrument per folder")
    return best.pop()
