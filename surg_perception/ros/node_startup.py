"""What the node decides once at start-up, as pure functions: parameter names, thread counts.

- :func:`unknown_parameters`: ROS accepts ``-p checkpoint:=x`` for a node that declares only
  ``model.checkpoint`` and drops it silently; the node warns with the closest valid name.
- :func:`thread_plan`: torch intra-op threads and executor threads sized to the CPUs this
  process may run on (affinity, not the machine's count: containers and ``taskset`` limit
  it). Six threads on two cores made inference three times slower than offline.
- :class:`ShutdownSignals`: SIGINT and SIGTERM become one shutdown request (see its docstring
  for why rclpy's own handlers are not used).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import contextlib
import difflib
import os
import select
import signal

# rclpy's and rcl's own parameters: never reported as unknown
ROS_OWN = ("use_sim_time", "start_type_description_service")
ROS_OWN_PREFIXES = ("qos_overrides.",)


def unknown_parameters(given: Iterable[str], declared: Iterable[str]) -> list[str]:
    """A warning for each given parameter the node does not declare, naming the closest one."""
    declared = sorted(declared)
    warnings = []
    for name in sorted(set(given) - set(declared)):
        if name in ROS_OWN or name.startswith(ROS_OWN_PREFIXES):
            continue
        # "checkpoint" must find "model.checkpoint": compare the last part too.
        leaves = {d.rsplit(".", 1)[-1]: d for d in declared}
        close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
        close = close or [leaves[m] for m in difflib.get_close_matches(
            name.rsplit(".", 1)[-1], list(leaves), n=1, cutoff=0.6)]
        hint = f"; did you mean {close[0]}?" if close else " (see config/apmtl.yaml)"
        warnings.append(f"unknown parameter {name!r} is ignored{hint}")
    return warnings


def available_cpus() -> int:
    """CPUs this process may run on (``sched_getaffinity``; ``os.cpu_count`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def thread_plan(cpus: int, torch_threads: int = 0, executor_threads: int = 0,
                env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """``(torch intra-op threads, executor threads)``; 0 means automatic.

    Automatic torch threads: ``OMP_NUM_THREADS`` when the environment sets it, else every
    CPU but one (the executor, DDS and the image callbacks need a core; one on one CPU).
    Automatic executor threads: 2 (inputs and timers run in separate callback groups) up to
    4 CPUs, 4 above.
    """
    env = os.environ if env is None else env
    if torch_threads <= 0:
        omp = env.get("OMP_NUM_THREADS", "")
        torch_threads = int(omp) if omp.isdigit() and int(omp) > 0 else max(1, cpus - 1)
    if executor_threads <= 0:
        executor_threads = 2 if cpus <= 4 else 4
    return torch_threads, executor_threads


class ShutdownSignals:
    """SIGINT/SIGTERM (any number, in any state) -> one shutdown request, never an exception.

    Why not rclpy's handlers: its SIGINT handler chains to Python's, which raises
    KeyboardInterrupt at whatever bytecode the main thread runs next, e.g. inside the
    release's ``gc.collect()`` when a second SIGINT follows the first (exit -2, traceback);
    and a signal only wakes the executor through a guard condition, so whether it ends the
    node depends on where the main thread is (one SIGTERM once left a node spinning). Here
    the handler only records the request; the main thread, asleep in :meth:`wait`, then
    shuts down in order, and later signals cannot interrupt that.

    Python runs handlers in the main thread only, and a signal delivered to another thread
    (DDS, torch, the executor's pool) does not wake a main thread blocked in a lock: the
    wake-up fd makes :meth:`wait` return at once whichever thread received it.

    The handler takes no lock (a flag, not a ``threading.Event``): Python runs a handler
    between any two bytecodes of the main thread, inside this handler too when a second
    signal follows at once, and ``Event.set`` inside ``Event.set`` waits forever on the lock
    its own thread holds (a double SIGINT left a node hung that way, before its shutdown).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._requested = False  # set from the handler and the spinning thread; read by main
        self.received: list[int] = []
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)  # the C handler must never block

    @property
    def requested(self) -> bool:
        return self._requested

    def install(self) -> ShutdownSignals:
        """Handle SIGINT and SIGTERM from now on (main thread only, as Python requires)."""
        signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        for signum in self.SIGNALS:
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.received.append(signum)
        self._requested = True

    def request(self) -> None:
        """Ask for shutdown without a signal (e.g. the spinning thread ended)."""
        self._requested = True
        with contextlib.suppress(BlockingIOError):  # a full pipe wakes the waiter already
            os.write(self._write, b"\0")

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until shutdown is requested (or ``timeout``); True when requested."""
        if not self._requested:
            # select returns when the C-level handler writes the wake-up byte; the Python
            # handler then runs as soon as this thread executes bytecode again.
            select.select([self._read], [], [], timeout)
            while select.select([self._read], [], [], 0)[0]:
                if not os.read(self._read, 512):
                    break
        return self._requested
