"""`surg-perception <command> --help` parses before any heavy import: no torch, no rclpy.

What is measured is import work (``python -X importtime`` lists every module imported), not
time, so the test does not depend on the machine's load.
"""

import re
import subprocess
import sys

import pytest

from surg_perception.cli import COMMANDS

HEAVY = ("torch", "rclpy", "torchvision", "onnx", "onnxruntime", "matplotlib")


def _imported(argv: list[str]) -> tuple[subprocess.CompletedProcess, set[str]]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "surg_perception.cli",
                           *argv], capture_output=True, text=True, timeout=120)
    names = set(re.findall(r"^import time:.*\|\s*([\w.]+)\s*$", proc.stderr, re.MULTILINE))
    return proc, names


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_imports_no_torch_or_rclpy(command):
    proc, names = _imported([command, "--help"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage: surg-perception" in proc.stdout
    assert "surg_perception.errors" in names  # the log is read correctly
    heavy = sorted(n for n in names if n.split(".")[0] in HEAVY)
    assert not heavy, f"{command} --help imported {heavy[:5]}"


def test_an_argparse_error_imports_no_torch_either():
    proc, names = _imported(["train", "--data"])
    assert proc.returncode == 2 and "expected one argument" in proc.stderr
    assert "torch" not in names


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    proc = subprocess.run([sys.executable, "-m", "surg_perception.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"surg-perception {version('surg_perception')}"
