"""Where a node's memory goes over configure/cleanup cycles: leak or allocator retention?

    PYTHONPATH=. OMP_NUM_THREADS=1 python scripts/lifecycle_rss.py CHECKPOINT \
        [--cycles 100] [--mode node|model]

``node``: an ApmtlNode in this process, driven through configure -> cleanup (publishers,
subscriptions, the model and its warm-up, all released each time; no DDS peer needed).
``model``: only the model path of configure (``load_predictor`` + ``FrameProcessor``).
Every tenth of the cycles it prints VmRSS, VmRSS again after glibc's ``malloc_trim(0)``
(which hands free heap pages back to the OS) and the Python heap (tracemalloc). A leak grows
all three; memory the allocator keeps free - the node's malloc tuning keeps up to 256 MiB
(``surg_perception/malloc_tuning.py``) - grows only the first.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import time
import tracemalloc


def _rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _report(cycle: int, started: float) -> None:
    gc.collect()
    rss = _rss_mib()
    ctypes.CDLL(None).malloc_trim(0)
    heap, _ = tracemalloc.get_traced_memory()
    print(f"cycle {cycle:4d}: RSS {rss:7.1f} MiB, after malloc_trim {_rss_mib():7.1f} MiB, "
          f"Python heap {heap / 2**20:6.2f} MiB ({time.monotonic() - started:.0f} s)",
          flush=True)


def _model_cycles(checkpoint: str, cycles: int, every: int, started: float) -> None:
    from surg_perception.ros.params import settings_from_values
    from surg_perception.ros.pipeline import FrameProcessor, load_predictor

    settings = settings_from_values({"model.checkpoint": checkpoint, "model.device": "cpu",
                                     "model.warmup_steps": 1})
    for cycle in range(cycles + 1):
        processor = FrameProcessor(load_predictor(settings))
        del processor
        if cycle % every == 0:
            _report(cycle, started)


def _node_cycles(checkpoint: str, cycles: int, every: int, started: float) -> None:
    import rclpy
    from rclpy.parameter import Parameter

    from surg_perception.ros.lifecycle_node import ApmtlNode

    rclpy.init()
    node = ApmtlNode(parameter_overrides=[Parameter("model.checkpoint", value=checkpoint),
                                          Parameter("model.device", value="cpu"),
                                          Parameter("model.warmup_steps", value=1)])
    try:
        for cycle in range(cycles + 1):
            node.trigger_configure()
            node.trigger_cleanup()
            if cycle % every == 0:
                _report(cycle, started)
    finally:
        node.close()
        node.destroy_node()
        rclpy.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--mode", choices=("node", "model"), default="node")
    args = parser.parse_args()
    from surg_perception.malloc_tuning import set_malloc_tuning

    set_malloc_tuning(True)  # as the node's main() does
    tracemalloc.start()
    run = _node_cycles if args.mode == "node" else _model_cycles
    run(args.checkpoint, args.cycles, max(1, args.cycles // 10), time.monotonic())


if __name__ == "__main__":
    main()
