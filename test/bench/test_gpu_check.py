"""``scripts/gpu_check.sh``: the dry run on this (CPU) machine, and a runner that survives a
check raising, crashing or running past its budget."""

import importlib
import importlib.util
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def _module(name: str):
    """A module of scripts/ (the driver is a script, not part of the package)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check")
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(SCRIPTS / "gpu_check.sh"), "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=120, cwd="/")
    return proc, out


def test_dry_run_lists_every_check_and_exits_0(dry_run):
    proc, _ = dry_run
    assert proc.returncode == 0, proc.stderr
    cases = _module("gpu_check_cases")
    assert len(cases.CHECKS) == 9
    for check in cases.CHECKS:
        assert f"{check.name} ({check.budget_s:.0f} s): {check.title}" in proc.stdout
        assert f"skip {check.name}: dry run: " in proc.stdout
    total = _module("gpu_check").TOTAL_BUDGET_S
    assert sum(check.budget_s for check in cases.CHECKS) <= total <= 8 * 60


@pytest.mark.skipif(torch.cuda.is_available(), reason="the skip reasons of a CPU machine")
def test_dry_run_says_why_each_check_would_skip_here(dry_run):
    proc, out = dry_run
    data = json.loads((out / "report.json").read_text())
    assert data["schema"] == "surg_perception.gpu_check/1" and data["dry_run"] is True
    assert data["summary"] == {"pass": 0, "fail": 0, "skip": 9}
    reasons = {row["name"]: row["reason"] for row in data["checks"]}
    assert all(row["status"] == "skip" for row in data["checks"])
    assert all("no CUDA device" in reason for reason in reasons.values()), reasons
    if importlib.util.find_spec("tensorrt") is None:
        assert "tensorrt is not installed" in reasons["tensorrt"]
    if importlib.util.find_spec("onnxruntime") is None:
        assert "onnxruntime is not installed" in reasons["onnxruntime_cuda"]
    else:
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            assert "no CUDAExecutionProvider" in reasons["onnxruntime_cuda"]
    if importlib.util.find_spec("rclpy") is None:
        assert "rclpy is not installed" in reasons["frame_path"]
    assert f"torch {torch.__version__}" in data["machine"]
    markdown = (out / "report.md").read_text()
    assert "Summary: 0 pass, 0 fail, 9 skip (dry run)" in markdown
    for name, reason in reasons.items():
        assert f"| {name} | skip | 0.0 (" in markdown and reason in markdown
    assert not (out / "artefacts").exists()  # a dry run prepares nothing


def _fake(name: str, needs: tuple[str, ...] = ()):
    return _module("gpu_check_cases").Check(name, f"fake {name}", 30, needs, "unused")


def test_a_raising_check_fails_alone_and_the_report_follows_each_check():
    runner = _module("gpu_check")
    seen: list[list[str]] = []

    def execute(check, budget_s):
        if check.name == "boom":
            raise RuntimeError("kaput")
        return runner.Result(check.name, check.title, "pass", "ran", 0.1, budget_s)

    checks = [_fake("first"), _fake("boom"), _fake("last")]
    results = runner.run_checks(checks, lambda rs: seen.append([r.status for r in rs]),
                                execute)
    assert [r.status for r in results] == ["pass", "fail", "pass"]
    assert "RuntimeError: kaput" in results[1].reason
    assert "kaput" in results[1].details["traceback"]
    assert seen == [["pass"], ["pass", "fail"], ["pass", "fail", "pass"]]


def test_unmet_needs_and_spent_time_skip_without_running():
    runner = _module("gpu_check")
    ran: list[str] = []

    def execute(check, budget_s):
        ran.append(check.name)
        return runner.Result(check.name, check.title, "pass", "ran")

    with_cuda = _fake("needs_cuda", ("cuda",))
    results = runner.run_checks([with_cuda, _fake("late")], lambda rs: None, execute,
                                total_s=runner.MIN_START_S - 1)
    assert results[1].status == "skip" and "were spent" in results[1].reason
    if not torch.cuda.is_available():
        assert results[0].status == "skip" and "no CUDA device" in results[0].reason
        assert ran == []


def test_a_crashing_or_hanging_child_is_that_checks_failure(tmp_path):
    runner = _module("gpu_check")
    crashed = runner.run_in_child(_fake("no_such_check"), 60, tmp_path, tmp_path / "report")
    assert crashed.status == "fail" and "exited with 1 and no result" in crashed.reason
    assert "KeyError" in crashed.details["log_tail"]
    assert "KeyError" in (tmp_path / "report/logs/no_such_check.log").read_text()
    parity = _module("gpu_check_cases").CHECKS_BY_NAME["parity"]
    hung = runner.run_in_child(parity, 0.2, tmp_path)  # killed while importing torch
    assert hung.status == "fail" and hung.reason == "ran past its 0.2 s budget (killed)"


def test_write_report_keeps_details_and_counts(tmp_path):
    runner = _module("gpu_check")
    results = [runner.Result("a", "A", "pass", "ok", 1.0, 5, {"fps": 301.5}),
               runner.Result("b", "B", "fail", "x | y", 2.0, 5)]
    header = {"schema": runner.SCHEMA, "dry_run": False, "date": "today", "command": "c",
              "machine": "m"}
    runner.write_report(tmp_path, results, header)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["summary"] == {"pass": 1, "fail": 1, "skip": 0}
    assert data["checks"][0]["details"] == {"fps": 301.5}
    markdown = (tmp_path / "report.md").read_text()
    assert "| b | fail | 2.0 (5) | x / y |" in markdown and '"fps": 301.5' in markdown


@pytest.fixture
def on_the_cpu(monkeypatch, tmp_path):
    """The check bodies with their device set to the CPU (fp32, the tiny model): a
    rehearsal of the code a GPU run executes, numbers aside."""
    bodies = _module("gpu_check_bodies")
    monkeypatch.setattr(bodies, "DEVICE", torch.device("cpu"))
    monkeypatch.setattr(bodies, "NODE_DTYPE", "fp32")
    monkeypatch.setattr(bodies, "DTYPES", {"fp32": torch.float32})
    monkeypatch.setattr(bodies, "LIGHT", bodies.TINY)
    torch.manual_seed(0)
    return bodies, tmp_path / "work", tmp_path / "out"


def test_check_bodies_rehearsed_on_the_cpu(on_the_cpu):
    bodies, work, out = on_the_cpu
    work.mkdir()
    out.mkdir()
    status, reason, details = bodies.parity(work, out)
    assert status == "pass", reason
    assert details["fp32"]["seg_rel_err"] == 0.0 and details["fp32"]["mask_agreement"] == 1.0
    status, reason, details = bodies._bench(out, "bench_tiny", config=bodies.TINY,
                                            size=(64, 96), pruned=True, backends=("eager",),
                                            dtypes=("fp32",))
    assert status == "pass", reason
    assert [r["name"] for r in details["runs"]] == ["model", "model without memory",
                                                    "pruned model"]
    assert details["ratios"]["pruned_params_over_unpruned"] < 0.7
    assert json.loads((out / "bench_tiny.json").read_text())["schema"] == "surg_perception.bench/1"
    if importlib.util.find_spec("onnxruntime") is not None:
        status, reason, details = bodies.onnxruntime_cuda(work, out)
        assert status == "pass", reason
        assert details["loads"][0]["log"][0].startswith("exported")
        assert details["loads"][1]["log"][0].startswith("reusing cached")
        assert details["second"]["seg_rel_err"] < 1e-4


@pytest.mark.skipif(importlib.util.find_spec("rclpy") is None, reason="needs rclpy")
def test_frame_path_body_rehearsed_on_the_cpu(on_the_cpu):
    bodies, work, out = on_the_cpu
    status, reason, details = _module("gpu_check_node").frame_path(work, out)
    assert status == "pass", reason
    assert details["mask_shape"] == [1024, 1280]
    assert {"mask", "scene", "overlay"} <= set(details["outputs"])
    assert set(details["lazy_outputs"]["sets"]) == {"all", "scene", "mask"}
