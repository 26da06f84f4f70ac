"""Shutdown under SIGINT, a double SIGINT and SIGTERM in every lifecycle state (issue 15).

Each case starts a fresh node process, brings it to a state over the lifecycle services
(event-driven: each transition's reply, then get_state), delivers the signal(s) and asserts
exit code 0, no traceback and an end within a generous bound (the measured times are
printed). Two ways of starting, as users do:
- ``launch``: ``lib/surg_perception/apmtl_node --ros-args ...`` (the executable ros2 launch
  runs) in its own process group; the signals go to the GROUP, as launch and a terminal's
  Ctrl-C deliver them;
- ``script``: a shell script running ``python -m surg_perception.ros.node`` as its child;
  the signals go to the node, the script passes its exit code on.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import itertools
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time

from lifecycle_msgs.msg import Transition
import numpy as np
import pytest
from sensor_msgs.msg import Image

from support.ros_process import START_TIMEOUT_S, Probe, native_stacks

# In `make test` again since test/conftest.py limits Fast DDS to UDP: with its shared-memory
# transport the loop failed in 1 of 4 loaded full runs, a node up and seen by a fresh probe
# while the case's own probe never saw it in 120 s, after the node had logged
# "RTPS_TRANSPORT_SHM Error: Failed init_port fastrtps_port7001: open_and_lock_file failed"
# (a shared-memory port lock, cf. eProsima/Fast-DDS#2003).
pytestmark = [pytest.mark.ros, pytest.mark.slow]

END_BOUND_S = 20.0  # generous: the requirement is 3 s, measured and printed below
STATES = ("unconfigured", "autostarting", "configuring", "inactive", "active", "in_frame",
          "cleaned_up")
PATTERNS = {"SIGINT": (signal.SIGINT,), "double SIGINT": (signal.SIGINT, signal.SIGINT),
            "SIGTERM": (signal.SIGTERM,), "SIGINT then SIGTERM": (signal.SIGINT, signal.SIGTERM)}
CASES = [(mode, state, pattern) for mode in ("launch", "script") for state in STATES
         for pattern in (("SIGINT", "double SIGINT", "SIGTERM") if mode == "script"
                         else ("SIGINT", "double SIGINT", "SIGINT then SIGTERM"))]
T = Transition
PATHS = {"inactive": (T.TRANSITION_CONFIGURE,),
         "active": (T.TRANSITION_CONFIGURE, T.TRANSITION_ACTIVATE),
         "in_frame": (T.TRANSITION_CONFIGURE, T.TRANSITION_ACTIVATE),
         "cleaned_up": (T.TRANSITION_CONFIGURE, T.TRANSITION_ACTIVATE,
                        T.TRANSITION_DEACTIVATE, T.TRANSITION_CLEANUP)}


class Started:
    """One node process started like ``mode`` starts it; ``signal`` reaches it the same way."""

    def __init__(self, mode: str, name: str, params: dict, repo: Path, tmp: Path) -> None:
        args = ["--ros-args", "-r", f"__node:={name}"]
        for key, value in params.items():
            args += ["-p", f"{key}:={value}"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
        self.mode, self.err = mode, tmp / f"{name}.err"
        if mode == "launch":
            cmd = [sys.executable, str(repo / "scripts" / "apmtl_node"), *args]
        else:
            script = tmp / f"{name}.sh"
            script.write_text('#!/bin/sh\n"$PYTHON" -m surg_perception.ros.node "$@"\n'
                              'status=$?\necho "node exited with $status"\nexit $status\n')
            script.chmod(0o755)
            cmd, env["PYTHON"] = [str(script), *args], sys.executable
        with open(tmp / f"{name}.out", "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=out, stderr=err,
                                         start_new_session=True)

    def node_pid(self) -> int:
        if self.mode == "launch":
            return self.proc.pid
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return int(children.split()[0])

    def send(self, signum: int) -> None:
        if self.mode == "launch":
            os.killpg(self.proc.pid, signum)
        else:
            os.kill(self.node_pid(), signum)

    def output(self) -> str:
        """The node's stdout and stderr so far (a failure message carries them)."""
        out = self.err.with_suffix(".out")
        return f"--- stdout:\n{out.read_text()}--- stderr:\n{self.err.read_text()}"

    def alive(self) -> bool:
        code = self.proc.poll()
        assert code is None, f"node exited early ({code})"  # _run_case adds the output
        return True


