"""Are the synthetic activity labels readable from what is visible over time? A ground-truth probe.

``scripts/probe_activity.py`` shows that the benchmark's models carry no activity cue that
transfers to held-out sequences. This asks the other half of the question: whether the labels
(``synth_gt.jsonl``'s per-frame ``activity``) follow from what an observer can see, so that a
model could learn them. It fits the same linear softmax probe on vectors built from the
generator's ground truth of the *visible* instruments only, never from the label's own
bookkeeping (which instrument acts, the draw order, the phase):

- ``types``: which instrument types are in view (7 flags);
- ``motion``: over the last ``window`` frames (``--windows``; every window is printed, none
  picked), the fastest-moving visible instrument's type, its tip speed (mm per frame in 3D,
  px per frame in the image), its jaw opening and the change of it, the same for the
  second-fastest instrument, the camera's speed and the number of instruments in view;
- ``types + motion + products``: with type x motion products (a linear probe cannot form
  "this type AND moving" itself).

Row sets: ``truth`` (all of the above), ``truth, image only`` (without the 3D tip speed and
the camera's motion, which no single image gives) and, with ``--checkpoint``, ``model
tracks``: the same image-only vectors from the model's own instruments (the node's
instrument stream on the left frames: instances, track ids, tips and jaw openings from the
predicted type and part masks), i.e. what an activity classifier on the package's tracks
would see. Smoke, blood and tissue deformation are in no vector, so the probe sees less than
the images show.

    PYTHONPATH=. .venv/bin/python scripts/probe_activity_truth.py runs/synthetic/train_data \
        runs/synthetic/test_data [--checkpoint runs/synthetic/light/train/model.pt \
        --train-sequences 80]
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
    opening change (rad)] of one tool at frame ``t``, over the last ``window`` frames or
    since the tool's first frame in them (a track that has just started)."""
    now = next(x for x in records[t]["instruments"] if x["folder"] == folder)
    start, then = t, now
    for k in range(max(t - window, 0), t):
        found = [x for x in records[k]["instruments"] if x["folder"] == folder]
        if found:
            start, then = k, found[0]
            break
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
                     key=lambda m: -(m[TYPES + 1] + 100 * abs(m[TYPES + 3])))  # image only
    slots = [m for m in motions[:2]] + [np.zeros(TYPES + 4)] * (2 - len(motions[:2]))
    start = max(t - window, 0)
    camera = 1000 * np.linalg.norm(np.subtract(frame["camera_centre"],
                                               records[start]["camera_centre"]))
    motion = np.concatenate([*slots, [camera / max(t - start, 1), len(tools)]])
    first = slots[0]
    products = np.concatenate([first[:TYPES] * first[TYPES + k] for k in range(4)])
    return {"types": types, "motion": motion, "products": products}


def read_truth(root: str, count: int | None = None) -> list[tuple[Path, list[dict]]]:
    """(folder, ``synth_gt.jsonl`` records) of ``root``'s sequences in number order;
    ``count``: that many, evenly spread."""
    paths = sorted(Path(root).glob("instrument_dataset_*/synth_gt.jsonl"),
                   key=lambda p: int(p.parent.name.rsplit("_", 1)[1]))
    if count is not None and count < len(paths):
        paths = [paths[round(k * len(paths) / count)] for k in range(count)]
    return [(p.parent, [json.loads(line) for line in p.read_text().splitlines()])
            for p in paths]


def image_only(sequence: list[dict]) -> list[dict]:
    """The records without the 3D tip and the camera's motion (no single image gives them)."""
    return [{**r, "camera_centre": [0.0, 0.0, 0.0],
             "instruments": [{**x, "tip_3d": [0.0, 0.0, 0.0]} for x in r["instruments"]]}
            for r in sequence]


def model_records(checkpoint: str, truth: list[tuple[Path, list[dict]]]) -> list[list[dict]]:
    """Image-only records of the model's own instruments (track id as the folder), one
    stream per sequence from an empty memory, as the node runs it."""
    from surg_perception.checkpoint import load_model
    from surg_perception.data.io import list_frames, read_rgb
    from surg_perception.predictor import Predictor
    from surg_perception.ros.instrument_stream import InstrumentStream

    model, spec = load_model(checkpoint)
    predictor = Predictor(model, spec)
    stream = InstrumentStream(predictor)
    out = []
    for folder, sequence in truth:
        predictor.reset()
        stream.reset()
        records = []
        for t, (frame, record) in enumerate(zip(list_frames(folder / "left_frames"), sequence)):
            results = stream.step(predictor.step(read_rgb(frame), "rgb"), None, t / 30.0)
            records.append({"camera_centre": [0.0, 0.0, 0.0], "activity": record["activity"],
                            "instruments": [{
                                "folder": f"track {r.track_id}", "type_id": r.instance.class_id,
                                "tip_3d": [0.0, 0.0, 0.0],
                                "tip_2d": {"left": list(r.instance.tip_2d)},
                                "tip_in_view": {"left": True},
                                "visible_pixels": r.instance.area,
                                "jaw_opening": r.instance.jaw_opening or 0.0}
                                for r in results]})
        out.append(records)
    return out


def vectors(sequences: list[list[dict]], window: int) -> tuple[dict[str, torch.Tensor],
                                                               torch.Tensor]:
    rows: dict[str, list[np.ndarray]] = {}
    labels = []
    for records in sequences:
        for t in range(len(records)):
            for key, value in frame_features(records, t, window).items():
                rows.setdefault(key, []).append(value)
            labels.append(ACTIVITIES.index(records[t]["activity"]))
    return ({k: torch.tensor(np.stack(v), dtype=torch.float32) for k, v in rows.items()},
            torch.tensor(labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_data")
    parser.add_argument("test_data")
    parser.add_argument("--windows", type=int, nargs="+", default=(1, 2, 3, 5),
                        help="frames back for the motion (one probe each, all printed)")
    parser.add_argument("--checkpoint", help="add the rows of this model's own tracks")
    parser.add_argument("--train-sequences", type=int, default=None,
                        help="fit on this many training sequences, evenly spread (all: "
                             "default; the model rows run the network on each frame)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    train = read_truth(args.train_data, args.train_sequences)
    test = read_truth(args.test_data)
    truth = ([r for _, r in train], [r for _, r in test])
    sets = {"truth": truth,
            "truth, image only": tuple([image_only(s) for s in part] for part in truth)}
    if args.checkpoint:
        sets["model tracks"] = (model_records(args.checkpoint, train),
                                model_records(args.checkpoint, test))
    for window in args.windows:
        for name, (fit_on, score_on) in sets.items():
            x_train, y_train = vectors(fit_on, window)
            x_test, y_test = vectors(score_on, window)
            majority = float((y_test == torch.bincount(y_train).argmax()).float().mean())
            print(f"window {window}, {name}: {len(y_train)} training frames, {len(y_test)} "
                  f"held-out; the most frequent training activity is {majority:.3f} of them")
            for keys in (("types",), ("motion",), ("types", "motion", "products")):
                fit, held = linear_probe(torch.cat([x_train[k] for k in keys], 1), y_train,
                                         torch.cat([x_test[k] for k in keys], 1), y_test,
                                         len(ACTIVITIES))
                print(f"  {' + '.join(keys):26s} train {fit:.3f}  held-out {held:.3f}",
                      flush=True)


if __name__ == "__main__":
    main()
