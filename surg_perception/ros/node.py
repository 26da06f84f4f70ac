"""``apmtl_node``: the process that runs the lifecycle node (:mod:`.lifecycle_node`).

The main thread installs the signal handling, autostarts when asked, waits for a signal
and shuts down in order; the executor spins on its own thread (see :func:`main`).
Run: ``ros2 run surg_perception apmtl_node --ros-args -p model.checkpoint:=model.pt
-p autostart:=true -r image:=/jhu_daVinci/left/image_raw`` (or ``python -m
surg_perception.ros.node``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import rclpy
from rclpy.exceptions import InvalidHandle
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from surg_perception.malloc_tuning import set_malloc_tuning
from surg_perception.ros.lifecycle_node import SUCCESS, ApmtlNode
from surg_perception.ros.node_startup import (
    ShutdownSignals,
    available_cpus,
    thread_plan,
)

SPIN_JOIN_S = 5.0  # a callback still running when the executor stops (bounded, never forever)


def spin(executor: MultiThreadedExecutor, stop: ShutdownSignals) -> None:
    """``executor.spin()`` that survives a subscription destroyed mid-wait.

    Why: deactivate/cleanup destroy subscriptions from a transition callback while another
    executor thread may be waiting on them; rclpy then raises InvalidHandle out of spin
    (ros2/rclpy#1206). The reliability suite saw it kill the node once in 100 cycles.
    Runs on its own thread; whatever ends it (executor shut down, context shut down from
    outside) requests the shutdown of the process.
    """
    try:
        while rclpy.ok() and not stop.requested:
            try:
                executor.spin()
            except InvalidHandle:
                continue
            except ExternalShutdownException:
                break
    finally:
        stop.request()


def autostart(node: ApmtlNode) -> bool:
    """Configure and activate; False when a step failed (the node logged why).

    Runs once, before the lifecycle services are served: a later operator ``deactivate``
    is never undone by the node itself.
    """
    if node.trigger_configure() != SUCCESS:
        return False
    return node.trigger_activate() == SUCCESS


def _start(node: ApmtlNode) -> int | None:
    """Autostart when asked; 1 when it failed and the node must exit, else None."""
    if not node.get_parameter("autostart").value or autostart(node):
        return None
    if not node.get_parameter("autostart_wait").value:
        node.get_logger().error("autostart failed; exiting with status 1 (fix the parameters, "
                                "or -p autostart_wait:=true to stay up and configure through "
                                "the lifecycle services)")
        return 1
    node.get_logger().warning("autostart failed; waiting (autostart_wait): set the "
                              "parameters, then configure through lifecycle services")
    return None


def _shut_down(node: ApmtlNode, executor: MultiThreadedExecutor,
               spinner: threading.Thread | None, why: str) -> None:
    """Stop serving, end the transition or frame in progress, release, leave the graph."""
    logger = rclpy.logging.get_logger("surg_perception")
    logger.info(f"{node.get_name()}: shutting down ({why})")
    executor.shutdown(timeout_sec=0)  # wakes the spinning thread's wait
    if spinner is not None:
        spinner.join(SPIN_JOIN_S)
    node.close()  # waits for a transition still running in the pool, then releases
    executor.shutdown(timeout_sec=SPIN_JOIN_S)
    node.destroy_node()
    rclpy.try_shutdown()


def main(args: list[str] | None = None) -> int:
    """Spin the node on a multi-threaded executor until SIGINT/SIGTERM; 0 after a signal.

    Returns 1 when autostart fails and ``autostart_wait`` is false: a supervisor (launch,
    systemd, a script) sees the failure instead of a node sitting unconfigured forever.
    The main thread only starts, waits for a signal (:class:`ShutdownSignals`) and shuts
    down; the executor spins on another thread.
    """
    # Keep camera-sized message buffers in the heap between frames (see malloc_tuning).
    set_malloc_tuning(True)
    stop = ShutdownSignals().install()  # before rclpy.init: a signal from here on is handled
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    node = ApmtlNode()
    _, threads = thread_plan(available_cpus(), 1, node.get_parameter("threads.executor").value)
    executor = MultiThreadedExecutor(num_threads=threads)
    executor.add_node(node)
    spinner, code = None, None
    try:
        code = None if stop.requested else _start(node)  # a signal during it: handled after
        if code is None and not stop.requested:
            spinner = threading.Thread(target=spin, args=(executor, stop), name="apmtl_spin",
                                       daemon=True)
            spinner.start()
            while not stop.wait(1.0):
                pass
    finally:
        names = ", ".join(signal.Signals(s).name for s in stop.received) or "no signal"
        _shut_down(node, executor, spinner, names if code is None else "autostart failed")
    return code or 0


def run() -> None:
    """The process entry (``python -m``, ``lib/surg_perception/apmtl_node``): main, then exit.

    Why ``os._exit``: after :func:`main` everything the node holds is released and the graph
    left, but the interpreter's own finalisation then spends 1.5-2 s in torch's (CUDA build)
    library destructors, so a signalled node took 2-3.5 s to end; a supervisor (launch's
    SIGINT -> SIGTERM escalation, a test) sees the exit at once instead.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
