"""Synthetic activities are well posed: one acting instrument at a time, visible, doing what
its type can do, phases a temporal model can see, roughly balanced classes; every type and
empty frames occur in a modest dataset."""

from __future__ import annotations

from collections import Counter
import json
from pathlib import Path

import numpy as np
import pytest

from surg_perception.classes import ACTIVITIES
from surg_perception.data.activity import is_activity_question, parse_vqla
from surg_perception.data.endovis17 import EndoVis17Dataset
from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.data.synth_plan import (
    CAM,
    PHASE_FRAMES,
    WEIGHTS,
    plan_sequence,
    sequence_types,
)
from surg_perception.data.synth_tools import CUTTERS, ENERGY, GRASPERS, SUCTION

MODEST = SynthConfig(sequences=8, frames=64, size=(96, 80), seed=0)
CAN_DO = {"Grasping": GRASPERS, "Retraction": GRASPERS, "Cutting": CUTTERS,
          "Cauterization": ENERGY, "Suction": SUCTION, "Tissue_Manipulation": range(1, 7)}


@pytest.fixture(scope="module")
def modest_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("modest") / "data"
    write_synth_dataset(root, MODEST)
    return root


def test_every_type_occurs_in_any_eight_sequences() -> None:
    for seed in range(4):
        seen = set().union(*(sequence_types(seed, k, 3) for k in range(1, 9)))
        assert seen == set(range(1, 8)), seed
    assert {sequence_types(5, k, 1)[0] for k in range(1, 8)} == set(range(1, 8))


def _runs(frames) -> list[tuple[str, int | None, int]]:
    runs = []
    for frame in frames:
        if runs and runs[-1][:2] == (frame.activity, frame.actor):
            runs[-1] = (frame.activity, frame.actor, runs[-1][2] + 1)
        else:
            runs.append((frame.activity, frame.actor, 1))
    return runs


def test_plans_are_well_posed_and_roughly_balanced() -> None:
    counts = Counter()
    for index in range(1, 13):
        plan = plan_sequence(0, index, 120, 3)
        for t, frame in enumerate(plan.frames):
            counts[frame.activity] += 1
            if frame.actor is not None:
                inst = plan.instruments[frame.actor]
                assert inst.type_id in CAN_DO[frame.activity], (index, t, frame.activity)
                tip = CAM.project(CAM.to_eye(np.asarray(frame.tools[frame.actor].tip),
                                             frame.centre))
                assert CAM.inside(tip), (index, t)  # the acting instrument is in view
            if t:  # every instrument but the acting one keeps still
                prev = plan.frames[t - 1]
                for k, (now, before) in enumerate(zip(frame.tools, prev.tools)):
                    assert k == frame.actor or now == before, (index, t, k)
        runs = _runs(plan.frames)[:-1]  # the last phase may be cut by the sequence end
        # Consecutive Idle phases merge into one run; acting phases last 6-16 frames.
        assert all(PHASE_FRAMES[0] <= n <= PHASE_FRAMES[1] for a, _, n in runs if a != "Idle")
        assert all(n >= PHASE_FRAMES[0] for _, _, n in runs)
    assert set(counts) == set(WEIGHTS)
    assert max(counts.values()) <= 3 * min(counts.values()), counts


def _records(seq_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (seq_dir / "synth_gt.jsonl").read_text().splitlines()]


def test_the_dataset_shows_every_type_activity_and_empty_frames(modest_root: Path) -> None:
    manifest = json.loads((modest_root / "manifest.json").read_text())
    types = {i["type_id"] for s in manifest["sequences"] for i in s["instruments"]}
    assert types == set(range(1, 8))
    dataset = EndoVis17Dataset(modest_root, frame_size=None)
    samples = [dataset[i] for i in range(len(dataset))]
    activities = Counter(ACTIVITIES[s.activity] for s in samples)
    assert set(activities) == set(WEIGHTS), activities
    assert sum(not s.mask.any() for s in samples) > 0  # frames without any instrument
    for seq in manifest["sequences"]:
        seq_dir = modest_root / seq["name"]
        for record in _records(seq_dir):
            label = seq_dir / "vqla" / "label" / f"frame{record['frame']:03d}.txt"
            states = [e.answer for e in parse_vqla(label) if is_activity_question(e.question)]
            assert len(states) == len(seq["instruments"])
            assert sum(a != "Idle" for a in states) <= 1  # at most one instrument acts
            acting = [t for t in record["instruments"] if t["folder"] == record["acting"]]
            if record["acting"] is not None:  # ... and it is visible
                assert acting[0]["activity"] == record["activity"] != "Idle"
                assert acting[0]["visible_pixels"] > 0, (seq["name"], record["frame"])


def test_idle_means_still_and_activities_move(modest_root: Path) -> None:
    manifest = json.loads((modest_root / "manifest.json").read_text())
    still_pairs = 0
    for seq in manifest["sequences"]:
        seq_dir = modest_root / seq["name"]
        records = _records(seq_dir)
        for before, now in zip(records, records[1:]):
            if now["activity"] == before["activity"] == "Idle" and \
                    now["camera_centre"] == before["camera_centre"]:
                masks = [[(seq_dir / "ground_truth" / t["folder"] /
                           f"frame{r['frame']:03d}.png").read_bytes()
                          for t in r["instruments"]] for r in (before, now)]
                assert masks[0] == masks[1], (seq["name"], now["frame"])
                still_pairs += 1
        for start, first in enumerate(records):  # each acting phase moves its instrument
            if first["acting"] and (start == 0 or records[start - 1]["acting"] is None):
                phase = [r for r in records[start:start + PHASE_FRAMES[0]]
                         if r["acting"] == first["acting"]]
                poses = {(tuple(t["tip_3d"]), t["jaw_opening"]) for r in phase
                         for t in r["instruments"] if t["folder"] == first["acting"]}
                assert len(poses) > 1, (seq["name"], start)
    assert still_pairs > 0
