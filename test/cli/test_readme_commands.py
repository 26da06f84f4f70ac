"""The README's shell commands, run as written, so they cannot drift from the code.

Every fenced ``bash`` block of README.md is read; the ``surg-perception ...`` commands of a
block run in order in a fresh folder (with ``config/`` linked in), in this process. What
cannot run here is skipped with its reason (``SKIPPED``), and sizes are made small as
the README states above its offline block (``SMALL``): the same commands, smaller data.
Node commands (``apmtl_node --ros-args ...``) are not started, but every ``-p name:=value``
must name a parameter the node declares (the README once passed ``checkpoint:=``).
"""

from __future__ import annotations

from pathlib import Path
import re
import shlex

import pytest

from surg_perception.cli import main

REPO = Path(__file__).resolve().parents[2]

# first word (or its file name) -> why it is not run here
SKIPPED = {
    "make": "the Makefile targets run the whole suite / the demo (test/demo covers the demo)",
    "ros2": "needs the apt ROS 2 CLI (not in the pip-ROS environment)",
    "apmtl_node": "starts a node over DDS (test/ros runs the node; parameters checked below)",
    "python": "checks the environment or pools real-data reports",
    "torchrun": "elided arguments (`...`); test/training runs the 2-process job",
    "pip": "installs packages", "cd": "workspace set-up", "sudo": "installs packages",
    "colcon": "builds an apt-ROS workspace", "for": "a loop over the EndoVis 2017 folds",
}
REAL_DATA = "data/endovis17"  # released data this machine does not have
NOT_HERE = {"replay": "publishes over DDS until stopped (--loop)"}
TRAIN_YAML = """\
train: {optimizer: adam, lr: 1.0e-3, batch_size: 1, clip_length: 4, workers: 0, amp: false,
        log_interval: 1, ckpt_interval: 2,
        phases: [{name: detection, iterations: 1}, {name: end_to_end, iterations: 1}]}
"""
# option -> small value, per command (what the README's note above the block says)
SMALL = {
    "synth": {"--sequences": ["2"], "--frames": ["6"], "--size": ["96", "128"]},
    "synth-gallery": {"--size": ["256", "320"]},
    "train": {"--train-config": ["short_train.yaml"]},
    "bench": {"--size": ["64", "96"], "--frames": ["2"], "--warmup": ["1"]},
}


def readme_blocks() -> list[list[str]]:
    """The commands of each ``bash`` block: continuation lines joined, comments dropped."""
    text = (REPO / "README.md").read_text()
    blocks = []
    for body in re.findall(r"^```bash\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", body)
        commands = [re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
                    for line in joined.splitlines()]
        blocks.append([c for c in commands if c and not c.startswith("#")])
    return blocks


def skip_reason(command: str) -> str | None:
    words = shlex.split(command)
    name = Path(words[0]).name
    if name in SKIPPED:
        return SKIPPED[name]
    if name != "surg-perception":
        return f"not a surg-perception command: {name}"
    if REAL_DATA in command:
        return "needs the released EndoVis 2017 data"
    if len(words) > 1 and words[1] in NOT_HERE:
        return NOT_HERE[words[1]]
    return None


def small(words: list[str]) -> list[str]:
    """``surg-perception CMD ...`` -> argv with optional ``[...]`` parts dropped, sizes small."""
    argv = [w for w in words[1:] if not (w.startswith("[") or w.endswith("]"))]
    options = SMALL.get(argv[0] if argv else "", {})
    for option, value in options.items():
        if option in argv:
            at = argv.index(option)
            argv[at + 1:at + 1 + len(value)] = value
        else:
            argv += [option, *value]
    return argv


def node_parameters() -> set[str]:
    """Parameter names the node declares (``ParamSpec("name", ...)`` in surg_perception/ros)."""
    names = set()
    for path in (REPO / "surg_perception" / "ros").rglob("*.py"):
        names |= set(re.findall(r'ParamSpec\(\s*"([\w.]+)"', path.read_text()))
    return names


def test_the_readme_node_commands_pass_only_declared_parameters():
    declared = node_parameters()
    assert "model.checkpoint" in declared and "autostart" in declared
    passed = [name for block in readme_blocks() for command in block
              for name in re.findall(r"-p\s+([\w.]+):=", command)]
    assert passed, "the README shows no node command any more: update this test"
    assert set(passed) <= declared, sorted(set(passed) - declared)


def test_the_readme_parses_into_runnable_and_skipped_commands():
    commands = [c for block in readme_blocks() for c in block]
    runnable = [c for c in commands if skip_reason(c) is None]
    assert len(runnable) >= 12 and any(c.startswith("surg-perception train") for c in runnable)


@pytest.mark.slow  # ~1-2 minutes on 2 cores: synth, train, evaluate, prune, export, bags, bench
def test_the_readme_commands_run(tmp_path, monkeypatch, capsys):
    ran, skipped = [], []
    for index, block in enumerate(readme_blocks()):
        work = tmp_path / f"block{index}"
        work.mkdir()
        (work / "config").symlink_to(REPO / "config")
        (work / "short_train.yaml").write_text(TRAIN_YAML)
        monkeypatch.chdir(work)
        for command in block:
            reason = skip_reason(command)
            if reason:
                skipped.append((command, reason))
                continue
            argv = small(shlex.split(command))
            code = 0
            try:
                code = main(argv)
            except SystemExit as exc:  # --help
                code = exc.code
            assert code == 0, f"README command failed: {command}\n{capsys.readouterr().err}"
            ran.append(command)
    assert len(ran) >= 12, ran
    assert all(reason for _, reason in skipped)
