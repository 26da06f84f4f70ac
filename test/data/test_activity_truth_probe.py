"""``scripts/probe_activity_truth.py``: the per-frame vectors it builds from ``synth_gt.jsonl``
records (hand-made records here, and the generator's own on the session dataset)."""

import json

import numpy as np
import pytest

from surg_perception.classes import ACTIVITIES

from support.scripts import import_script


@pytest.fixture(scope="module")
def probe():
    return import_script("probe_activity_truth")


def _tool(folder, type_id, tip_mm, opening, visible=True):
    tip = np.asarray(tip_mm, float) / 1000
    return {"folder": folder, "type_id": type_id, "jaw_opening": opening,
            "tip_3d": tip.tolist(), "tip_2d": {"left": (tip[:2] * 10000).tolist()},
            "tip_in_view": {"left": visible}, "visible_pixels": 100 if visible else 0}


def _records():
    """3 frames: tool A (type 6) moves 1 mm per frame and closes, B (type 2) keeps still,
    C (type 7) is out of view; the camera does not move."""
    return [{"camera_centre": [0, 0, 0], "activity": "Cutting",
             "instruments": [_tool("A", 6, (t, 0, 80), 0.5 - 0.1 * t),
                             _tool("B", 2, (5, 5, 80), 0.3),
                             _tool("C", 7, (9, 9, 80), 0.0, visible=False)]}
            for t in range(3)]


def test_fastest_visible_tool_comes_first(probe):
    features = probe.frame_features(_records(), 2, window=2)
    types, motion = features["types"], features["motion"]
    assert types.tolist() == [0, 1, 0, 0, 0, 1, 0]  # C is out of view
    width = probe.TYPES + 4
    first, second = motion[:width], motion[width:2 * width]
    assert np.argmax(first[:probe.TYPES]) == 5 and np.argmax(second[:probe.TYPES]) == 1
    speed_3d, speed_2d, opening, change = first[probe.TYPES:]
    assert speed_3d == pytest.approx(1.0) and speed_2d == pytest.approx(10.0)
    assert opening == pytest.approx(0.3) and change == pytest.approx(-0.2)
    assert second[probe.TYPES] == 0.0
    assert motion[-2:].tolist() == [0.0, 2.0]  # camera speed, tools in view
    # products: the first tool's type one-hot times each of its four motion values
    assert features["products"].reshape(4, probe.TYPES)[0, 5] == pytest.approx(1.0)


def test_first_frame_has_no_motion(probe):
    motion = probe.frame_features(_records(), 0, window=3)["motion"]
    assert motion[probe.TYPES] == 0.0 and motion[probe.TYPES + 3] == 0.0


def test_dataset_reads_every_frame_and_label(probe, synth_root):
    truth = probe.read_truth(str(synth_root))
    vectors, labels = probe.vectors([sequence for _, sequence in truth], window=2)
    assert [folder.name for folder, _ in truth] == [f"instrument_dataset_{k}" for k in (1, 2, 3)]
    records = [json.loads(line) for folder, _ in truth
               for line in (folder / "synth_gt.jsonl").read_text().splitlines()]
    assert len(labels) == len(records) == len(vectors["motion"])
    assert [ACTIVITIES[i] for i in labels.tolist()] == [r["activity"] for r in records]
    assert vectors["types"].shape[1] == probe.TYPES


def test_model_tracks_give_vectors_for_every_frame(probe, synth_root, tiny_checkpoint):
    truth = probe.read_truth(str(synth_root), count=1)
    (records,) = probe.model_records(str(tiny_checkpoint), truth)
    assert [r["activity"] for r in records] == [r["activity"] for r in truth[0][1]]
    vectors, labels = probe.vectors([records], window=2)
    assert len(labels) == len(records) and vectors["motion"].shape[0] == len(records)
    assert all(x["tip_3d"] == [0.0, 0.0, 0.0] for r in records for x in r["instruments"])
