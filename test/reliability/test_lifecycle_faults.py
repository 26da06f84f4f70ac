"""apmtl_node (own process) through bad checkpoints, a lost device and many lifecycle cycles.

The node runs from ``fault_node.py``: the production node whose model raises CUDA's
"illegal memory access" error while a flag file exists (and behaves normally otherwise).
"""

from __future__ import annotations

import os
import pickle
import threading
import time

import numpy as np
import pytest
import torch

pytest.importorskip("rclpy", reason="the node runs on rclpy over Fast DDS")
from lifecycle_msgs.msg import Transition  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from surg_perception.msg import SurgicalScene  # noqa: E402
from surg_perception.ros.conversions import numpy_to_image  # noqa: E402

pytestmark = pytest.mark.ros

NODE = "reliability_lifecycle_node"
IMAGE = "/reliability_lifecycle/image"
CONFIGURE, ACTIVATE = Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE
DEACTIVATE, CLEANUP = Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP
RSS_TOLERANCE = (0.05, 16 * 1024)  # relative, absolute KiB: allocator noise after 10-100 loads


class Payload:
    """Unpickling this runs ``touch <marker>``: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def bad_checkpoints(good, folder, marker) -> dict[str, tuple[object, str]]:
    """name -> (path, phrase the configure error must contain)."""
    data = torch.load(good, weights_only=True)
    truncated = folder / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size * 6 // 10])
    empty = folder / "empty.pt"
    empty.write_bytes(b"")
    wrong = folder / "wrong_architecture.pt"
    state = dict(data["state_dict"])
    first = next(k for k, v in state.items() if v.ndim == 4)
    state[first] = torch.zeros(*state[first].shape[:-1], state[first].shape[-1] + 2)
    state.pop(next(reversed(state)))
    torch.save({**data, "state_dict": state}, wrong)
    bare = folder / "bare_state_dict.pt"
    torch.save(data["state_dict"], bare)
    malicious = folder / "malicious.pt"
    torch.save({**data, "extra": {"hook": Payload(marker)}}, malicious)
    legacy = folder / "malicious_pickle.pt"
    legacy.write_bytes(pickle.dumps({"format": "surg_perception.checkpoint",
                                     "state_dict": Payload(marker)}))
    return {
        "missing": (folder / "missing.pt", "not found"),
        "truncated": (truncated, "truncated"),
        "empty": (empty, "truncated"),
        "wrong_architecture": (wrong, "do not fit"),
        "bare_state_dict": (bare, "not a surg_perception checkpoint"),
        "malicious_zip": (malicious, "refused to load"),
        "malicious_pickle": (legacy, "refused to load"),
    }


@pytest.fixture(scope="module")
def flag(tmp_path_factory):
    return tmp_path_factory.mktemp("fault") / "device_lost"


@pytest.fixture(scope="module")
def node(start_node, repo_root, tmp_path_factory, flag):
    missing = tmp_path_factory.mktemp("none") / "missing.pt"
    return start_node(NODE, {
        "model.checkpoint": str(missing), "model.device": "cpu", "model.warmup_steps": 1,
        "input.image_topic": IMAGE, "input.compressed_topic": "",
    }, entry=[str(repo_root / "test" / "reliability" / "fault_node.py")],
        env={"SURG_PERCEPTION_FAULT_FLAG": str(flag), "PYTHONPATH": str(repo_root)})


@pytest.fixture(scope="module")
def ros(make_probe, node):
    probe = make_probe("reliability_lifecycle_probe")
    probe.scenes = probe.subscribe(SurgicalScene, f"/{NODE}/scene", 100)
    probe.images = probe.node.create_publisher(Image, IMAGE, 10)
    probe.wait_node(node, "unconfigured")
    return probe


class FrameFeeder:
    """Publishes a frame every ``period`` s from a thread until stopped (frames keep flowing
    through every transition, as from a camera)."""

    def __init__(self, publisher, period: float = 0.03):
        self._publisher, self._period = publisher, period
        self._stop = threading.Event()
        self._pixels = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        index = 0
        while not self._stop.wait(self._period):
            msg = numpy_to_image(self._pixels, "rgb8")
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(index * 33_333_333, 10**9)
            msg.header.frame_id = "endoscope"
            self._publisher.publish(msg)
            index += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.fixture()
def feeder(ros):
    feeding = FrameFeeder(ros.images)
    yield feeding
    feeding.stop()


def _transition(ros, *transitions) -> None:
    for transition in transitions:
        assert ros.change_state(NODE, transition), f"transition {transition} failed"


def _unconfigured_with(ros, checkpoint) -> None:
    state = ros.state(NODE)
    if state == "active":
        _transition(ros, DEACTIVATE)
    if state in ("active", "inactive"):
        _transition(ros, CLEANUP)
    result = ros.set_parameters(NODE, model__checkpoint=str(checkpoint))[0]
    assert result.successful, result.reason


def _wait_processing(ros, node) -> None:
    seen = len(ros.scenes)
    ros.wait_for(lambda: node.alive() and len(ros.scenes) > seen, "a processed frame")


def test_bad_checkpoints_fail_cleanly_and_never_run_code(ros, node, tiny_checkpoint,
                                                         tmp_path, report):
    marker = tmp_path / "payload_ran"
    cases = bad_checkpoints(tiny_checkpoint, tmp_path, marker)
    for name, (path, phrase) in cases.items():
        _unconfigured_with(ros, path)
        failures_before = node.log().count("configure failed")
        assert not ros.change_state(NODE, CONFIGURE), f"{name} configured"
        assert ros.state(NODE) == "unconfigured", name
        lines = [line for line in node.log().splitlines() if "configure failed" in line]
        assert len(lines) == failures_before + 1, (name, lines)  # exactly one clear line
        assert phrase in lines[-1] and str(path) in lines[-1], (name, lines[-1])
        message = lines[-1].split("configure failed: ", 1)[-1]
        report[name] = message.replace(str(path.parent) + "/", "")[:200]
    assert not marker.exists(), "a checkpoint payload ran inside the node"
    # The payload is live: unpickling it outside the safe loader does create the marker.
    pickle.loads(pickle.dumps(Payload(tmp_path / "control")))
    assert (tmp_path / "control").exists()
    # Recovery: a good checkpoint configures and the node processes frames.
    _unconfigured_with(ros, tiny_checkpoint)
    _transition(ros, CONFIGURE, ACTIVATE)
    feeding = FrameFeeder(ros.images)
    try:
        _wait_processing(ros, node)
    finally:
        feeding.stop()
    assert ros.state(NODE) == "active"


def test_device_lost_during_a_step_is_reported_and_survived(ros, node, tiny_checkpoint, flag,
                                                            feeder, report):
    if ros.state(NODE) != "active":
        _unconfigured_with(ros, tiny_checkpoint)
        _transition(ros, CONFIGURE, ACTIVATE)
    _wait_processing(ros, node)
    flag.touch()
    try:
        failed = ros.wait_for(lambda: int(ros.diagnostics(NODE).get("rejected.internal", 0)),
                              "failed steps counted in /diagnostics")
        log = node.log()
        assert "frame failed: RuntimeError: CUDA error" in log
        assert ros.state(NODE) == "active"
    finally:
        flag.unlink()
    _wait_processing(ros, node)  # the step works again once the device is back
    report.update({"failed steps counted (rejected.internal)": failed,
                   "log line": next(line for line in log.splitlines() if "frame failed" in line)})


def _graph_counts(ros) -> tuple[int, int]:
    graph = ros.node
    return graph.count_subscribers(IMAGE), graph.count_publishers(f"/{NODE}/scene")


def test_lifecycle_cycles_return_threads_endpoints_and_memory(ros, node, tiny_checkpoint,
                                                               feeder, counts, report):
    cycles = counts["lifecycle_cycles"]
    _unconfigured_with(ros, tiny_checkpoint)
    for _ in range(2):  # warm-up: executor threads and middleware pools are created lazily
        _transition(ros, CONFIGURE, ACTIVATE)
        _wait_processing(ros, node)
        _transition(ros, DEACTIVATE, CLEANUP)
    ros.wait_for(lambda: _graph_counts(ros) == (0, 0), "no endpoints while unconfigured")
    time.sleep(0.5)
    base_threads, base_rss = node.thread_count(), node.rss_kib()
    active_threads, peak_rss = [], base_rss
    for index in range(cycles):
        _transition(ros, CONFIGURE, ACTIVATE)
        _wait_processing(ros, node)  # frames flow while active
        if index in (0, cycles - 1):
            ros.wait_for(lambda: _graph_counts(ros) == (1, 1), "one subscription, one publisher")
        active_threads.append(node.thread_count())
        peak_rss = max(peak_rss, node.rss_kib())
        _transition(ros, DEACTIVATE, CLEANUP)
    assert ros.state(NODE) == "unconfigured"
    ros.wait_for(lambda: _graph_counts(ros) == (0, 0), "no endpoints left after the cycles")
    time.sleep(0.5)
    threads, rss = node.thread_count(), node.rss_kib()
    report.update({
        "cycles": cycles, "threads baseline / after": f"{base_threads} / {threads}",
        "threads while active (min-max)": f"{min(active_threads)}-{max(active_threads)}",
        "RSS baseline / after / peak (MiB)":
            f"{base_rss / 1024:.1f} / {rss / 1024:.1f} / {peak_rss / 1024:.1f}",
        "RSS change": f"{(rss - base_rss) / base_rss:+.2%}",
        "RSS tolerance": f"{RSS_TOLERANCE[0]:.0%} + {RSS_TOLERANCE[1] // 1024} MiB",
        "subscriptions / scene publishers after": _graph_counts(ros),
        "GPU memory": "not measured (no GPU on this machine)" if not torch.cuda.is_available()
        else "see /diagnostics gpu_memory_mb",
    })
    assert threads <= base_threads, report["threads baseline / after"]
    assert rss <= base_rss * (1 + RSS_TOLERANCE[0]) + RSS_TOLERANCE[1], report["RSS change"]
