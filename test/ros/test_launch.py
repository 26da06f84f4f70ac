"""launch/apmtl.launch.py: runs where launch_ros is importable (a ROS 2 install).

launch_ros has no PyPI wheel, so in the pip-built environment this module skips with that
reason; the node's own ``autostart`` parameter (tested in test_node_stream.py) performs the
same configure -> activate sequence without launch.
"""

import asyncio
import importlib.util
import threading
import time

import pytest

pytest.importorskip(
    "launch_ros", reason="launch_ros is not installed (no PyPI wheel; needs a ROS 2 install)")

from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from launch import LaunchDescription, LaunchService  # noqa: E402

pytestmark = pytest.mark.ros


def _load(repo_root):
    path = repo_root / "launch" / "apmtl.launch.py"
    spec = importlib.util.spec_from_file_location("apmtl_launch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def test_launch_file_declares_its_arguments(repo_root):
    _, module = _load(repo_root)
    description = module.generate_launch_description()
    names = {arg.name for arg in description.get_launch_arguments()}
    assert names == {"namespace", "params_file", "image_topic", "checkpoint", "device",
                     "autostart"}


def test_launch_file_brings_the_node_to_active(repo_root, tiny_checkpoint, make_probe):
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        get_package_share_directory("surg_perception")
    except PackageNotFoundError:
        pytest.skip("surg_perception is not installed in the ament index (run setup_env.sh)")
    path, _ = _load(repo_root)
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(path)),
        launch_arguments={"checkpoint": str(tiny_checkpoint), "device": "cpu",
                          "namespace": "launch_test"}.items())
    service = LaunchService()
    service.include_launch_description(LaunchDescription([include]))
    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=lambda: loop.run_until_complete(service.run_async()),
                              daemon=True)
    runner.start()
    probe = make_probe("launch_probe")
    try:
        probe.wait_for(lambda: "apmtl_node" in probe.node.get_node_names(), "the node", 120)
        probe.wait_for(lambda: probe.state("launch_test/apmtl_node") == "active",
                       "launch autostart", 120)
        # an operator's deactivate sticks: the handler fires after configure only
        from lifecycle_msgs.msg import Transition

        assert probe.change_state("launch_test/apmtl_node", Transition.TRANSITION_DEACTIVATE)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            assert probe.state("launch_test/apmtl_node") == "inactive"
    finally:
        loop.call_soon_threadsafe(service.shutdown)
        runner.join(60)
