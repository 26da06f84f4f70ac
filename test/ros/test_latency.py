"""Tail-latency bookkeeping without DDS: p99.9 summary, cumulative histogram, missed frames,
and the node's statistics window (the diagnostics keys a controller reads)."""

import numpy as np
import pytest

from surg_perception.processing.timing import TAIL_PERCENTILES, latency_stats
from surg_perception.ros.latency import LatencyBook, LatencyHistogram, MissedFrames
from surg_perception.ros.stats import COUNTERS, NodeStats

PERIOD_NS = 33_333_333  # a 30 fps camera


def test_latency_stats_tail_percentiles():
    samples = np.arange(1.0, 1001.0)
    stats = latency_stats(samples, TAIL_PERCENTILES)
    assert stats["p50"] == pytest.approx(500.5)
    assert stats["p99.9"] == pytest.approx(np.percentile(samples, 99.9))
    assert stats["p99"] < stats["p99.9"] < stats["max"] == 1000.0
    assert set(latency_stats(samples)) == {"min", "mean", "p50", "p95", "p99", "max", "std"}


def test_histogram_percentiles_within_one_percent_of_exact():
    rng = np.random.default_rng(0)
    samples = np.concatenate([rng.lognormal(2.0, 0.3, 20_000), [250.0, 900.0]])  # 2 outliers
    hist = LatencyHistogram()
    for value in samples:
        hist.add(float(value))
    exact = latency_stats(samples, TAIL_PERCENTILES)
    summary = hist.summary()
    for key in ("p50", "p95", "p99", "p99.9"):
        assert summary[key] == pytest.approx(exact[key], rel=0.012), key
    assert summary["max"] == 900.0 and summary["min"] == exact["min"]
    assert summary["mean"] == pytest.approx(exact["mean"])
    assert hist.n == samples.size


def test_histogram_edges():
    hist = LatencyHistogram()
    assert hist.summary() == {}
    for value in (-5.0, 0.0, 3.0):  # camera clock ahead: negative ages are kept
        hist.add(value)
    assert hist.summary()["min"] == -5.0 and hist.summary()["max"] == 3.0
    assert -5.0 <= hist.percentile(50) <= 3.0
    hist.add(1e9)  # beyond the range: last bin, exact max
    assert hist.summary()["max"] == 1e9


def test_missed_frames_from_stamp_gaps():
    missed = MissedFrames()
    stamps = [i * PERIOD_NS for i in range(20)]
    assert sum(missed.update(s) for s in stamps) == 0
    assert missed.update(stamps[-1]) == 0  # the compressed copy of the same frame
    assert missed.update(23 * PERIOD_NS) == 3  # frames 20, 21, 22 never arrived
    assert missed.update(23 * PERIOD_NS - PERIOD_NS // 2) == 0  # a late copy: no rewind
    assert missed.update(24 * PERIOD_NS) == 0
    assert missed.update(24 * PERIOD_NS + 5 * 10**9) == 0  # a pause, not a loss
    assert missed.update(0) == 0  # a bag looping
    assert missed.update(PERIOD_NS) == 0 and missed.update(3 * PERIOD_NS) == 1


def test_book_window_resets_and_total_accumulates():
    book = LatencyBook()
    for ms in (10.0, 20.0, 30.0):
        book.add(ms, ms + 5.0)
    first = book.take_window()
    assert first["receive_to_publish_ms.window.p50"] == pytest.approx(20.0)
    assert first["stamp_to_publish_ms.window.max"] == 35.0
    book.add(100.0, 105.0)
    second = book.take_window()
    assert second["receive_to_publish_ms.window.p50"] == 100.0  # this window only
    assert second["receive_to_publish_ms.total.max"] == 100.0  # the activation
    assert second["receive_to_publish_ms.total.p50"] == pytest.approx(20.0, rel=0.01)
    third = book.take_window()
    assert "receive_to_publish_ms.window.p50" not in third  # nothing published meanwhile
    assert third["stamp_to_publish_ms.total.max"] == 105.0


def test_node_stats_window_counts_delays_and_outputs():
    stats = NodeStats()
    for index in range(12):
        if index not in (9, 10):  # two frames lost on the way
            stats.receive(index * PERIOD_NS)
    stats.count("dropped")
    stats.published(4.0, 40.0, built=["scene"], skipped=["overlay", "mask"])
    stats.published(6.0, 60.0, built=["scene", "overlay"], skipped=["mask"])
    snap = stats.snapshot()
    assert (snap["received"], snap["missed"], snap["dropped"]) == (10, 2, 1)
    assert (snap["window.received"], snap["window.missed"]) == (10, 2)
    assert (snap["built.scene"], snap["built.overlay"], snap["skipped.mask"]) == (2, 1, 2)
    assert snap["stamp_to_publish_ms.window.max"] == 60.0
    assert snap["receive_to_publish_ms.total.p99.9"] == pytest.approx(6.0, rel=0.01)
    later = stats.snapshot()
    assert (later["window.received"], later["window.missed"], later["received"]) == (0, 0, 10)
    assert "stamp_to_publish_ms.window.max" not in later
    assert later["stamp_to_publish_ms.total.max"] == 60.0
    stats.reset()
    assert "receive_to_publish_ms.total.max" not in stats.snapshot()


def test_the_named_cumulative_counters_are_those_of_the_snapshot():
    snapshot = NodeStats().snapshot()
    assert set(COUNTERS) <= set(snapshot)
    assert all(isinstance(snapshot[name], int) for name in COUNTERS)
