"""What the pipeline did recently, and whether that is healthy: the content of /diagnostics.

Everything the health level looks at is computed over a sliding time window
(``window_sec``), so a level raised by a burst of late frames or a camera glitch returns to
OK once the window has passed without the cause. Cumulative counters are kept beside it for
the shutdown summary and for tools that difference them. Whole-run latency percentiles come
from a fixed 1 ms histogram (constant memory however long the node runs).

Written by hand rather than with a metrics library: the window, the histogram and the
levels are a few dozen lines, and ``diagnostic_updater`` (the ROS helper for this) is not
available outside a ROS distribution and would not remove the need for the window.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

OK, WARN, ERROR = 0, 1, 2
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}

#: Stages timed inside the node, in pipeline order: ``convert`` (message to image, in the
#: subscription callback), ``wait`` (the frame waiting for the detector thread), ``detect``,
#: ``track`` (waiting for and running the tracker), ``publish`` (building and publishing
#: ``tracks``) and ``draw`` (annotated_image, only while someone subscribes).
STAGES = ("convert", "wait", "detect", "track", "publish", "draw")


@dataclass(frozen=True)
class HealthThresholds:
    """When /diagnostics says WARN or ERROR.

    ``warn_processed_ratio``/``error_processed_ratio``: share of the frames received in the
    window that were answered on ``tracks``; ``warn_latency_ms``/``error_latency_ms``: bound
    on the window's 95th percentile of stamp-to-publish latency; ``window_sec``: how far back
    the level looks (longer is steadier, shorter recovers sooner).
    """

    window_sec: float = 5.0
    warn_processed_ratio: float = 0.9
    error_processed_ratio: float = 0.5
    warn_latency_ms: float = 50.0
    error_latency_ms: float = 200.0

    def __post_init__(self) -> None:
        if not 0.5 <= self.window_sec <= 600.0:
            raise ValueError(f"window_sec must be in [0.5, 600], but got {self.window_sec}")
        for name in ("warn_processed_ratio", "error_processed_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], but got {value}")
        if self.error_processed_ratio > self.warn_processed_ratio:
            raise ValueError(
                f"error_processed_ratio ({self.error_processed_ratio}) must not exceed "
                f"warn_processed_ratio ({self.warn_processed_ratio})"
            )
        for name in ("warn_latency_ms", "error_latency_ms"):
            value = getattr(self, name)
            if not 0.0 < value <= 60000.0:
                raise ValueError(f"{name} must be in (0, 60000], but got {value}")
        if self.error_latency_ms < self.warn_latency_ms:
            raise ValueError(
                f"error_latency_ms ({self.error_latency_ms}) must not be below "
                f"warn_latency_ms ({self.warn_latency_ms})"
            )


@dataclass(frozen=True)
class FrameRecord:
    """One answered frame. ``latency_ms`` is stamp to ``tracks`` published (None when the
    stamp is unusable: zero, or on another clock, see :func:`plausible_latency_ms`);
    ``node_ms`` is subscription callback to published;
    ``stages`` holds the ms of the :data:`STAGES` that ran."""

    latency_ms: float | None
    node_ms: float
    detected: bool
    tracks: int
    stages: dict[str, float] = field(default_factory=dict)


#: A stamp further than this from the node's clock is on another clock (a bag, a camera
#: without time synchronisation, a test's fixed stamps), not a late frame.
MAX_PLAUSIBLE_LATENCY_MS = 60_000.0


def plausible_latency_ms(stamp_ns: int | None, now_ns: int) -> float | None:
    """``now - stamp`` in ms, or None when the stamp is missing (0) or implausible: more than
    a minute old, or more than 5 ms in the future."""
    if not stamp_ns:
        return None
    ms = (now_ns - stamp_ns) / 1e6
    if not -5.0 <= ms <= MAX_PLAUSIBLE_LATENCY_MS:
        return None
    return max(ms, 0.0)


class _Histogram:
    """Latency counts in 1 ms bins up to 2 s (plus one overflow bin): constant memory."""

    def __init__(self, bins: int = 2000) -> None:
        self.counts = np.zeros(bins + 1, np.int64)
        self.max = float("nan")

    def add(self, ms: float) -> None:
        self.counts[min(max(int(ms), 0), len(self.counts) - 1)] += 1
        self.max = ms if not self.max >= ms else self.max

    def percentile(self, q: float) -> float:
        total = int(self.counts.sum())
        if total == 0:
            return float("nan")
        rank = math.ceil(q / 100.0 * total)
        index = int(np.searchsorted(np.cumsum(self.counts), max(rank, 1)))
        return float(index) + 0.5  # the bin's centre


@dataclass(frozen=True)
class Snapshot:
    """Counters since start, and the window's rates, percentiles and medians."""

    totals: dict[str, int]
    window: dict[str, int]
    window_sec: float
    input_rate_hz: float
    processed_rate_hz: float
    processed_ratio: float
    latency_ms: dict[str, float]
    run_latency_ms: dict[str, float]
    node_ms_median: float
    node_ms_detected_median: float
    stage_ms_median: dict[str, float]
    active_tracks: int
    seconds_since_input: float | None

    def key_values(self) -> list[tuple[str, str]]:
        """Flat ``(key, value)`` strings, as diagnostic_msgs/KeyValue carries them."""

        def f(v: float) -> str:
            return "nan" if v != v else f"{v:.2f}"

        out = [(f"frames_{k}", str(v)) for k, v in self.totals.items()]
        out += [(f"window_{k}", str(v)) for k, v in self.window.items()]
        out += [
            ("window_sec", f(self.window_sec)),
            ("input_rate_hz", f(self.input_rate_hz)),
            ("processed_rate_hz", f(self.processed_rate_hz)),
            ("processed_ratio", f(self.processed_ratio)),
        ]
        out += [(f"latency_ms_{k}", f(v)) for k, v in self.latency_ms.items()]
        out += [(f"run_latency_ms_{k}", f(v)) for k, v in self.run_latency_ms.items()]
        out += [
            ("node_ms_median", f(self.node_ms_median)),
            ("node_ms_detected_median", f(self.node_ms_detected_median)),
        ]
        out += [(f"{k}_ms_median", f(v)) for k, v in self.stage_ms_median.items()]
        out += [("active_tracks", str(self.active_tracks))]
        return out


