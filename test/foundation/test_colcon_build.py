"""A ROS user's path: `colcon build` of this repository in a workspace (real colcon + rosidl).

The repository's tracked files are copied into `<tmp>/ws/src/surg_perception` (a venv inside
the source folder would be rejected by CMake's export checks, and users keep theirs elsewhere).
"""

import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

COLCON = Path(sys.prefix) / "bin" / "colcon"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, repo_root):
    if not COLCON.exists():
        pytest.skip("colcon is not installed (run `make env`)")
    if not (repo_root / ".git").exists():
        pytest.skip("needs a git checkout to list the package's files")
    files = subprocess.run(["git", "ls-files"], cwd=repo_root, capture_output=True, text=True,
                           check=True).stdout.split()
    ws = tmp_path_factory.mktemp("ws")
    src = ws / "src" / "surg_perception"
    for rel in files:
        if (repo_root / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(repo_root / rel, src / rel)
    return ws


def colcon(ws: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, AMENT_PREFIX_PATH=sys.prefix, CMAKE_PREFIX_PATH=sys.prefix)
    return subprocess.run([str(COLCON), *args], cwd=ws, env=env, capture_output=True, text=True,
                          timeout=600)


def test_colcon_discovers_only_our_package(workspace):
    listed = colcon(workspace, "list", "--names-only")
    assert listed.returncode == 0, listed.stderr
    # interfaces/vision_msgs is nested inside our package, so colcon must not see it
    assert listed.stdout.split() == ["surg_perception"]


@pytest.mark.slow
def test_colcon_build_installs_messages_modules_launch_and_node(workspace):
    built = colcon(workspace, "build", "--cmake-args", f"-DPython3_EXECUTABLE={sys.executable}",
                   "-DBUILD_TESTING=OFF", "-Wno-dev")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    prefix = workspace / "install" / "surg_perception"
    site = next(prefix.glob("lib/python3*/site-packages/surg_perception"))
    assert (site / "msg" / "_surgical_scene.py").is_file()
    assert (site / "ros" / "node.py").is_file() and (site / "models" / "apmtl.py").is_file()
    share = prefix / "share" / "surg_perception"
    for rel in ("package.xml", "launch/apmtl.launch.py", "config/apmtl.yaml",
                "msg/SurgicalScene.msg"):
        assert (share / rel).is_file(), rel
    node = prefix / "lib" / "surg_perception" / "apmtl_node"
    assert os.access(node, os.X_OK)
    assert node.read_text().startswith(f"#!{sys.executable}")
