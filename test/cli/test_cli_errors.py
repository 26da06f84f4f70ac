"""Errors are handled once: typed errors -> one stderr line with the remedy, exit 2 / 1.

Inputs are checked before a command starts its work: each case below would otherwise run an
export or load a model first (the checkpoint given here is not even loadable, so reaching the
export would fail differently).
"""

import subprocess
import sys

import pytest
import torch

from surg_perception.cli import main
from surg_perception.training import cli as train_cli


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, captured
    return lines[0]


def test_a_config_error_exits_2_with_one_line_on_stderr(tmp_path, capsys):
    assert main(["model-info", str(tmp_path / "missing.yaml")]) == 2
    assert _error_line(capsys).startswith("surg-perception model-info: error: ")


def test_a_runtime_failure_exits_1(tmp_path, capsys):
    assert main(["export", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")]) == 1
    line = _error_line(capsys)
    assert "checkpoint not found" in line and "(check the path" in line


def test_a_directory_as_checkpoint_names_the_file_inside(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    assert main(["evaluate", str(run), "--data", str(tmp_path), "--out", str(tmp_path / "r")]) == 1
    line = _error_line(capsys)
    assert f"checkpoint {run} is a directory" in line
    assert f"pass the .pt file inside, e.g. {run / 'checkpoints' / 'last.pt'}" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_evaluate_on_cuda_without_cuda_is_refused_before_loading(tmp_path, capsys):
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"not a checkpoint")  # loading it would fail differently
    code = main(["evaluate", str(checkpoint), "--data", str(tmp_path), "--out",
                 str(tmp_path / "r"), "--device", "cuda"])
    assert code == 2
    assert "--device cuda: CUDA is not available here (use cpu)" in _error_line(capsys)


def test_evaluate_refuses_an_earlier_report_before_loading(tmp_path, capsys):
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"not a checkpoint")  # loading it would fail differently
    out = tmp_path / "eval"
    out.mkdir()
    (out / "report.json").write_text('{"kept": true}')
    code = main(["evaluate", str(checkpoint), "--data", str(tmp_path), "--out", str(out)])
    assert code == 2
    line = _error_line(capsys)
    assert f"--out {out} holds earlier evaluation results (report.json)" in line
    assert "pass --force" in line
    assert (out / "report.json").read_text() == '{"kept": true}'
    # with --force the check passes and the command goes on to load the (bad) checkpoint
    assert main(["evaluate", str(checkpoint), "--data", str(tmp_path), "--out", str(out),
                 "--force"]) == 1
    assert "holds earlier" not in capsys.readouterr().err


def test_export_refuses_an_existing_file_before_exporting(tmp_path, capsys):
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"not a checkpoint")
    existing = tmp_path / "step.onnx"
    existing.write_bytes(b"keep me")
    assert main(["export", str(checkpoint), "--out", str(existing)]) == 2
    assert "pass --force to replace it" in _error_line(capsys)
    assert existing.read_bytes() == b"keep me"
    folder = tmp_path / "onnx"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"keep me too")  # --out DIR means DIR/model.onnx
    assert main(["export", str(checkpoint), "--out", str(folder)]) == 2
    assert f"{folder / 'model.onnx'} exists" in _error_line(capsys)


def test_export_into_a_folder(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "newdir"
    assert main(["export", str(tiny_checkpoint), "--out", f"{out}/", "--verify-frames",
                 "0"]) == 0
    written = out / f"{tiny_checkpoint.stem}.onnx"
    assert written.is_file() and f"wrote {written}" in capsys.readouterr().out
    assert main(["export", str(tiny_checkpoint), "--out", str(out), "--verify-frames", "0",
                 "--force"]) == 0  # an existing folder, its file replaced on request
    assert sorted(p.name for p in out.iterdir()) == [written.name]


def test_module_mains_delegate_to_the_one_entry_point(tmp_path):
    # What torchrun runs: the same error line and exit code as `surg-perception train`.
    proc = subprocess.run([sys.executable, "-m", "surg_perception.training.cli", "--data",
                           str(tmp_path), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().startswith("surg-perception train: error: pass --model-config")
    assert train_cli.main(["--data", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
