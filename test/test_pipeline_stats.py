"""The /diagnostics aggregator and its levels, on an injected clock (no ROS, no sleeping)."""

from __future__ import annotations

import numpy as np
import pytest

from mot_ros.pipeline.stats import (
    ERROR,
    OK,
    WARN,
    FrameRecord,
    HealthThresholds,
    PipelineStats,
    format_summary,
    health,
)

THRESHOLDS = HealthThresholds(
    window_sec=2.0,
    warn_processed_ratio=0.9,
    error_processed_ratio=0.5,
    warn_latency_ms=50.0,
    error_latency_ms=200.0,
)


def record(latency: float | None, detected: bool = True, tracks: int = 3) -> FrameRecord:
    stages = {"convert": 0.1, "detect": 12.0 if detected else 0.0, "track": 1.5, "publish": 0.3}
    if not detected:
        del stages["detect"]
    return FrameRecord(
        latency_ms=latency, node_ms=14.0, detected=detected, tracks=tracks, stages=stages
    )


def feed(stats, t0, seconds, rate, latency=20.0, answer_every=1, detect_every=1):
    """Frames at ``rate`` Hz from ``t0`` for ``seconds``; every ``answer_every``-th answered."""
    n = int(round(seconds * rate))
    for i in range(n):
        t = t0 + i / rate
        stats.received(t)
        if i % answer_every == 0:
            stats.processed(record(latency, detected=i % detect_every == 0), now=t + 0.01)
        else:
            stats.dropped_busy(t)
    return t0 + n / rate


def test_rates_percentiles_and_stage_medians_over_the_window():
    stats = PipelineStats(window_sec=2.0, clock=lambda: 0.0)
    t = feed(stats, 0.0, 2.0, 30.0, latency=20.0, answer_every=2, detect_every=2)
    snap = stats.snapshot(now=t)
    assert snap.input_rate_hz == pytest.approx(30.0, rel=0.05)
    assert snap.processed_rate_hz == pytest.approx(15.0, rel=0.05)
    assert snap.processed_ratio == pytest.approx(0.5, abs=0.02)
    assert snap.window["dropped_busy"] == pytest.approx(30, abs=1)
    assert snap.latency_ms["p50"] == pytest.approx(20.0)
    assert snap.stage_ms_median["track"] == pytest.approx(1.5)
    assert "draw" not in snap.stage_ms_median, "a stage that never ran is not reported"
    assert snap.active_tracks == 3
    keys = dict(snap.key_values())
    for key in (
        "input_rate_hz",
        "processed_rate_hz",
        "frames_dropped_busy",
        "frames_rejected_bad",
        "latency_ms_p50",
        "latency_ms_p95",
        "latency_ms_p99",
        "detect_ms_median",
        "track_ms_median",
        "active_tracks",
    ):
        assert key in keys, key


def test_old_events_leave_the_window_but_stay_in_the_totals():
    stats = PipelineStats(window_sec=2.0, clock=lambda: 0.0)
    t = feed(stats, 0.0, 2.0, 10.0, latency=300.0)
    t = feed(stats, t, 3.0, 10.0, latency=10.0)
    snap = stats.snapshot(now=t)
    assert snap.totals["received"] == 50 and snap.totals["processed"] == 50
    assert snap.window["received"] == pytest.approx(20, abs=1)
    assert snap.latency_ms["max"] == pytest.approx(10.0), "the slow frames have left the window"
    assert snap.run_latency_ms["max"] == pytest.approx(300.0), "the whole run remembers them"
    assert snap.run_latency_ms["p95"] == pytest.approx(300.5)
    assert snap.run_latency_ms["p50"] == pytest.approx(10.5)


def test_run_latency_percentiles_follow_numpy_within_the_bin_width():
    rng = np.random.default_rng(3)
    values = rng.gamma(3.0, 12.0, 5000)
    stats = PipelineStats(window_sec=1000.0, clock=lambda: 0.0)
    for i, v in enumerate(values):
        stats.processed(record(float(v)), now=i * 0.001)
    snap = stats.snapshot(now=5.0)
    for name, q in (("p50", 50), ("p95", 95)):
        assert abs(snap.run_latency_ms[name] - np.percentile(values, q)) <= 1.0