_COUNTERS = ("received", "processed", "detected", "dropped_busy", "rejected_bad", "failed")


class PipelineStats:
    """Thread-safe event log of the pipeline: the subscription callback, the worker threads
    and the diagnostics timer all call it. Events older than ``window_sec`` are forgotten."""

    def __init__(self, window_sec: float = 5.0, clock: Callable[[], float] = time.monotonic):
        if not window_sec > 0:
            raise ValueError(f"window_sec must be > 0, but got {window_sec}")
        self.window_sec = float(window_sec)
        self._clock = clock
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(_COUNTERS, 0)
        self._events: dict[str, deque[float]] = {k: deque() for k in _COUNTERS}
        self._records: deque[tuple[float, FrameRecord]] = deque()
        self._run_latency = _Histogram()
        self._started = clock()
        self._first_input: float | None = None
        self._last_input: float | None = None
        self._active_tracks = 0

    def _count(self, kind: str, now: float | None) -> None:
        t = self._clock() if now is None else now
        with self._lock:
            self._totals[kind] += 1
            self._events[kind].append(t)
            if kind == "received":
                self._last_input = t
                if self._first_input is None:
                    self._first_input = t
            self._prune(t)

    def received(self, now: float | None = None) -> None:
        """A frame arrived (whatever happens to it next)."""
        self._count("received", now)

    def rejected(self, now: float | None = None) -> None:
        """A frame could not be read (bad encoding, size, data)."""
        self._count("rejected_bad", now)

    def dropped_busy(self, now: float | None = None) -> None:
        """A frame was replaced by a newer one before the pipeline could take it."""
        self._count("dropped_busy", now)

    def failed(self, now: float | None = None) -> None:
        """Processing a frame raised an error."""
        self._count("failed", now)

    def processed(self, record: FrameRecord, now: float | None = None) -> None:
        """A frame was answered on ``tracks``."""
        t = self._clock() if now is None else now
        with self._lock:
            self._totals["processed"] += 1
            self._events["processed"].append(t)
            if record.detected:
                self._totals["detected"] += 1
                self._events["detected"].append(t)
            self._records.append((t, record))
            if record.latency_ms is not None:
                self._run_latency.add(record.latency_ms)
            self._active_tracks = record.tracks
            self._prune(t)

    def _prune(self, now: float) -> None:
        horizon = now - self.window_sec
        for events in self._events.values():
            while events and events[0] < horizon:
                events.popleft()
        while self._records and self._records[0][0] < horizon:
            self._records.popleft()

    def snapshot(self, now: float | None = None) -> Snapshot:
        t = self._clock() if now is None else now
        with self._lock:
            self._prune(t)
            window = {k: len(v) for k, v in self._events.items()}
            records = [r for _, r in self._records]
            totals = dict(self._totals)
            first = self._first_input
            span = 0.0 if first is None else min(self.window_sec, t - first)
            since_input = None if self._last_input is None else t - self._last_input
            run = {q: self._run_latency.percentile(v) for q, v in (("p50", 50), ("p95", 95))}
            run["max"] = self._run_latency.max
            active = self._active_tracks
        latencies = [r.latency_ms for r in records if r.latency_ms is not None]
        latency = {
            name: _percentile(latencies, q) for name, q in (("p50", 50), ("p95", 95), ("p99", 99))
        }
        latency["max"] = max(latencies) if latencies else float("nan")
        stages = {
            s: _median([r.stages[s] for r in records if s in r.stages])
            for s in STAGES
            if any(s in r.stages for r in records)
        }
        rate = (lambda n: n / span) if span > 0 else (lambda n: float("nan"))
        received = window["received"] - window["rejected_bad"]  # the frames it could answer
        return Snapshot(
            totals=totals,
            window=window,
            window_sec=span,
            input_rate_hz=rate(received),
            processed_rate_hz=rate(window["processed"]),
            processed_ratio=min(window["processed"] / received, 1.0) if received else float("nan"),
            latency_ms=latency,
            run_latency_ms=run,
            node_ms_median=_median([r.node_ms for r in records]),
            node_ms_detected_median=_median([r.node_ms for r in records if r.detected]),
            stage_ms_median=stages,
            active_tracks=active,
            seconds_since_input=since_input,
        )


