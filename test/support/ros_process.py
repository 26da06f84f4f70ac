"""A node under test in its own process, and a test-side probe node that talks to it.

Used by test/ros, test/reliability and test/endoarss. The node always runs as
``python -m surg_perception.ros.node`` (or another entry) from the source tree; the test
reaches it over Fast DDS on localhost. Waits use deadlines that bound them, never timing
assertions (a loaded 2-core CI machine imports torch + rclpy in ~5-40 s).
"""

from __future__ import annotations

from collections.abc import Callable
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading
import time
from typing import Any

START_TIMEOUT_S = 120.0
WAIT_TIMEOUT_S = 60.0
NODE_ENTRY = ["-m", "surg_perception.ros.node"]


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (``VmRSS`` of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


class NodeProcess:
    """The node in its own process (``entry``: python arguments), output in a log file."""

    def __init__(self, repo_root: Path, log_path: Path, name: str, params: dict[str, Any],
                 entry: list[str] | None = None, env: dict[str, str] | None = None):
        entry, env = entry or NODE_ENTRY, env or {}
        args = [sys.executable, *entry, "--ros-args", "-r", f"__node:={name}"]
        for key, value in params.items():
            if isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, str):  # YAML-quoted: empty and numeric-looking stay strings
                text = "'" + value.replace("'", "''") + "'"
            else:
                text = str(value)
            args += ["-p", f"{key}:={text}"]
        self.name = name
        self.log_path = log_path
        full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **env}
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, cwd=repo_root, env=full_env, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def alive(self) -> bool:
        """True while running; raises with the log once the process has exited."""
        if self.proc.poll() is not None:
            log = self.log()
            last = log.strip().splitlines()[-1] if log.strip() else "no output"
            raise AssertionError(f"node process exited ({self.proc.returncode}): {last}\n{log}")
        return True

    def thread_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

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

    guard: Callable[[], Any] | None = None  # e.g. NodeProcess.alive: fail fast if it died

    def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.guard is not None:
                self.guard()
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
        return self.call(ChangeState, f"/{node}/change_state", request, 180.0).success

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

    def diagnostics(self, node: str) -> dict[str, str]:
        """Values of the newest /diagnostics status of ``node`` ({} before the first one).

        The /diagnostics subscription is created on the first call (the node publishes
        every second, so the next call sees fresh values)."""
        from diagnostic_msgs.msg import DiagnosticArray

        from surg_perception.ros.messages import diagnostics_values

        if not hasattr(self, "_diagnostics"):
            self._diagnostics = self.subscribe(DiagnosticArray, "/diagnostics", 50)
        for msg in reversed(self._diagnostics[-50:]):
            values = diagnostics_values(msg, f"/{node}")
            if values:
                return values
        return {}

    def wait_node(self, process: NodeProcess, state: str | None = None) -> None:
        """Until ``process`` is in the graph (and in lifecycle ``state`` when given); from then
        on every wait fails at once with the node's log if the process exits."""
        self.guard = process.alive
        self.wait_for(lambda: process.alive() and process.name in self.node.get_node_names(),
                      f"node {process.name}", START_TIMEOUT_S)
        if state is not None:
            self.wait_for(lambda: process.alive() and self.state(process.name) == state,
                          f"{process.name} {state}", START_TIMEOUT_S)
