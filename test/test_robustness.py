"""Robustness of the core and the node's plain-Python helpers, without a ROS graph:
guarded callbacks, recent-event counts, stream-change detection, and the tracker's
boundary (box sanity, caps, resets that keep ids unique)."""

from __future__ import annotations

import numpy as np
import pytest

from mot_ros.ros.guards import CallbackErrors, RecentEvents, guarded
from mot_ros.ros.stream import StreamWatch
from mot_ros.tracking.tracker import MultiObjectTracker, TrackerConfig, TrackState
from mot_ros.types import MAX_COORDINATE, Detections, TrackedObject, sane_boxes


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_recent_events_forget_what_left_the_window():
    clock = FakeClock()
    events = RecentEvents(window_sec=10.0, clock=clock)
    events.add()
    events.add(3)
    assert (events.total, events.recent()) == (4, 4)
    clock.now += 9.0
    events.add()
    assert events.recent() == 5
    clock.now += 2.0  # the first four are now 11 s old
    assert (events.total, events.recent()) == (5, 1)
    clock.now += 20.0
    assert (events.total, events.recent()) == (5, 0)
    with pytest.raises(ValueError, match="window_sec"):
        RecentEvents(window_sec=0.0)


class Guarded:
    """An object shaped like the node: a ``callback_errors`` attribute and callbacks."""

    def __init__(self) -> None:
        self.logged: list[str] = []
        self.callback_errors = CallbackErrors(self.logged.append)
        self.seen: list[int] = []

    @guarded("numbers callback")
    def on_number(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"negative {n}")
        if n == 0:
            raise ZeroDivisionError("zero")
        self.seen.append(n)

    @guarded("service", fallback=lambda exc: f"failed: {exc}")
    def service(self, n: int) -> str:
        return f"ok {1 // n}"

    @guarded("stopper")
    def stop(self) -> None:
        raise KeyboardInterrupt


def test_guarded_callbacks_log_each_kind_once_count_all_and_keep_going():
    g = Guarded()
    for n in (1, -1, 2, -2, -3, 0, 3, 0):
        assert g.on_number(n) is None
    assert g.seen == [1, 2, 3], "good inputs around bad ones are processed"
    assert g.callback_errors.events.total == 5
    assert g.callback_errors.by_callback == {"numbers callback": 5}
    assert len(g.logged) == 2, "one log per exception type, not per message"
    assert "ValueError: negative -1" in g.logged[0] and "Traceback" in g.logged[0]
    assert "ZeroDivisionError" in g.logged[1]
    assert g.service(0).startswith("failed:"), "a service still answers"
    assert g.service(1) == "ok 1"
    with pytest.raises(KeyboardInterrupt):
        g.stop()  # a stop request is not swallowed


def test_stream_watch_reports_resolution_frame_id_and_backward_stamps():
    w = StreamWatch("image")
    assert w.check((640, 480), "cam", 1_000) is None
    assert w.check((640, 480), "cam", 1_000) is None, "a repeated stamp is no jump"
    assert w.check((640, 480), "cam", 2_000) is None
    assert "resolution changed from 640x480 to 320x240" in w.check((320, 240), "cam", 3_000)
    assert "frame_id changed from 'cam' to 'cam2'" in w.check((320, 240), "cam2", 4_000)
    assert "stamp jumped backwards by 0.000" in w.check((320, 240), "cam2", 3_999)
    assert w.check(None, "cam2", 5_000) is None, "detections carry no resolution"


def test_sane_boxes_bound_size_position_and_values():
    boxes = np.array(
        [
            [10, 10, 50, 90],  # fine
            [-30, -30, 20, 20],  # partly outside: fine
            [0, 0, 0, 10],  # empty
            [np.nan, 0, 10, 10],
            [0, 0, 10, 2 * MAX_COORDINATE],  # absurd
            [0, 0, 3000, 10],  # > 4x the image width
            [700, 10, 720, 30],  # entirely right of a 640 px image
        ],
        dtype=float,
    )
    assert sane_boxes(boxes).tolist() == [True, True, False, False, False, True, True]
    assert sane_boxes(boxes, (640, 480)).tolist() == [True, True] + [False] * 5
    with pytest.raises(ValueError, match="within"):
        TrackedObject(1, (0.0, 0.0, 10.0, 1e155), 0.5, "person")


