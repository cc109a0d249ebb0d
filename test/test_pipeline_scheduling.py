"""When the detector runs: the configured interval, adapted to its measured cost."""

from __future__ import annotations

import pytest

from mot_ros.pipeline.scheduling import DetectionScheduler


def drive(scheduler, period_s, detect_s, frames):
    """Frames every ``period_s``; the detector takes ``detect_s`` on each frame it runs on.
    Returns the detect/skip pattern."""
    pattern = []
    for i in range(frames):
        scheduler.note_arrival(i * period_s)
        run = scheduler.should_detect()
        if run:
            scheduler.note_detection(detect_s, backlog=detect_s > period_s)
        pattern.append(run)
    return pattern


def test_a_detector_that_fits_runs_on_every_frame():
    s = DetectionScheduler(base_interval=1, max_interval=4)
    assert all(drive(s, 1 / 30, 0.012, 90))
    assert s.interval == 1


@pytest.mark.parametrize(
    "period, detect, interval",
    [
        # 60 fps, a 16 ms detector: done before the next frame comes, so no frame waits
        (1 / 60, 0.016, 1),
        # 60 fps, a 20 ms detector: frames wait; 20 > 0.8 * 16.7 -> every 2nd frame
        (1 / 60, 0.020, 2),
        # 60 fps, a 30 ms detector (twice the multi-class SSD's cost): every 3rd frame
        (1 / 60, 0.030, 3),
        # 30 fps, a 65 ms detector (two intra-op threads under load): capped at 4
        (1 / 30, 0.200, 4),
    ],
)
def test_a_slow_detector_runs_on_every_kth_frame(period, detect, interval):
    s = DetectionScheduler(base_interval=1, max_interval=4)
    pattern = drive(s, period, detect, 120)
    assert s.interval == interval
    if interval == 1:
        assert all(pattern)
        return
    tail = pattern[-12 * interval :]
    assert sum(tail) == len(tail) // interval, tail
    # evenly spaced: exactly one detector run in every `interval` consecutive frames
    assert all(sum(tail[i : i + interval]) == 1 for i in range(0, len(tail), interval))


def test_a_sender_in_lockstep_is_not_mistaken_for_a_camera_the_node_cannot_follow():
    """Each frame sent when the previous answer came: the period is the node's own time, and
    no frame is ever waiting when the detector finishes."""
    s = DetectionScheduler(base_interval=1, max_interval=4)
    t = 0.0
    for _ in range(60):
        s.note_arrival(t)
        assert s.should_detect()
        s.note_detection(0.020, backlog=False)
        t += 0.022  # the answer, then the next frame
    assert s.interval == 1


def test_the_interval_comes_back_down_only_with_a_margin():
    s = DetectionScheduler(base_interval=1, max_interval=4, budget=0.8, relax=0.75)
    drive(s, 1 / 60, 0.030, 60)
    assert s.interval == 3
    # 0.022 s would fit k=2 (<= 0.8 * 2 / 60 = 0.0267) but not with the margin (0.02)
    for i in range(60, 200):
        s.note_arrival(i / 60)
        if s.should_detect():
            s.note_detection(0.022)
    assert s.interval == 3
    for i in range(200, 400):
        s.note_arrival(i / 60)
        if s.should_detect():
            s.note_detection(0.008)
    assert s.interval == 1, "back to every frame once the detector is fast again"


def test_the_configured_interval_is_the_floor_and_max_equal_to_it_turns_adaptation_off():
    s = DetectionScheduler(base_interval=3, max_interval=3)
    pattern = drive(s, 1 / 60, 0.100, 30)
    assert s.interval == 3
    assert pattern[:9] == [True, False, False] * 3
    fast = DetectionScheduler(base_interval=2, max_interval=5)
    assert drive(fast, 1 / 30, 0.001, 6) == [True, False] * 3


def test_a_pause_of_the_camera_does_not_read_as_a_slow_camera_for_long():
    s = DetectionScheduler(base_interval=1, max_interval=4)
    drive(s, 1 / 30, 0.012, 30)
    s.note_arrival(30 / 30 + 60.0)  # one minute without frames
    assert s.period_s < 0.3


def test_configure_keeps_the_measurements_and_clamps_the_interval():
    s = DetectionScheduler(base_interval=1, max_interval=4)
    drive(s, 1 / 60, 0.030, 60)
    assert s.interval == 3
    s.configure(1, 2)
    assert s.interval == 2 and s.detect_s == pytest.approx(0.030)
    s.configure(4, 6)
    assert s.interval == 4
    with pytest.raises(ValueError, match="need 1 <= base_interval <= max_interval"):
        s.configure(3, 2)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(base_interval=0), "base_interval must be in [1, 100], but got 0"),
        (dict(base_interval=3, max_interval=2), "max_interval must be in [base_interval=3, 100]"),
        (dict(budget=1.5), "budget must be in (0, 1], but got 1.5"),
        (dict(relax=1.0), "relax must be in (0, 1), but got 1.0"),
        (dict(smoothing=0.0), "smoothing must be in (0, 1], but got 0.0"),
    ],
)
def test_arguments_are_validated_with_their_names(kwargs, words):
    with pytest.raises(ValueError) as info:
        DetectionScheduler(**kwargs)
    assert words in str(info.value)
