"""Frames in, tracks out, in real time: the node's work off the subscription callback.

Design (chosen by measurement, ``make bench``):

* **Newest frame only.** The subscription callback converts the message and drops the image
  into a one-frame slot, replacing an older one the detector thread has not taken yet
  (counted as *dropped busy*). Nothing queues, so a slow moment costs frames, not latency.
* **Both cores.** A detector thread takes the newest frame and runs the detector
  (onnxruntime and OpenCV release the GIL while they compute); a tracker thread runs the
  tracker, publishes ``tracks`` and, only while someone subscribes, draws. Detection of
  frame N+1 overlaps with tracking and publishing of frame N. The hand-over between them
  holds one frame: the detector waits rather than run ahead of a slow tracker.
* **Graceful degradation.** :class:`~mot_ros.pipeline.scheduling.DetectionScheduler` skips
  the detector on some frames while it cannot keep up; those frames are answered from the
  tracker's motion model (cheap) instead of late.

The class knows nothing about ROS: it gets callables that publish, and the node passes
whatever header object it wants back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mot_ros.pipeline.scheduling import DetectionScheduler
from mot_ros.pipeline.stats import FrameRecord, PipelineStats, plausible_latency_ms
from mot_ros.types import Detections, TrackedObject


@dataclass
class Frame:
    """One image on its way through the pipeline.

    ``header`` is handed back untouched to the publish callables; ``stamp_ns`` is the
    image's stamp on the clock ``clock_ns`` reads (None or 0: no latency is measured);
    ``received`` the monotonic time the subscription callback started.
    """

    image: np.ndarray
    header: Any
    stamp_ns: int | None
    received: float
    convert_ms: float = 0.0
    taken: float = 0.0
    detections: Detections | None = None
    detect_ms: float | None = None
    coast: bool = False
    stages: dict[str, float] = field(default_factory=dict)


class LatestSlot:
    """Holds at most one item. ``put`` replaces an item nobody took and returns it;
    ``put_when_empty`` waits until the previous item was taken (a one-place hand-over)."""

    def __init__(self) -> None:
        self._item: Any = None
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: Any) -> Any:
        with self._cond:
            old, self._item = self._item, item
            self._cond.notify_all()
            return old

    def put_when_empty(self, item: Any) -> bool:
        """False when the slot was closed before the item could be placed."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is None or self._closed)
            if self._closed:
                return False
            self._item = item
            self._cond.notify_all()
            return True

    def pending(self) -> bool:
        """An item is waiting."""
        with self._cond:
            return self._item is not None

    def take(self, timeout: float | None = None) -> Any:
        """The item (slot left empty), or None after ``timeout`` or once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


TracksCallback = Callable[[Any, list[TrackedObject]], None]
DrawCallback = Callable[[Any, np.ndarray, list[TrackedObject]], None]


class FramePipeline:
    """Detector thread -> tracker thread, fed with :meth:`submit`.

    ``detect(image) -> Detections`` is the detector (any filtering included); ``tracker``
    a :class:`~mot_ros.tracking.tracker.MultiObjectTracker`, used only from the tracker
    thread (:meth:`request_reset` asks that thread to reset it before the next frame).
    ``publish_tracks(header, tracks)`` is called for every answered frame, in frame order,
    from the tracker thread; ``draw(header, image, tracks)`` after it when ``wants_drawing()``
    is true. ``overlap=False`` runs detection and tracking on one worker thread (for
    comparison: the benchmark measured the overlap). ``on_error(text)`` receives a message
    for a frame whose processing raised; the pipeline counts it and goes on.
    """

    def __init__(
        self,
        detect: Callable[[np.ndarray], Detections],
        tracker,
        publish_tracks: TracksCallback,
        *,
        scheduler: DetectionScheduler | None = None,
        stats: PipelineStats | None = None,
        draw: DrawCallback | None = None,
        wants_drawing: Callable[[], bool] = lambda: False,
        clock_ns: Callable[[], int] = time.time_ns,
        on_error: Callable[[str], None] = lambda text: None,
        overlap: bool = True,
    ) -> None:
        self._detect_fn = detect
        self.tracker = tracker
        self._reset: Callable[[], None] | None = None
        self._reset_lock = threading.Lock()
        self.scheduler = scheduler if scheduler is not None else DetectionScheduler()
        self.stats = stats if stats is not None else PipelineStats()
        self._publish_tracks = publish_tracks
        self._draw = draw
        self._wants_drawing = wants_drawing
        self._clock_ns = clock_ns
        self._on_error = on_error
        self.overlap = overlap
        self._incoming = LatestSlot()
        self._handoff = LatestSlot()
        self._running = False
        self._threads: list[threading.Thread] = []

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._threads = [threading.Thread(target=self._detect_loop, name="mot-detect", daemon=True)]
        if self.overlap:
            self._threads.append(
                threading.Thread(target=self._track_loop, name="mot-track", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads after the frame each is working on; pending frames are dropped."""
        self._running = False
        self._incoming.close()
        self._handoff.close()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    @property
    def running(self) -> bool:
        return self._running

    # -- input ----------------------------------------------------------------------------

    def request_reset(self, reset: Callable[[], None]) -> None:
        """Run ``reset()`` on the tracker thread before it tracks the next frame (the tracker
        is not thread-safe; the subscription callback notices a new stream, this thread
        owns the tracker)."""
        with self._reset_lock:
            self._reset = reset

    def submit(
        self,
        image: np.ndarray,
        header: Any,
        stamp_ns: int | None,
        received: float,
        convert_ms: float = 0.0,
    ) -> None:
        """Hand over a converted frame; never blocks. Counts it as received (and the frame
        it replaces, if any, as dropped busy)."""
        self.stats.received(received)
        self.scheduler.note_arrival(received)
        frame = Frame(image, header, stamp_ns, received, convert_ms)
        if self._incoming.put(frame) is not None:
            self.stats.dropped_busy()

    # -- the threads ------------------------------------------------------------------------

    def _detect_loop(self) -> None:
        while self._running:
            frame = self._incoming.take(timeout=0.2)
            if frame is None:
                continue
            frame.taken = time.monotonic()
            try:
                self._detect(frame)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the node
                self._fail(frame, "detector", exc)
                continue
            if self.overlap:
                if not self._handoff.put_when_empty(frame):
                    return
            else:
                self._track(frame)

    def _track_loop(self) -> None:
        while self._running:
            frame = self._handoff.take(timeout=0.2)
            if frame is not None:
                self._track(frame)

    def _detect(self, frame: Frame) -> None:
        frame.stages["convert"] = frame.convert_ms
        if self.scheduler.should_detect():
            t0 = time.perf_counter()
            frame.detections = self._detect_fn(frame.image)
            seconds = time.perf_counter() - t0
            self.scheduler.note_detection(seconds, backlog=self._incoming.pending())
            frame.detect_ms = seconds * 1000.0
            frame.stages["detect"] = frame.detect_ms
        else:
            # adapted above the configured interval: answer from the motion model
            frame.coast = self.scheduler.interval > self.scheduler.base_interval

    def _track(self, frame: Frame) -> None:
        try:
            start = time.monotonic()
            wait = (frame.taken - frame.received) * 1000.0 - frame.convert_ms
            handoff = start - frame.taken - (frame.detect_ms or 0.0) / 1000.0
            frame.stages["wait"] = max(wait, 0.0) + max(handoff * 1000.0, 0.0)
            with self._reset_lock:
                reset, self._reset = self._reset, None
            if reset is not None:
                reset()
            t0 = time.perf_counter()
            tracks = self.tracker.update(frame.image, frame.detections, coast=frame.coast)
            t1 = time.perf_counter()
            self._publish_tracks(frame.header, tracks)
            t2 = time.perf_counter()
        except Exception as exc:  # noqa: BLE001 - one bad frame must not stop the node
            self._fail(frame, "tracker", exc)
            return
        done = time.monotonic()
        frame.stages["track"] = (t1 - t0) * 1000.0
        frame.stages["publish"] = (t2 - t1) * 1000.0
        latency = plausible_latency_ms(frame.stamp_ns, self._clock_ns())
        drawing = self._draw is not None and self._wants_drawing()
        if drawing:
            try:
                t3 = time.perf_counter()
                self._draw(frame.header, frame.image, tracks)
                frame.stages["draw"] = (time.perf_counter() - t3) * 1000.0
            except Exception as exc:  # noqa: BLE001 - drawing must not cost the tracks
                self._on_error(f"drawing failed: {type(exc).__name__}: {exc}")
        self.stats.processed(
            FrameRecord(
                latency_ms=latency,
                node_ms=(done - frame.received) * 1000.0,
                detected=frame.detections is not None,
                tracks=len(tracks),
                stages=frame.stages,
            ),
            now=done,
        )

    def _fail(self, frame: Frame, stage: str, exc: Exception) -> None:
        self.stats.failed()
        self._on_error(f"{stage} failed on a frame: {type(exc).__name__}: {exc}")
