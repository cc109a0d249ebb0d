"""The real-time frame pipeline with the real detector, the real tracker and real frames.

Gates (a wrapper that holds the real detector or tracker until the test opens it) make the
interleavings deterministic: which frame is dropped, what overlaps, what order comes out.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from synthetic import ObjectSpec, make_sequence

from mot_ros.detection.config import DetectorConfig
from mot_ros.detection.factory import create_detector
from mot_ros.pipeline.scheduling import DetectionScheduler
from mot_ros.pipeline.worker import FramePipeline, LatestSlot
from mot_ros.tracking.tracker import MultiObjectTracker, TrackerConfig
from mot_ros.types import Detections

WAIT = 30.0  # generous: a loaded CI machine must not fail these


@pytest.fixture(scope="module")
def detector():
    return create_detector(DetectorConfig(preset="person_ssdlite", num_threads=1))


@pytest.fixture(scope="module")
def frames(vtest_frames):
    return [vtest_frames[i] for i in sorted(vtest_frames)]


class Gated:
    """Holds calls of ``method`` on the wrapped object until ``gate`` is set."""

    def __init__(self, inner, method: str) -> None:
        self.inner = inner
        self.method = method
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Semaphore(0)
        self.calls: list[dict] = []
        self.done = 0

    def __getattr__(self, name):
        target = getattr(self.inner, name)
        if name != self.method:
            return target

        def call(*args, **kwargs):
            self.calls.append(
                {"args": args, "kwargs": kwargs, "thread": threading.current_thread().name}
            )
            self.entered.release()
            assert self.gate.wait(WAIT), "the test never opened the gate"
            out = target(*args, **kwargs)
            self.done += 1
            return out

        return call


class Outputs:
    def __init__(self) -> None:
        self.items: list[tuple] = []
        self.drawn: list = []
        self.errors: list[str] = []
        self.cond = threading.Condition()

    def publish(self, header, tracks) -> None:
        with self.cond:
            self.items.append((header, tracks, threading.current_thread().name))
            self.cond.notify_all()

    def draw(self, header, image, tracks) -> None:
        self.drawn.append(header)

    def wait_for(self, count: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.items) >= count, WAIT), self.items

    @property
    def headers(self):
        return [h for h, _, _ in self.items]


def make_pipeline(detector, tracker=None, **kwargs):
    out = Outputs()
    pipe = FramePipeline(
        detector.detect,
        tracker if tracker is not None else MultiObjectTracker(TrackerConfig(min_hits=1)),
        out.publish,
        draw=out.draw,
        on_error=out.errors.append,
        **kwargs,
    )
    pipe.start()
    return pipe, out


def submit(pipe, frame, header, stamp_ns=None):
    pipe.submit(frame, header, stamp_ns, time.monotonic(), 0.1)


def test_frames_in_lockstep_are_all_detected_tracked_and_answered_in_order(detector, frames):
    clock = [10_000_000_000]
    pipe, out = make_pipeline(detector, clock_ns=lambda: clock[0])
    try:
        for i, frame in enumerate(frames):
            clock[0] += 50_000_000
            submit(pipe, frame, f"frame{i}", stamp_ns=clock[0] - 20_000_000)
            out.wait_for(i + 1)
    finally:
        pipe.stop()
    assert out.headers == [f"frame{i}" for i in range(len(frames))]
    assert sum(len(tracks) for _, tracks, _ in out.items) > 10, "people are tracked"
    assert {thread for _, _, thread in out.items} == {"mot-track"}
    snap = pipe.stats.snapshot()
    assert snap.totals["processed"] == snap.totals["detected"] == len(frames)
    assert snap.totals["dropped_busy"] == 0
    assert snap.latency_ms["p50"] == pytest.approx(20.0), "stamp to publish on the given clock"
    assert {"convert", "wait", "detect", "track", "publish"} <= set(snap.stage_ms_median)
    assert out.drawn == [], "nobody wants the drawing: it is not made"


def test_frames_arriving_while_the_detector_is_busy_leave_only_the_newest(detector, frames):
    gated = Gated(detector, "detect")
    gated.gate.clear()
    pipe, out = make_pipeline(gated)
    try:
        submit(pipe, frames[0], "first")
        assert gated.entered.acquire(timeout=WAIT)  # the detector thread holds frame 0
        for i in range(1, 6):
            submit(pipe, frames[i], f"burst{i}")
        gated.gate.set()
        out.wait_for(2)
        time.sleep(0.3)  # nothing else may come out
    finally:
        pipe.stop()
    assert out.headers == ["first", "burst5"]
    snap = pipe.stats.snapshot()
    assert snap.totals["received"] == 6 and snap.totals["dropped_busy"] == 4


@pytest.mark.parametrize("overlap", [True, False])
def test_detection_of_the_next_frame_overlaps_tracking_of_this_one(detector, frames, overlap):
    tracker = Gated(MultiObjectTracker(TrackerConfig(min_hits=1)), "update")
    counted = Gated(detector, "detect")
    pipe, out = make_pipeline(counted, tracker=tracker, overlap=overlap)
    try:
        tracker.gate.clear()
        submit(pipe, frames[0], "frame0")
        assert tracker.entered.acquire(timeout=WAIT), "frame 0 reaches the tracker"
        submit(pipe, frames[1], "frame1")
        deadline = time.monotonic() + (WAIT if overlap else 1.0)
        while counted.done < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # with overlap, frame 1 is detected while frame 0 is still being tracked
        assert (counted.done == 2) == overlap, counted.done
        tracker.gate.set()
        out.wait_for(2)
    finally:
        pipe.stop()
    assert out.headers == ["frame0", "frame1"]
    assert {c["thread"] for c in counted.calls} == {"mot-detect"}
    assert {c["thread"] for c in tracker.calls} == {"mot-track" if overlap else "mot-detect"}


def test_a_detector_slower_than_the_camera_is_skipped_and_frames_coast(detector, frames):
    """Frames every 3 ms, a detector that needs more: the scheduler raises the interval and
    the frames between detections are answered from the motion model (coast=True)."""
    tracker = Gated(MultiObjectTracker(TrackerConfig(min_hits=1)), "update")
    scheduler = DetectionScheduler(base_interval=1, max_interval=3)
    pipe, out = make_pipeline(detector, tracker=tracker, scheduler=scheduler)
    try:
        for i in range(120):
            submit(pipe, frames[i % len(frames)], i)
            time.sleep(0.003)
        deadline = time.monotonic() + WAIT
        while pipe.stats.snapshot().totals["processed"] < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        pipe.stop()
    assert scheduler.interval >= 2
    assert out.headers == sorted(out.headers), "answers keep the frame order"
    fed = [(c["args"][1], c["kwargs"]["coast"]) for c in tracker.calls]
    coasted = [d for d, coast in fed if coast]
    assert coasted and all(d is None for d in coasted), "skipped frames coast"
    assert any(d is not None for d, _ in fed), "the detector still runs"
    snap = pipe.stats.snapshot()
    assert snap.totals["detected"] < snap.totals["processed"]
    assert snap.totals["dropped_busy"] > 0


def test_a_frame_that_fails_is_counted_and_the_next_one_is_answered(detector, frames):
    pipe, out = make_pipeline(detector)
    try:
        submit(pipe, frames[0].astype(np.float32), "bad")  # the detector rejects it
        deadline = time.monotonic() + WAIT
        while pipe.stats.snapshot().totals["failed"] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        submit(pipe, frames[1], "good")
        out.wait_for(1)
    finally:
        pipe.stop()
    assert out.headers == ["good"]
    assert pipe.stats.snapshot().totals["failed"] == 1
    assert len(out.errors) == 1 and out.errors[0].startswith("detector failed on a frame")


def test_drawing_runs_after_the_tracks_only_while_wanted(detector, frames):
    wanted = threading.Event()
    pipe, out = make_pipeline(detector, wants_drawing=wanted.is_set)
    try:
        submit(pipe, frames[0], "a")
        out.wait_for(1)
        wanted.set()
        submit(pipe, frames[1], "b")
        out.wait_for(2)
        time.sleep(0.2)
    finally:
        pipe.stop()
    assert out.drawn == ["b"]
    assert "draw" in pipe.stats.snapshot().stage_ms_median


def test_stop_returns_while_the_detector_waits_for_a_blocked_tracker(detector, frames):
    tracker = Gated(MultiObjectTracker(), "update")
    pipe, _ = make_pipeline(detector, tracker=tracker)
    tracker.gate.clear()
    submit(pipe, frames[0], 0)
    assert tracker.entered.acquire(timeout=WAIT)
    submit(pipe, frames[1], 1)  # detected, then waits for the hand-over
    threading.Timer(0.5, tracker.gate.set).start()
    pipe.stop(timeout=WAIT)
    assert not pipe.running and pipe._threads == []


def test_a_requested_reset_runs_on_the_tracker_thread_before_the_next_frame(detector, frames):
    tracker = MultiObjectTracker(TrackerConfig(min_hits=1))
    pipe, out = make_pipeline(detector, tracker=tracker)
    ran = []
    try:
        for i in range(3):
            submit(pipe, frames[0], i)
            out.wait_for(i + 1)
        assert tracker.tracks_confirmed > 0
        pipe.request_reset(lambda: ran.append(threading.current_thread().name) or tracker.reset())
        submit(pipe, frames[4], "after")
        out.wait_for(4)
    finally:
        pipe.stop()
    assert ran == ["mot-track"]
    assert tracker.frames == 1, "the tracker was reset just before the new frame"


def test_the_slot_keeps_one_item_and_reports_what_it_replaced():
    slot = LatestSlot()
    assert slot.put(1) is None and slot.put(2) == 1
    assert slot.take(0.0) == 2 and slot.take(0.0) is None
    slot.close()
    assert slot.put_when_empty(3) is False


# --- the tracker's coast mode, which the pipeline relies on ---------------------------------


def test_coasting_moves_tracks_on_their_motion_without_dlib():
    spec = ObjectSpec("person", (40, 80), (60.0, 100.0), (4.0, 1.0))
    frames, truth = make_sequence(seed=5, num_frames=30, objects=[spec], occluders=[])
    tracker = MultiObjectTracker(TrackerConfig(min_hits=1))
    for f in range(20):
        box = np.array([truth[f][0][1]])
        tracker.update(frames[f], Detections(box, np.array([0.9]), ("person",)))
    before = tracker.dlib_updates
    for f in range(20, 23):
        (out,) = tracker.update(frames[f], None, coast=True)
        x1, y1, _, _ = truth[f][0][1]
        assert abs(out.xyxy[0] - x1) < 3.0 and abs(out.xyxy[1] - y1) < 3.0, (f, out.xyxy)
        assert out.frames_since_detection == f - 19
    assert tracker.dlib_updates == before, "coasting never runs dlib"
    tracker.update(frames[23], None)
    assert tracker.dlib_updates > before, "without coast the same frame is carried by dlib"