def health(snapshot: Snapshot, thresholds: HealthThresholds) -> tuple[int, str]:
    """``(level, message)`` for a snapshot: the worst of every check, every reason named."""
    if snapshot.totals["received"] == 0:
        return WARN, "no images received yet"
    if snapshot.window["received"] == 0:
        return WARN, f"no images for {snapshot.seconds_since_input or 0.0:.1f} s"
    reasons: list[tuple[int, str]] = []
    if snapshot.window["failed"]:
        reasons.append((ERROR, f"{snapshot.window['failed']} frames failed"))
    ratio = snapshot.processed_ratio
    if ratio == ratio:
        share = f"{ratio:.0%} of frames answered"
        if ratio < thresholds.error_processed_ratio:
            reasons.append((ERROR, f"{share} (< {thresholds.error_processed_ratio:.0%})"))
        elif ratio < thresholds.warn_processed_ratio:
            reasons.append((WARN, f"{share} (< {thresholds.warn_processed_ratio:.0%})"))
    p95 = snapshot.latency_ms["p95"]
    if p95 == p95:
        if p95 > thresholds.error_latency_ms:
            reasons.append(
                (ERROR, f"latency p95 {p95:.0f} ms (> {thresholds.error_latency_ms:g} ms)")
            )
        elif p95 > thresholds.warn_latency_ms:
            reasons.append(
                (WARN, f"latency p95 {p95:.0f} ms (> {thresholds.warn_latency_ms:g} ms)")
            )
    if snapshot.window["rejected_bad"]:
        reasons.append((WARN, f"{snapshot.window['rejected_bad']} bad frames rejected"))
    if not reasons:
        return OK, "tracking"
    return max(level for level, _ in reasons), "; ".join(text for _, text in reasons)


def format_summary(snapshot: Snapshot, level: int, message: str) -> str:
    """One line for the log (the shutdown summary): level, counters, rates, latency, stages."""
    t = snapshot.totals
    lat = snapshot.run_latency_ms
    stages = ", ".join(f"{k} {v:.1f}" for k, v in snapshot.stage_ms_median.items())
    return (
        f"{LEVEL_NAMES[level]} ({message}); frames received {t['received']}, processed "
        f"{t['processed']} (detector on {t['detected']}), dropped busy {t['dropped_busy']}, "
        f"rejected bad {t['rejected_bad']}, failed {t['failed']}; latency stamp->publish over "
        f"the run p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, max {lat['max']:.0f} ms; "
        f"last {snapshot.window_sec:.1f} s: input {snapshot.input_rate_hz:.1f} Hz, processed "
        f"{snapshot.processed_rate_hz:.1f} Hz, median ms: {stages or 'none'}"
    )


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")