def _frames(probe: Probe, topic: str, stop: threading.Event) -> None:
    pub = probe.node.create_publisher(Image, topic, 10)
    msg = Image(height=96, width=128, encoding="rgb8", step=128 * 3)
    msg.data = np.random.default_rng(0).integers(0, 255, 96 * 128 * 3, np.uint8).tobytes()
    for i in itertools.count():
        if stop.wait(0.05):
            return
        msg.header.stamp.sec, msg.header.frame_id = i, "endoscope"
        pub.publish(msg)


def _bring_to(probe: Probe, node: Started, name: str, state: str, topic: str) -> None:
    probe.guard = node.alive  # from here on every wait fails at once if the node died
    probe.wait_for(lambda: name in probe.node.get_node_names(), f"{name} in the graph",
                   START_TIMEOUT_S)
    if state == "autostarting":
        return  # the node configures in its main thread now (autostart:=true)
    if state == "configuring":
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request()
        request.transition.id = T.TRANSITION_CONFIGURE
        # the signal follows while the model loads: the reply is not waited for
        probe.send(ChangeState, f"/{name}/change_state", request,
                   time.monotonic() + START_TIMEOUT_S)
        probe.wait_for(lambda: "configuring:" in node.output(), "configure to begin",
                       START_TIMEOUT_S)
        return
    for transition in PATHS.get(state, ()):
        assert probe.change_state(name, transition), f"{name}: transition {transition}"
    expected = "unconfigured" if state == "cleaned_up" else state.replace("in_frame", "active")
    assert probe.state(name) == expected


def _stall_report(node: Started, name: str) -> str:
    """Where a node that did not get there waits, and whether a second, fresh probe sees it
    (tells a node stuck in start-up from a probe whose discovery missed it)."""
    if node.proc.poll() is not None:
        return ""
    fresh = Probe(f"{name}_second_look")
    try:
        time.sleep(5.0)  # a few discovery announcements
        seen = sorted(fresh.node.get_node_names())
    finally:
        fresh.close()
    return (f"--- a fresh probe sees: {seen}\n--- node process {node.node_pid()} native "
            f"stacks:\n{native_stacks(node.node_pid())}")


def _run_case(index: int, case: tuple, repo: Path, tmp: Path, ckpt: Path) -> dict:
    mode, state, pattern = case
    name, topic = f"sig{index}", f"/sig{index}/image"
    params = {"model.checkpoint": str(ckpt), "model.device": "cpu", "model.warmup_steps": 1,
              "input.image_topic": topic, "input.compressed_topic": "''",
              "autostart": str(state == "autostarting").lower()}
    probe = Probe(f"sig_probe{index}")
    node = Started(mode, name, params, repo, tmp)
    stop = threading.Event()
    try:
        try:
            _bring_to(probe, node, name, state, topic)
            if state == "in_frame":
                from surg_perception.msg import SurgicalScene

                scenes = probe.subscribe(SurgicalScene, f"/{name}/scene", 10)
                threading.Thread(target=_frames, args=(probe, topic, stop), daemon=True).start()
                probe.wait_for(lambda: scenes, "frames flowing")
        except AssertionError as exc:  # with what the node said: a future failure explains itself
            raise AssertionError(f"{case} ({name}): {exc}\n{node.output()}\n"
                                 f"{_stall_report(node, name)}") from exc
        sent = time.monotonic()
        for signum in PATTERNS[pattern]:
            node.send(signum)
        try:
            code = node.proc.wait(END_BOUND_S)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - sent
    finally:
        stop.set()
        if node.proc.poll() is None:
            os.killpg(node.proc.pid, signal.SIGKILL)
            node.proc.wait()
        probe.close()
    return {"case": case, "code": code, "took": took, "err": node.err.read_text(),
            "deliveries": len(PATTERNS[pattern]), "recovered": probe.recovered}


def test_every_signal_in_every_state_ends_the_node_cleanly(repo_root, tiny_checkpoint,
                                                          tmp_path):
    # two cases at a time: a loaded 2-core machine still starts each node in ~10-20 s
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda ic: _run_case(*ic, repo_root, tmp_path, tiny_checkpoint),
                                enumerate(CASES)))
    deliveries = sum(r["deliveries"] for r in results)
    times = sorted(r["took"] for r in results)
    print(f"\n{len(results)} shutdowns, {deliveries} signal deliveries; time to exit: median "
          f"{times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s")
    for r in results:  # replies the probe made up for (see Probe): rare, worth seeing
        for line in r["recovered"]:
            print(f"{r['case']}: {line}")
    assert deliveries >= 50
    failures = [f"{r['case']}: exit {r['code']} after {r['took']:.1f} s\n{r['err'][-2000:]}"
                for r in results
                if r["code"] != 0 or "Traceback" in r["err"] or r["took"] > END_BOUND_S]
    assert not failures, "\n".join(failures)
