"""Statistics helpers on hand-built samples (hand-computed expectations)."""

import math

import numpy as np
import pytest

from surg_perception.bench.stats import dropped_frames, jitter_ms, latency_stats, ratio


def test_latency_stats_on_one_to_hundred():
    stats = latency_stats(np.arange(1.0, 101.0))
    # linear interpolation: p50 at rank 49.5 -> 50.5; p95 at 94.05 -> 95.05; p99 -> 99.01
    assert stats["min"] == 1.0 and stats["max"] == 100.0 and stats["mean"] == 50.5
    assert stats["p50"] == pytest.approx(50.5)
    assert stats["p95"] == pytest.approx(95.05)
    assert stats["p99"] == pytest.approx(99.01)


def test_latency_stats_rejects_no_samples():
    with pytest.raises(ValueError):
        latency_stats([])


def test_jitter_is_std_of_completion_gaps():
    # gaps 10, 20, 10, 20: mean 15, every deviation 5 -> std 5
    assert jitter_ms([0.0, 10.0, 30.0, 40.0, 60.0]) == pytest.approx(5.0)
    assert jitter_ms([0.0, 10.0, 20.0, 30.0]) == 0.0  # perfectly regular
    assert jitter_ms([0.0, 7.0]) == 0.0  # one gap: no spread defined


def test_no_drops_when_service_is_faster_than_the_camera():
    assert dropped_frames([5.0, 5.0, 5.0], period_ms=10.0) == 0


def test_drops_with_keep_newest_slot():
    # period 10, service 25: t=0 run (free 25); 10 waits; 20 replaces 10 (drop 1);
    # 25 takes 20 (free 50); 30 waits; 40 replaces 30 (drop 2); 40 processed at the end.
    assert dropped_frames([25.0] * 5, period_ms=10.0) == 2


def test_offline_mode_never_drops():
    assert dropped_frames([100.0] * 4, period_ms=0.0) == 0


def test_ratio_handles_missing_values():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None and ratio(1.0, 0.0) is None
    assert math.isfinite(ratio(1e-3, 1e3))
