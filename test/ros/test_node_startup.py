"""The node's start-up decisions: unknown parameter names, autostart failure, threads, inputs.

The pure rules are tested directly; the node itself runs in its own processes (real rclpy
over DDS), three started together so their imports overlap.
"""

import pytest

from surg_perception.ros.node_startup import (
    available_cpus,
    thread_plan,
    unknown_parameters,
)
from surg_perception.ros.params import SPECS
from surg_perception.ros.stats import DropWatch, ReasonThrottle

NODE_ENTRY = ["-m", "surg_perception.ros.node"]


def test_unknown_parameters_name_the_closest_valid_one():
    warnings = unknown_parameters(["checkpoint", "model.devise", "use_sim_time", "zzz",
                                   "model.device", "qos_overrides./x.publisher.depth"], SPECS)
    assert warnings == [
        "unknown parameter 'checkpoint' is ignored; did you mean model.checkpoint?",
        "unknown parameter 'model.devise' is ignored; did you mean model.device?",
        "unknown parameter 'zzz' is ignored (see config/apmtl.yaml)"]


def test_threads_follow_the_cpus_unless_told():
    assert thread_plan(2, env={}) == (1, 2)
    assert thread_plan(16, env={}) == (15, 4)
    assert thread_plan(1, env={}) == (1, 2)
    assert thread_plan(16, env={"OMP_NUM_THREADS": "3"}) == (3, 4)
    assert thread_plan(16, torch_threads=6, executor_threads=3, env={"OMP_NUM_THREADS": "3"}) \
        == (6, 3)


def test_drop_watch_speaks_only_over_a_quarter_of_a_full_window():
    watch = DropWatch(share=0.25, min_frames=10)
    assert watch.update(received=5, dropped=5) is None  # too few frames to judge
    assert watch.update(received=16, dropped=6) == (6, 16)  # the 6 of 16 frames
    assert watch.update(received=40, dropped=8) is None  # 2 of 24 in the new window
    assert watch.update(received=60, dropped=20) == (12, 20)


def test_each_rejection_reason_has_its_own_throttle():
    throttle = ReasonThrottle(period_s=5.0)
    assert throttle.allow("encoding", now=0.0) == 0
    assert throttle.allow("encoding", now=1.0) is None  # same reason: throttled
    assert throttle.allow("truncated", now=1.1) == 0  # a second reason right after: logged
    assert throttle.allow("encoding", now=2.0) is None
    assert throttle.allow("encoding", now=6.0) == 2  # says how many were not logged


@pytest.mark.ros
@pytest.mark.slow  # three node processes: ~25 s on 2 cores
def test_autostart_failure_exits_unless_told_to_wait_and_image_remap_moves_both_inputs(
        start_node, make_probe, tiny_checkpoint, tmp_path):
    missing = str(tmp_path / "missing.pt")
    remap = [*NODE_ENTRY, "--ros-args", "-r", "image:=/cam/left/image_raw"]
    failing = start_node("startup_fails", {"checkpoint": str(tiny_checkpoint),
                                           "model.checkpoint": missing, "autostart": True})
    waiting = start_node("startup_waits", {"model.checkpoint": missing, "autostart": True,
                                           "autostart_wait": True})
    running = start_node("startup_runs", {"model.checkpoint": str(tiny_checkpoint),
                                          "model.device": "cpu", "model.warmup_steps": 0,
                                          "autostart": True}, entry=remap)
    assert failing.proc.wait(timeout=180) == 1, failing.log()
    log = failing.log()
    assert "unknown parameter 'checkpoint' is ignored; did you mean model.checkpoint?" in log
    assert "autostart failed; exiting with status 1" in log
    probe = make_probe("startup_probe")
    probe.wait_node(running, "active")
    graph = probe.node
    for topic in ("/cam/left/image_raw", "/cam/left/image_raw/compressed"):
        probe.wait_for(lambda t=topic: graph.count_subscribers(t) == 1, f"a subscriber on {topic}")
    assert "inputs /cam/left/image_raw, /cam/left/image_raw/compressed" in running.log()
    executor = thread_plan(available_cpus())[1]
    assert f"threads: torch 1, executor {executor}" in running.log()  # OMP_NUM_THREADS=1
    probe.wait_node(waiting)
    assert probe.state("startup_waits") == "unconfigured"
    assert "autostart failed; waiting" in waiting.log()
    assert waiting.stop() == 0 and running.stop() == 0
