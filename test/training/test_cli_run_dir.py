"""`surg-perception train` never destroys an earlier run: a used --out is refused without
--resume or --force, --resume appends to the log, and a finished run says "nothing to do"."""

import csv

import pytest

from surg_perception.cli import main

from support.training import TWO_STEP_TRAIN_YAML


@pytest.fixture()
def train(tmp_path, synth_root, tiny_config_path):
    (tmp_path / "train.yaml").write_text(TWO_STEP_TRAIN_YAML)
    base = ["train", "--model-config", str(tiny_config_path), "--train-config",
            str(tmp_path / "train.yaml"), "--data", str(synth_root), "--out",
            str(tmp_path / "run")]
    return lambda *extra: main([*base, *extra])


def _steps(run) -> list[str]:
    with (run / "train_log.csv").open(newline="") as file:
        return [row["step"] for row in csv.DictReader(file)]


def test_a_used_run_folder_is_kept_until_resume_or_force(train, tmp_path, capsys):
    run = tmp_path / "run"
    assert train("--max-steps", "1") == 0
    first_log = (run / "train_log.csv").read_bytes()
    first_last = (run / "checkpoints" / "last.pt").read_bytes()
    capsys.readouterr()

    assert train() == 2  # a new run into the same folder: refused, nothing touched
    err = capsys.readouterr().err
    assert "holds an earlier run (checkpoints/last.pt, train_log.csv)" in err
    assert "pass --resume to continue it, --force to replace it" in err
    assert (run / "train_log.csv").read_bytes() == first_log
    assert (run / "checkpoints" / "last.pt").read_bytes() == first_last

    assert train("--resume") == 0  # continues: the old rows stay, byte for byte, in front
    log = (run / "train_log.csv").read_bytes()
    assert log.startswith(first_log) and len(log) > len(first_log)
    assert _steps(run) == ["1", "2"] and (run / "model.pt").is_file()
    assert "model written to" in capsys.readouterr().out

    assert train("--resume") == 0  # complete: says so and writes nothing
    assert "nothing to do:" in capsys.readouterr().out
    assert (run / "train_log.csv").read_bytes() == log

    assert train("--force", "--max-steps", "1") == 0  # a new run, the old outputs gone
    assert _steps(run) == ["1"] and not (run / "model.pt").exists()


def test_resume_and_force_together_are_refused(train, capsys):
    assert train("--resume", "--force") == 2
    assert "contradict" in capsys.readouterr().err


def test_resume_drops_only_the_rows_past_the_checkpoint(tmp_path):
    from surg_perception.training.logs import COLUMNS, TrainLog

    path = tmp_path / "train_log.csv"
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows({"step": step, "phase": "detection", "lr": "0.001"}
                         for step in (1, 2, 3, 4))
    log = TrainLog(tmp_path, resume_step=2)  # the checkpoint was taken at step 2
    log.write(3, "end_to_end", 1e-3, {"total": 0.5})
    log.close()
    assert _steps(tmp_path) == ["1", "2", "3"]
    with path.open(newline="") as file:
        assert list(csv.DictReader(file))[-1]["phase"] == "end_to_end"