def _dets(boxes, scores=None):
    boxes = np.asarray(boxes, dtype=float)
    scores = np.full(len(boxes), 0.9) if scores is None else np.asarray(scores, dtype=float)
    return Detections(boxes, scores, ("person",) * len(boxes))


def test_the_motion_model_overflow_box_is_rejected_at_the_tracker_boundary():
    """Issue defect 1: centre (384, 288), 10 x 1e155 passed the check and overflowed."""
    tracker = MultiObjectTracker(TrackerConfig(min_hits=1))
    huge = _dets([[379, 288 - 5e154, 389, 288 + 5e154], [100, 100, 140, 200]])
    for _ in range(3):
        out = tracker.update(None, huge, image_size=(768, 576))
    assert [o.track_id for o in out] == [1]
    assert tracker.detections_rejected == 3
    assert all(np.isfinite(t.xyxy).all() for t in tracker.tracks)


def test_caps_bound_detections_tracks_and_dlib_work():
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 255, (576, 768, 3), dtype=np.uint8)
    xy = np.stack([rng.uniform(0, 700, 500), rng.uniform(0, 500, 500)], axis=1)
    boxes = np.hstack([xy, xy + [30, 60]])
    scores = rng.uniform(0.3, 1.0, 500)
    cfg = TrackerConfig(max_detections=100, max_tracks=40, max_correlation_trackers=5)
    tracker = MultiObjectTracker(cfg)
    tracker.update(frame, _dets(boxes, scores))
    assert tracker.detections_over_cap == 400
    assert len(tracker.tracks) == 40 and tracker.tracks_over_cap == 60
    kept = sorted(t.score for t in tracker.tracks)
    assert kept[0] >= np.sort(scores)[-40] - 1e-9, "the highest scores are kept"
    starts = tracker.dlib_starts
    tracker.update(frame, None)  # every track is carried: dlib only for the budget
    assert tracker.dlib_starts - starts == 1, "tentative tracks get a quarter of the 5"
    tracker.update(frame, _dets(boxes, scores))  # the same boxes again: second hits
    starts = tracker.dlib_starts
    tracker.update(frame, _dets(boxes, scores))  # third hits: 40 confirmed tracks
    tracker.update(frame, Detections.empty())  # all missed: confirmed get the whole budget
    assert tracker.dlib_starts - starts == 5


def test_reset_keeping_ids_never_reuses_an_id():
    tracker = MultiObjectTracker(TrackerConfig(min_hits=1))
    box = [[100, 100, 140, 200]]
    first = [o.track_id for o in tracker.update(None, _dets(box), (640, 480))]
    tracker.reset(keep_ids=True)
    assert tracker.tracks == ()
    second = [o.track_id for o in tracker.update(None, _dets(box), (640, 480))]
    assert first == [1] and second == [2]
    tracker.reset()
    assert [o.track_id for o in tracker.update(None, _dets(box), (640, 480))] == [1]


def test_config_changes_apply_from_the_next_frame():
    tracker = MultiObjectTracker(TrackerConfig(min_hits=3))
    box = [[100, 100, 140, 200]]
    tracker.update(None, _dets(box), (640, 480))
    assert tracker.tracks[0].state is TrackState.TENTATIVE
    tracker.config = TrackerConfig(min_hits=1, max_tracks=1)
    out = tracker.update(None, _dets(box + [[300, 100, 340, 200]]), (640, 480))
    assert [o.track_id for o in out] == [1] and len(tracker.tracks) == 1
    assert tracker.tracks_over_cap == 1


def test_launch_argument_chooses_the_lifecycle_node():
    """launch cannot run here: check, as far as the source tells, that ``lifecycle:=true``
    starts the installed lifecycle executable instead of the plain one."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    source = (root / "launch" / "mot.launch.py").read_text()
    tree = ast.parse(source)
    args = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument"
    }
    assert {"lifecycle", "autostart"} <= args
    assert 'executable="mot_lifecycle_node", condition=IfCondition(lifecycle)' in source
    assert 'executable="mot_node", condition=UnlessCondition(lifecycle)' in source
    assert "TRANSITION_CONFIGURE" in source and "TRANSITION_ACTIVATE" in source
    setup = (root / "setup.py").read_text()
    assert "mot_lifecycle_node = mot_ros.ros.node:lifecycle_main" in setup
