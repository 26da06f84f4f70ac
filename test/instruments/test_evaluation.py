"""Scoring against synth_gt.jsonl (generated here) and the oracle benchmark end to end."""

import dataclasses
import importlib.util

import numpy as np
import pytest

from surg_perception.data.synth import SynthConfig, write_synth_dataset
from surg_perception.errors import DatasetError
from surg_perception.evaluation.instruments import Estimate, read_sequence_truth, score_instruments


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    write_synth_dataset(out, SynthConfig(sequences=1, frames=8, size=(160, 128), seed=3,
                                         stereo=True))
    return read_sequence_truth(out / "instrument_dataset_1")


def perfect(frames):
    """Estimates equal to the ground truth: one track per folder."""
    names = sorted({i["folder"] for f in frames for i in f.record["instruments"]})
    return [[Estimate(names.index(i["folder"]) + 1, i["type_id"], f.masks[i["folder"]],
                      tuple(i["tip_2d"]["left"]), tuple(i["tip_3d"]))
             for i in f.record["instruments"] if f.masks[i["folder"]].any()] for f in frames]


def test_reading_the_generated_sequence(truth, tmp_path):
    assert len(truth) == 8 and truth[0].record["frame"] == 0
    for frame in truth:
        for inst in frame.record["instruments"]:
            assert np.count_nonzero(frame.masks[inst["folder"]]) == inst["visible_pixels"]
    with pytest.raises(DatasetError):
        read_sequence_truth(tmp_path)


def test_perfect_estimates_score_perfectly(truth):
    scores = score_instruments([(truth, perfect(truth))])
    assert scores["frames"] == 8 and scores["gt_instrument_frames"] > 0
    assert scores["tip_2d_px"]["median"] == 0.0 and scores["tip_3d_mm"]["median"] == 0.0
    mot = scores["mot"]
    assert (mot["mota"], mot["idf1"], mot["id_switches"], mot["fp"], mot["fn"]) == (1, 1, 0,
                                                                                    0, 0)


def test_an_id_switch_a_gap_and_tip_errors_are_counted(truth):
    est = perfect(truth)
    first = est[0][0]
    for t in range(4, 8):  # the first instrument changes its id from frame 4 on
        est[t] = [dataclasses.replace(e, track_id=99) if e.class_id == first.class_id else e
                  for e in est[t]]
    est[2] = [e for e in est[2] if e.track_id != first.track_id]  # missed in frame 2
    est[1] = [dataclasses.replace(e, tip_2d=(e.tip_2d[0] + 3.0, e.tip_2d[1] + 4.0),
                                  tip_3d=None) for e in est[1]]
    scores = score_instruments([(truth, est)])
    mot = scores["mot"]
    assert mot["id_switches"] == 1 and mot["fragmentations"] == 1 and mot["fn"] == 1
    assert mot["mota"] < 1 and mot["idf1"] < 1
    moved = sum(i["tip_in_view"]["left"] and truth[1].masks[i["folder"]].any()
                for i in truth[1].record["instruments"])
    tips = scores["tip_2d_px"]
    assert moved and tips["mean"] == pytest.approx(5.0 * moved / tips["n"])  # 3-4-5 offsets
    assert scores["valid_3d_rate"] < 1
    with pytest.raises(DatasetError):
        score_instruments([(truth, est[:3])])


def test_the_oracle_script_runs_on_small_frames(capsys, repo_root):
    spec = importlib.util.spec_from_file_location(
        "instruments_oracle", repo_root / "scripts" / "instruments_oracle.py")
    oracle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oracle)
    assert oracle.main(["--sequences", "1", "--frames", "6", "--size", "128", "160"]) == 0
    text = capsys.readouterr().out
    assert "2D tip error: median" in text and "id switches" in text
