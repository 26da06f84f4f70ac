"""Which type does the model give each true instrument? An instance-level confusion matrix.

Type Dice mixes two errors: instruments not found and instruments found with the wrong type.
This separates them. Each true instrument of a held-out frame (a connected component of one
type in the ground-truth type mask, at least ``--min-area`` pixels) gets the type most of
its pixels have in the mask the model publishes (instance typing + box-fill, as the node),
or "missed" when fewer than ``--found`` of its pixels are predicted as any instrument. Rows:
true type; columns: missed, then the predicted type. A model whose type classifier has
collapsed shows one full column.

    PYTHONPATH=. .venv/bin/python scripts/probe_instance_types.py \
        runs/synthetic/tiny/train/model.pt runs/synthetic/test_data
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np


def instance_confusion(pred: np.ndarray, truth: np.ndarray, types: int, min_area: int = 200,
                       found: float = 0.3) -> np.ndarray:
    """``[types, types + 1]`` counts: row t - 1 = true type t; column 0 = missed, column p =
    predicted type p (``pred``/``truth``: ``[H, W]`` class ids, types ``1..types``)."""
    counts = np.zeros((types, types + 1), np.int64)
    for true_type in range(1, types + 1):
        count, ids = cv2.connectedComponents((truth == true_type).astype(np.uint8))
        for component in range(1, count):
            pixels = pred[ids == component]
            if pixels.size < min_area:
                continue
            votes = np.bincount(pixels, minlength=types + 1)[1:types + 1]
            hit = votes.sum() >= found * pixels.size
            counts[true_type - 1, int(np.argmax(votes)) + 1 if hit else 0] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("data", help="an EndoVis 2017-layout root (the held-out sequences)")
    parser.add_argument("--min-area", type=int, default=200)
    parser.add_argument("--found", type=float, default=0.3)
    args = parser.parse_args()

    from surg_perception.classes import ENDOVIS17_INSTRUMENT_TYPES
    from surg_perception.data import EndoVis17Dataset
    from surg_perception.data.endovis17 import mask_target
    from surg_perception.predictor import Predictor

    predictor = Predictor.from_checkpoint(args.checkpoint, device="cpu")
    spec = predictor.spec
    if tuple(spec.model.seg_classes) != tuple(ENDOVIS17_INSTRUMENT_TYPES):
        raise SystemExit(f"{args.checkpoint}: not an EndoVis 2017 type vocabulary")
    types = len(ENDOVIS17_INSTRUMENT_TYPES) - 1
    dataset = EndoVis17Dataset(args.data, None, target=mask_target(spec), frame_size=None,
                               crop=spec.preprocess.crop,
                               border_threshold=spec.preprocess.border_threshold)
    total = np.zeros((types, types + 1), np.int64)
    for indices in dataset.sequence_indices().values():
        predictor.reset()  # one stream per sequence, as evaluate
        for index in indices:
            sample = dataset[index]
            result = predictor.step(sample.image)
            total += instance_confusion(result.mask, sample.mask, types, args.min_area,
                                        args.found)
    names = ENDOVIS17_INSTRUMENT_TYPES[1:]
    print("true \\ predicted: missed, " + ", ".join(f"{k + 1} {n}" for k, n in enumerate(names)))
    for k, row in enumerate(total):
        print(f"{k + 1} {names[k]:<28}", " ".join(f"{v:4d}" for v in row))
    found = total[:, 1:]
    print(f"instruments: {total.sum()}, found: {found.sum()}, typed right among found: "
          f"{np.trace(found) / max(found.sum(), 1):.3f} (chance {1 / types:.3f})")


if __name__ == "__main__":
    main()
