"""Fixtures of the ROS tests: a tiny untrained checkpoint, node processes and a probe node.

The node under test always runs in its own process (``python -m surg_perception.ros.node``
from the source tree); the test talks to it over Fast DDS on localhost through a
:class:`Probe`. Waits use deadlines, never timing assertions.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_config_path) -> Path:
    import torch

    from surg_perception.checkpoint import save_checkpoint
    from surg_perception.config import load_spec
    from surg_perception.models.registry import build_model

    torch.manual_seed(0)
    spec = load_spec(tiny_config_path)
    path = tmp_path_factory.mktemp("checkpoint") / "tiny.pt"
    save_checkpoint(path, build_model(spec.model), spec)
    return path


# --------------------------------------------------------------------------- node processes
# Generous deadlines (a loaded 2-core CI machine imports torch + rclpy in ~5-20 s); they
# bound a wait, they never assert on speed.
WAIT_TIMEOUT_S = 30.0


class NodeProcess:
    """``python -m surg_perception.ros.node`` in its own process, output kept in a log file."""

    def __init__(self, repo_root: Path, log_path: Path, name: str, params: dict[str, Any]):
        args = [sys.executable, "-m", "surg_perception.ros.node", "--ros-args",
                "-r", f"__node:={name}"]
        for key, value in params.items():
            if isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, str):  # YAML-quoted: "" and "1" stay strings
                text = "'" + value.replace("'", "''") + "'"
            else:
                text = str(value)
            args += ["-p", f"{key}:={text}"]
        self.name = name
        self.log_path = log_path
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, cwd=repo_root, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def alive(self) -> bool:
        """True while running; raises with the log once the process has exited."""
        if self.proc.poll() is not None:
            raise AssertionError(f"node process exited ({self.proc.returncode}):\n{self.log()}")
        return True

    def thread_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int | None:
        """Signal the process and wait; kill it if it does not end. Returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._log.close()
                return None
        self._log.close()
        return self.proc.returncode


class Probe:
    """A test-side ROS node spinning in a background thread, with blocking helpers."""

    def __init__(self, name: str):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()
        self._thread.join(5)

    @staticmethod
    def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def subscribe(self, msg_type: type, topic: str, qos: Any = 100) -> list:
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def call(self, srv_type: type, name: str, request: Any, timeout: float = WAIT_TIMEOUT_S):
        client = self.node.create_client(srv_type, name)
        try:
            assert client.wait_for_service(timeout_sec=timeout), f"service {name} not available"
            future = client.call_async(request)
            self.wait_for(future.done, f"a reply from {name}", timeout)
            return future.result()
        finally:
            self.node.destroy_client(client)

    def change_state(self, node: str, transition_id: int) -> bool:
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request()
        request.transition.id = transition_id
        # Configure loads a model: allow for a slow machine.
        return self.call(ChangeState, f"/{node}/change_state", request, 120.0).success

    def state(self, node: str) -> str:
        from lifecycle_msgs.srv import GetState

        return self.call(GetState, f"/{node}/get_state", GetState.Request()).current_state.label

    def set_parameters(self, node: str, **values: Any) -> list:
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        request = SetParameters.Request(parameters=[
            Parameter(name.replace("__", "."), value=value).to_parameter_msg()
            for name, value in values.items()])
        return list(self.call(SetParameters, f"/{node}/set_parameters", request).results)


@pytest.fixture(scope="session")
def start_node(repo_root, tmp_path_factory):
    """``start_node(name, params) -> NodeProcess``; every process is stopped at the end."""
    started: list[NodeProcess] = []

    def start(name: str, params: dict[str, Any]) -> NodeProcess:
        log = tmp_path_factory.mktemp("node") / f"{name}.log"
        process = NodeProcess(repo_root, log, name, params)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def make_probe():
    """``make_probe(name) -> Probe``; closed at the end of the session."""
    probes: list[Probe] = []

    def make(name: str) -> Probe:
        probe = Probe(name)
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        probe.close()
