"""The ROS build installed the package the way a colcon workspace would."""

import os
from pathlib import Path
import subprocess
import sys

import pytest

PREFIX = Path(sys.prefix)  # make env installs the ROS build into the venv prefix
SHARE = PREFIX / "share" / "surg_perception"


@pytest.fixture(scope="module", autouse=True)
def _needs_ros_build():
    if not (SHARE / "package.xml").exists():
        pytest.skip(f"no ROS build of surg_perception under {PREFIX} (run `make env`)")


def test_share_holds_package_launch_and_config():
    for rel in ("package.xml", "launch/apmtl.launch.py", "config/apmtl.yaml",
                "config/models/tiny.yaml", "config/models/apmtl.yaml"):
        assert (SHARE / rel).is_file(), f"missing share/surg_perception/{rel}"


def test_node_executable_installed_with_a_working_interpreter():
    exe = PREFIX / "lib" / "surg_perception" / "apmtl_node"
    assert exe.is_file() and os.access(exe, os.X_OK)
    interpreter = exe.read_text().splitlines()[0].removeprefix("#!").split()
    # run from / with a bare PATH: the shebang alone must find rclpy, torch and the node
    proc = subprocess.run([*interpreter, "-c", "import surg_perception.ros.node"],
                          cwd="/", env={"PATH": "/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_installed_python_package_holds_generated_and_handwritten_modules():
    site = Path(__import__("sysconfig").get_path("purelib")) / "surg_perception"
    assert (site / "msg" / "__init__.py").is_file(), "generated surg_perception.msg missing"
    assert (site / "config.py").is_file() and (site / "ros").is_dir()


def test_package_xml_declares_ros_dependencies():
    text = (SHARE / "package.xml").read_text()
    assert '<package format="3">' in text and "<build_type>ament_cmake</build_type>" in text
    for key in ("rclpy", "sensor_msgs", "std_msgs", "vision_msgs", "diagnostic_msgs",
                "lifecycle_msgs", "launch_ros", "python3-numpy", "python3-opencv",
                "rosidl_default_generators", "rosidl_default_runtime"):
        assert f">{key}<" in text, f"package.xml lacks {key}"