@pytest.mark.parametrize(
    "case, kwargs, level, words",
    [
        # every frame answered quickly
        ("healthy", dict(latency=20.0), OK, "tracking"),
        # 2 of 3 frames answered: below the 90 % warn share, above the 50 % error share
        ("some frames missed", dict(answer_every=3, latency=20.0), ERROR, "33%"),
        ("late", dict(latency=80.0), WARN, "latency p95 80 ms"),
        ("very late", dict(latency=500.0), ERROR, "latency p95 500 ms"),
    ],
)
def test_levels_follow_the_thresholds(case, kwargs, level, words):
    stats = PipelineStats(window_sec=2.0, clock=lambda: 0.0)
    t = feed(stats, 0.0, 2.0, 30.0, **kwargs)
    got, message = health(stats.snapshot(now=t), THRESHOLDS)
    assert got == level, (case, message)
    assert words in message, message


def test_a_ratio_between_the_thresholds_warns():
    stats = PipelineStats(window_sec=2.0, clock=lambda: 0.0)
    t = 0.0
    for i in range(50):  # 40 of 50 answered: 80 %
        t = i / 30
        stats.received(t)
        if i % 5 != 0:
            stats.processed(record(20.0), now=t)
    level, message = health(stats.snapshot(now=t), THRESHOLDS)
    assert level == WARN and "80% of frames answered" in message


def test_bad_frames_and_failures_raise_the_level_and_it_comes_back():
    stats = PipelineStats(window_sec=2.0, clock=lambda: 0.0)
    t = feed(stats, 0.0, 1.0, 30.0)
    stats.received(t)
    stats.rejected(t)
    level, message = health(stats.snapshot(now=t), THRESHOLDS)
    assert level == WARN and "1 bad frames rejected" in message
    stats.failed(t)
    assert health(stats.snapshot(now=t), THRESHOLDS)[0] == ERROR
    # the cause is gone: healthy frames for longer than the window
    t = feed(stats, t + 0.01, 2.5, 30.0)
    assert health(stats.snapshot(now=t), THRESHOLDS) == (OK, "tracking")
    assert stats.snapshot(now=t).totals["rejected_bad"] == 1


def test_no_input_warns_before_the_first_frame_and_after_the_camera_stops():
    stats = PipelineStats(window_sec=2.0, clock=lambda: 0.0)
    assert health(stats.snapshot(now=1.0), THRESHOLDS) == (WARN, "no images received yet")
    t = feed(stats, 0.0, 1.0, 30.0)
    assert health(stats.snapshot(now=t), THRESHOLDS)[0] == OK
    level, message = health(stats.snapshot(now=t + 5.0), THRESHOLDS)
    assert level == WARN and message.startswith("no images for 5.0 s")


def test_frames_without_a_usable_stamp_count_but_have_no_latency():
    stats = PipelineStats(window_sec=2.0, clock=lambda: 0.0)
    for i in range(10):
        stats.received(i * 0.1)
        stats.processed(record(None), now=i * 0.1)
    snap = stats.snapshot(now=1.0)
    assert snap.totals["processed"] == 10
    assert snap.latency_ms["p95"] != snap.latency_ms["p95"]  # nan
    assert health(snap, THRESHOLDS)[0] == OK


def test_the_shutdown_summary_names_counters_latency_and_stages():
    stats = PipelineStats(window_sec=2.0, clock=lambda: 0.0)
    t = feed(stats, 0.0, 2.0, 30.0, latency=25.0, answer_every=2)
    snap = stats.snapshot(now=t)
    text = format_summary(snap, *health(snap, THRESHOLDS))
    assert text.startswith("WARN (50% of frames answered (< 90%))")
    assert "frames received 60, processed 30" in text and "dropped busy 30" in text
    # whole-run percentiles come from 1 ms bins: 25 ms reads as its bin's centre, 25.5
    assert "over the run p50 26 ms" in text and "track 1.5" in text


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(window_sec=0.1), "window_sec must be in [0.5, 600], but got 0.1"),
        (dict(warn_processed_ratio=1.5), "warn_processed_ratio must be in [0, 1], but got 1.5"),
        (dict(error_processed_ratio=0.95), "error_processed_ratio (0.95) must not exceed"),
        (dict(warn_latency_ms=0.0), "warn_latency_ms must be in (0, 60000], but got 0.0"),
        (dict(error_latency_ms=20.0), "error_latency_ms (20.0) must not be below"),
    ],
)
def test_thresholds_are_validated_with_the_argument_named(kwargs, words):
    with pytest.raises(ValueError) as info:
        HealthThresholds(**kwargs)
    assert words in str(info.value)
