"""apmtl_node (own process) under a flood of malformed messages and a long valid stream.

Both scenarios talk to the node over Fast DDS with a reliable, keep-all publisher and the
node's input QoS set to reliable with a deep history, so every message sent is received and
the node's diagnostics can be reconciled exactly with what the test sent:
``processed + dropped + rejected == received == sent``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="the node runs on rclpy over Fast DDS")
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from surg_perception.msg import SurgicalScene  # noqa: E402
from surg_perception.ros.conversions import numpy_to_image  # noqa: E402

pytestmark = pytest.mark.ros

NODE = "reliability_stream_node"
IMAGE, COMPRESSED = "/reliability/image", "/reliability/image/compressed"
WIDTH, HEIGHT = 64, 48
MAX_PIXELS = 40_000
KEEP_ALL = QoSProfile(depth=1, history=HistoryPolicy.KEEP_ALL,
                      reliability=ReliabilityPolicy.RELIABLE)
OUTPUT_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
# Messages sent before waiting for the node to have received them: well under the input
# history depth (1000), so a flood never overflows the node's reader queue (a DDS loss the
# node could not count). The node's O(1) callback is not what limits the rate here.
BATCH = 400


@pytest.fixture(scope="module")
def node(start_node, tiny_checkpoint):
    return start_node(NODE, {
        "model.checkpoint": str(tiny_checkpoint), "model.device": "cpu",
        "model.warmup_steps": 1, "autostart": True, "input.image_topic": IMAGE,
        "input.compressed_topic": COMPRESSED, "input.qos": "reliable",
        "input.qos_depth": 1000, "input.max_image_pixels": MAX_PIXELS,
    })


@pytest.fixture(scope="module")
def ros(make_probe, node):
    probe = make_probe("reliability_stream_probe")
    probe.scenes = probe.subscribe(SurgicalScene, f"/{NODE}/scene", OUTPUT_QOS)
    probe.images = probe.node.create_publisher(Image, IMAGE, KEEP_ALL)
    probe.compressed = probe.node.create_publisher(CompressedImage, COMPRESSED, KEEP_ALL)
    probe.wait_node(node, "active")
    probe.wait_for(lambda: probe.images.get_subscription_count() > 0
                   and probe.compressed.get_subscription_count() > 0, "the input subscriptions")
    return probe


def _counters(ros) -> dict[str, int]:
    values = ros.diagnostics(NODE)
    return {key: int(values.get(key, 0))
            for key in ("received", "processed", "dropped", "rejected")}


def _received(ros, node, expected: int) -> None:
    """Flow control: until the node has taken ``expected`` messages off its input queue."""
    ros.wait_for(lambda: node.alive() and _counters(ros)["received"] >= expected,
                 f"{expected} messages received", 120.0)


def _settled(ros, node, expected_received: int) -> dict[str, int]:
    """Counters once the node has received everything and finished every frame."""
    def done():
        node.alive()
        c = _counters(ros)
        return c if (c["received"] >= expected_received
                     and c["processed"] + c["dropped"] + c["rejected"] >= c["received"]) else None

    first = ros.wait_for(done, f"{expected_received} frames accounted for", 600.0)
    time.sleep(1.5)  # one more diagnostics period: nothing may still be counting
    last = _counters(ros)
    assert last == first, f"counters still moving: {first} -> {last}"
    return last


def _frame(stamp_ns: int, pixels: np.ndarray) -> Image:
    msg = numpy_to_image(pixels, "rgb8")
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    msg.header.frame_id = "endoscope"
    return msg


def _send_valid(ros, first_stamp_ns: int, count: int) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    for index in range(count):
        ros.images.publish(_frame(first_stamp_ns + index * 33_333_333, pixels))


# --------------------------------------------------------------------------- malformed input
def malformed(index: int, rng: np.random.Generator) -> tuple[object, str]:
    """The ``index``-th malformed message (kinds in turn, random sizes) and its reason."""
    height, width = int(rng.integers(1, 60)), int(rng.integers(1, 60))
    kind = index % 8
    if kind == 0:
        encoding = str(rng.choice(["32FC1", "16UC1", "yuv422", "rgb16", "", "bayer_rggb8"]))
        return Image(height=height, width=width, encoding=encoding, step=width * 4,
                     data=bytes(width * height * 4)), "encoding"
    if kind == 1:
        return Image(height=height, width=width + 1, encoding="rgb8",
                     step=int(rng.integers(0, (width + 1) * 3)), data=bytes(9000)), "step"
    if kind == 2:
        short = int(rng.integers(0, width * height * 3))
        return Image(height=height, width=width, encoding="bgr8", step=width * 3,
                     data=bytes(short)), "truncated"
    if kind == 3:
        return Image(height=0, width=width, encoding="mono8", step=width), "empty"
    if kind == 4:
        side = int(rng.integers(201, 400))  # over 40,000 pixels
        return Image(height=side, width=side, encoding="mono8", step=side), "oversized"
    if kind == 5:
        fmt = str(rng.choice(["h264", "theora", "", "16UC1; compressedDepth png", "raw"]))
        return CompressedImage(format=fmt, data=b"\x00" * 10), "format"
    if kind == 6:
        return CompressedImage(format="jpeg", data=b""), "empty"
    data = rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes()
    return CompressedImage(format=str(rng.choice(["jpeg", "png"])), data=data), "undecodable"


def test_malformed_flood_is_rejected_counted_and_survived(ros, node, counts, report):
    total = counts["dds_malformed"]
    before = _settled(ros, node, 0)
    before_reasons = {k: int(v) for k, v in ros.diagnostics(NODE).items()
                      if k.startswith("rejected.")}
    rng = np.random.default_rng(7)
    sent: dict[str, int] = {}
    for index in range(total):
        msg, reason = malformed(index, rng)
        sent[reason] = sent.get(reason, 0) + 1
        (ros.compressed if isinstance(msg, CompressedImage) else ros.images).publish(msg)
        if reason == "undecodable":
            time.sleep(0.002)  # decoded by the worker: give it a chance before the next one
        if (index + 1) % BATCH == 0:
            _received(ros, node, before["received"] + index + 1)
    after = _settled(ros, node, before["received"] + total)
    reasons = {k: int(v) - before_reasons.get(k, 0) for k, v in ros.diagnostics(NODE).items()
               if k.startswith("rejected.")}
    delta = {k: after[k] - before[k] for k in after}
    report.update({"sent": total, "counters": delta, "rejected by reason": reasons,
                   "node RSS MiB": round(node.rss_kib() / 1024, 1)})
    assert delta["received"] == total and delta["processed"] == 0
    # An undecodable frame superseded by a newer one before the worker decoded it is counted
    # as dropped (the latest-frame rule), never processed; every other kind is caught by the
    # callback's O(1) checks and rejected one by one.
    assert delta["rejected"] + delta["dropped"] == total
    for reason in ("encoding", "step", "truncated", "empty", "oversized", "format"):
        assert reasons.get(f"rejected.{reason}", 0) == sent[reason], (reason, reasons, sent)
    assert reasons.get("rejected.undecodable", 0) + delta["dropped"] == sent["undecodable"]
    assert ros.state(NODE) == "active"
    _send_valid(ros, 500 * 10**9, 3)  # valid frames are still processed
    ros.wait_for(lambda: _counters(ros)["processed"] >= after["processed"] + 1,
                 "a valid frame processed after the flood")


# --------------------------------------------------------------------------- soak
def _percentiles(values: list[float]) -> str:
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"


def _closed_loop(ros, node, stamps: list[int], pixels: np.ndarray) -> float:
    """Send one frame at a time, each once the previous one's scene arrived (warm-up);
    returns the median round trip: the period the node sustains without dropping."""
    periods = []
    for stamp in stamps:
        seen, start = len(ros.scenes), time.monotonic()
        ros.images.publish(_frame(stamp, pixels))
        while len(ros.scenes) <= seen:  # polled finely: the period is what is measured
            assert node.alive() and time.monotonic() - start < 60.0, "no warm-up scene"
            time.sleep(0.0005)
        periods.append(time.monotonic() - start)
    return float(np.median(periods))


PACE_CHUNK = 250  # frames between two adjustments of the send period


def _adapted(period: float, chunk_s: float, processed: int) -> float:
    """The next send period: 10 % faster than the node processed the last chunk, so the
    node always runs at its limit (and drops a few frames) as the machine's load changes."""
    if processed <= 0:
        return min(period * 2, 0.2)
    return min(max(chunk_s / (processed * 1.1), 0.002), 0.2)


