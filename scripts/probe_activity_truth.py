"""Are the synthetic activity labels readable from what is visible over time? A ground-truth probe.

``scripts/probe_activity.py`` shows that the benchmark's models carry no activity cue that
transfers to held-out sequences. This asks the other half of the question: whether the labels
(``synth_gt.jsonl``'s per-frame ``activity``) follow from what an observer can see, so that a
model could learn them. It fits the same linear softmax probe on vectors built from the
generator's ground truth of the *visible* instruments only, never from the label's own
bookkeeping (which instrument acts, the draw order, the phase):

- ``types``: which instrument types are in view (7 flags);
- ``motion``: over the last ``window`` frames (``--windows``; every window is printed, none
  picked), the fastest-moving visible instrument's type, its tip speed (mm per frame, 3D and
  in the image), its jaw opening and the change of it, the camera's speed, and the same for
  the second-fastest instrument;
- ``types + motion`` with type x motion products (a linear probe cannot form "this type AND
  moving" itself).

Smoke, blood and tissue deformation are not in the records, so the probe sees less than the
images show.

    PYTHONPATH=. .venv/bin/python scripts/probe_activity_truth.py runs/synthetic/train_data \
        runs/synthetic/test_data
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from probe_activity import linear_probe
import torch

from surg_perception.classes import ACTIVITIES

TYPES = 7


def _visible(tool: dict) -> bool:
    return bool(tool["tip_in_view"]["left"]) and tool["visible_pixels"] > 0


def _tool_motion(records: list[dict], t: int, window: int, folder: str) -> np.ndarray:
    """[type one-hot x7, 3D tip speed (mm/frame), image tip speed (px/frame), opening (rad),
    opening change over the window (rad)] of one tool at frame ``t``."""
    start = max(t - window, 0)
    now = next(x for x in records[t]["instruments"] if x["folder"] == folder)
    then = next(x for x in records[start]["instruments"] if x["folder"] == folder)
    frames = max(t - start, 1)
    onehot = np.eye(TYPES)[now["type_id"] - 1]
    speed_3d = 1000 * np.linalg.norm(np.subtract(now["tip_3d"], then["tip_3d"])) / frames
    speed_2d = np.linalg.norm(np.subtract(now["tip_2d"]["left"], then["tip_2d"]["left"])) / frames
    return np.concatenate([onehot, [speed_3d, speed_2d, now["jaw_opening"],
                                    now["jaw_opening"] - then["jaw_opening"]]])


def frame_features(records: list[dict], t: int, window: int) -> dict[str, np.ndarray]:
    frame = records[t]
    tools = [x for x in frame["instruments"] if _visible(x)]
    types = np.zeros(TYPES)
    for tool in tools:
        types[tool["type_id"] - 1] = 1
    motions = sorted((_tool_motion(records, t, window, x["folder"]) for x in tools),
                     key=lambda m: -(m[TYPES] + 100 * abs(m[TYPES + 3])))
    slots = [m for m in motions[:2]] + [np.zeros(TYPES + 4)] * (2 - len(motions[:2]))
    start = max(t - window, 0)
    camera = 1000 * np.linalg.norm(np.subtract(frame["camera_centre"],
                                               records[start]["camera_centre"]))
    motion = np.concatenate([*slots, [camera / max(t - start, 1), len(tools)]])
    first = slots[0]
    products = np.concatenate([first[:TYPES] * first[TYPES + k] for k in range(4)])
    return {"types": types, "motion": motion, "products": products}


def dataset(root: str, window: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    vectors: dict[str, list[np.ndarray]] = {}
    labels = []
    for path in sorted(Path(root).glob("*/synth_gt.jsonl")):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for t in range(len(records)):
            for key, value in frame_features(records, t, window).items():
                vectors.setdefault(key, []).append(value)
            labels.append(ACTIVITIES.index(records[t]["activity"]))
    return ({k: torch.tensor(np.stack(v), dtype=torch.float32) for k, v in vectors.items()},
            torch.tensor(labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_data")
    parser.add_argument("test_data")
    parser.add_argument("--windows", type=int, nargs="+", default=(1, 2, 3, 5),
                        help="frames back for the motion (one probe each, all printed)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for window in args.windows:
        train, y_train = dataset(args.train_data, window)
        test, y_test = dataset(args.test_data, window)
        majority = float((y_test == torch.bincount(y_train).argmax()).float().mean())
        print(f"window {window}: {len(y_train)} training frames, {len(y_test)} held-out; the "
              f"training set's most frequent activity is {majority:.3f} of the held-out frames")
        for keys in (("types",), ("motion",), ("types", "motion", "products")):
            fit, held = linear_probe(torch.cat([train[k] for k in keys], 1), y_train,
                                     torch.cat([test[k] for k in keys], 1), y_test,
                                     len(ACTIVITIES))
            print(f"  {' + '.join(keys):26s} train {fit:.3f}  held-out {held:.3f}", flush=True)


if __name__ == "__main__":
    main()
