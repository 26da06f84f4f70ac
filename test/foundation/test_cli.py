"""The `surg-perception` command: every registered command parses its options."""

from pathlib import Path
import subprocess
import sys

import pytest

from surg_perception.cli import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert command in capsys.readouterr().out


def test_no_command_prints_the_list(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_library_error_is_reported_with_exit_code_2(tmp_path, capsys):
    assert main(["model-info", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_installed_console_script():
    script = Path(sys.prefix) / "bin" / "surg-perception"
    if not script.exists():
        pytest.skip(f"{script} not installed (run `make env`)")
    proc = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "process-bag" in proc.stdout