def test_soak_exact_accounting_and_no_memory_growth(ros, node, counts, report):
    total, window = counts["soak_frames"], counts["latency_window"]
    warmup = max(window, total // 10)
    before = _settled(ros, node, 0)
    ros.scenes.clear()
    pixels = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    stamps = [1000 * 10**9 + index * 33_333_333 for index in range(total)]
    period = _closed_loop(ros, node, stamps[:warmup], pixels)
    _settled(ros, node, before["received"] + warmup)
    warm_rss, warm_scenes = node.rss_kib(), len(ros.scenes)
    rss, periods = [warm_rss], [period]
    start = next_send = chunk_start = time.monotonic()
    chunk_scenes = len(ros.scenes)
    for index, stamp in enumerate(stamps[warmup:]):  # paced at the sustained rate
        ros.images.publish(_frame(stamp, pixels))
        if (index + 1) % PACE_CHUNK == 0:
            rss.append(node.rss_kib())
            period = _adapted(period, time.monotonic() - chunk_start,
                              len(ros.scenes) - chunk_scenes)
            periods.append(period)
            chunk_start, chunk_scenes = time.monotonic(), len(ros.scenes)
        next_send = max(next_send + period, time.monotonic() - period)
        time.sleep(max(0.0, next_send - time.monotonic()))
    send_s = time.monotonic() - start
    after = _settled(ros, node, before["received"] + total)
    end_rss = node.rss_kib()
    delta = {k: after[k] - before[k] for k in after}
    growth = (end_rss - warm_rss) / warm_rss
    latency = [s.latency_ms for s in sorted(ros.scenes, key=lambda s: s.sequence)][warm_scenes:]
    # On a busy machine the node drops paced frames (keep-newest): compare what exists.
    window = min(window, len(latency) // 2)
    assert window > 0, f"no latency sample: {len(latency)} paced frame(s) processed"
    report.update({
        "frames sent (warm-up + paced)": f"{total} ({warmup} + {total - warmup})",
        "counters": delta,
        "send period: warm-up / min / max over the run (ms)":
            f"{periods[0] * 1e3:.1f} / {min(periods) * 1e3:.1f} / {max(periods) * 1e3:.1f}",
        "paced send rate (frames/s)": round((total - warmup) / send_s, 1),
        "RSS after warm-up / end / max sampled (MiB)":
            f"{warm_rss / 1024:.1f} / {end_rss / 1024:.1f} / {max(rss + [end_rss]) / 1024:.1f}",
        "RSS growth after warm-up": f"{growth:+.2%}",
        f"latency first {window} paced frames": _percentiles(latency[:window]),
        f"latency last {window} paced frames": _percentiles(latency[-window:]),
        "latency p50 ratio last/first": round(float(np.median(latency[-window:])
                                                    / np.median(latency[:window])), 2),
    })
    assert delta["received"] == total
    assert delta["processed"] + delta["dropped"] + delta["rejected"] == total
    assert delta["rejected"] == 0 and delta["processed"] >= warmup
    assert growth < 0.05, f"RSS grew {growth:.1%} after warm-up"
    assert ros.state(NODE) == "active"
