"""ShutdownSignals survives signals arriving while its handler runs (node_startup).

Python runs a signal handler between any two bytecodes of the main thread, inside a running
handler too. A handler taking a lock (``threading.Event.set``) then waits on a lock its own
thread holds: a double SIGINT once hung a node before its shutdown (test_signals). Here a
child process with a busy second thread (as the node has) is sent SIGINT as fast as another
process can send it, for two seconds; its main thread must keep waking and end normally.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import os, signal, threading, time
    from surg_perception.ros.node_startup import ShutdownSignals

    def busy():  # the node's other Python threads: the main thread loses the GIL anywhere
        while True:
            sum(range(1000))

    threading.Thread(target=busy, daemon=True).start()
    stop = ShutdownSignals().install()
    sender = os.fork()
    if sender == 0:  # floods the parent with SIGINT for two seconds
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            os.kill(os.getppid(), signal.SIGINT)
        os._exit(0)
    wakes = 0
    while os.waitpid(sender, os.WNOHANG) == (0, 0):
        stop.wait(0.001)
        wakes += 1
    print(f"requested {stop.requested} handled {len(stop.received)} wakes {wakes}")
""")


def test_a_flood_of_signals_never_hangs_or_breaks_the_handler(repo_root):
    try:  # a bound on a hang (the flood lasts 2 s), not a timing requirement
        done = subprocess.run([sys.executable, "-c", CHILD], cwd=repo_root,
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the main thread hung inside the signal handler (a lock taken twice)")
    assert done.returncode == 0, done.stderr[-3000:]
    words = done.stdout.split()
    assert words[:2] == ["requested", "True"], done.stdout
    assert int(words[3]) > 0 and int(words[5]) > 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
