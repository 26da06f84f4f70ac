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
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any

START_TIMEOUT_S = 120.0
WAIT_TIMEOUT_S = 60.0
NODE_ENTRY = ["-m", "surg_perception.ros.node"]
RESEND_S = 5.0  # an unanswered idempotent request is sent again (a reply can be lost)
# the state each lifecycle transition ends in (lifecycle_msgs/Transition ids)
GOAL_STATES = {1: "inactive", 2: "unconfigured", 3: "active", 4: "inactive", 5: "finalized",
               6: "finalized", 7: "finalized"}


def native_stacks(pid: int, timeout: float = 60.0) -> str:
    """Every thread's native stack of ``pid`` (gdb, where installed): a stalled process's
    failure message then says where it waits instead of only that it does."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "(no gdb here: no stacks)"
    try:
        done = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex",
                               "thread apply all bt 30"], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"(gdb did not finish within {timeout:.0f} s)"
    lines = [line for line in done.stdout.splitlines()
             if line.startswith(("#", "Thread"))]
    return "\n".join(lines) or f"(gdb gave no stacks: {done.stderr[-500:]})"


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
    """A test-side ROS node spinning in a background thread, with blocking helpers.

    Service calls survive a lost reply, by construction rather than by longer waits: Fast DDS
    drops a response when the server has not yet matched the client's response reader
    (rmw_fastrtps ``__rmw_send_response`` waits the response writer's max_blocking_time,
    100 ms by default, then gives up with "client will not receive response"; only a
    RuntimeWarning in the server's stderr says so), which a loaded machine and a fresh
    client per call make likely. So the probe keeps one client per service (matched once),
    sends an idempotent request again when no reply came within ``resend_s`` and confirms a
    lifecycle transition with get_state instead of re-sending it."""

    def __init__(self, name: str):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._clients: dict[tuple[type, str], Any] = {}
        self._clients_lock = threading.Lock()
        self.recovered: list[str] = []  # each reply that did not come and how it was made up
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
    resend_s = RESEND_S  # without a reply by then: re-send (idempotent) or ask get_state

    def _poll(self, predicate: Callable[[], Any], deadline: float) -> Any:
        """``predicate()`` once it is truthy, or its last value at ``deadline``."""
        while True:
            if not self._thread.is_alive():
                raise AssertionError("the probe's executor thread ended (see its traceback)")
            if self.guard is not None:
                self.guard()
            value = predicate()
            if value or time.monotonic() >= deadline:
                return value
            time.sleep(0.05)

    def wait_for(self, predicate: Callable[[], Any], what: str, timeout: float = WAIT_TIMEOUT_S):
        value = self._poll(predicate, time.monotonic() + timeout)
        if not value:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        return value

    def subscribe(self, msg_type: type, topic: str, qos: Any = 100) -> list:
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def client(self, srv_type: type, name: str) -> Any:
        """The probe's one client of service ``name``: created on first use, then kept (a
        client created per call must be discovered anew by the server each time)."""
        with self._clients_lock:
            if (srv_type, name) not in self._clients:
                self._clients[srv_type, name] = self.node.create_client(srv_type, name)
            return self._clients[srv_type, name]

    def send(self, srv_type: type, name: str, request: Any, deadline: float) -> Any:
        """Send ``request`` once the service is there (by ``deadline``); the reply's future."""
        client = self.client(srv_type, name)
        available = client.wait_for_service(timeout_sec=max(0.0, deadline - time.monotonic()))
        assert available, f"service {name} not available"
        return client.call_async(request)

    def call(self, srv_type: type, name: str, request: Any, timeout: float = WAIT_TIMEOUT_S,
             resend: bool = True):
        """The reply to ``request``, sent again every ``resend_s`` without one (only an
        idempotent request may be: ``resend=False`` otherwise). The first reply to any copy
        is returned."""
        deadline = time.monotonic() + timeout
        futures: list = []
        try:
            while time.monotonic() < deadline:
                futures.append(self.send(srv_type, name, request, deadline))
                until = min(deadline, time.monotonic() + self.resend_s) if resend else deadline
                done = self._poll(lambda: next((f for f in futures if f.done()), None), until)
                if done is not None:
                    if not futures[0].done():  # replies come in order: the first was lost
                        self.recovered.append(f"{name}: no reply to the first of "
                                              f"{len(futures)} requests")
                    return done.result()
        finally:
            for future in futures:  # a late reply to an unanswered copy is dropped
                self.client(srv_type, name).remove_pending_request(future)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for a reply from {name} "
                             f"({len(futures)} request(s) sent)")

    def change_state(self, node: str, transition_id: int, timeout: float = 180.0) -> bool:
        """Trigger a transition; True when the node made it.

        A transition is not idempotent, so it is sent once. While no reply came, get_state
        (served after the transition: both are in the node's lifecycle callback group) tells
        whether the node reached the transition's goal state, i.e. whether only the reply was
        lost; a state the node was already in before proves nothing and is not taken."""
        from lifecycle_msgs.srv import ChangeState

        deadline = time.monotonic() + timeout
        before = self.state(node, timeout)
        request = ChangeState.Request()
        request.transition.id = transition_id
        future = self.send(ChangeState, f"/{node}/change_state", request, deadline)
        goal, label = GOAL_STATES.get(transition_id), before
        while not self._poll(future.done, min(deadline, time.monotonic() + self.resend_s)):
            if time.monotonic() >= deadline:
                self.client(ChangeState, f"/{node}/change_state").remove_pending_request(future)
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for a reply from /{node}/"
                    f"change_state (transition {transition_id}); the node is {label}, it was "
                    f"{before}")
            label = self.state(node, max(1.0, deadline - time.monotonic()))
            if not future.done() and label == goal and before != goal:
                self.recovered.append(f"/{node}/change_state {transition_id}: no reply, "
                                      f"get_state says {label}")
                return True  # the node made the transition; its reply was lost
        return future.result().success

    def state(self, node: str, timeout: float = WAIT_TIMEOUT_S) -> str:
        from lifecycle_msgs.srv import GetState

        reply = self.call(GetState, f"/{node}/get_state", GetState.Request(), timeout)
        return reply.current_state.label

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
