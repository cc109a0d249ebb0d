"""When to run the detector: every ``base_interval``-th frame, more rarely while it cannot
keep up with the camera.

The measured cost decides. With an exponential average ``d`` of the detector's wall time
(which includes whatever else competes for the cores) and ``p`` of the input period, the
interval is the smallest ``k`` with ``d <= budget * k * p``: the detector thread then has
``1 - budget`` of slack per detected frame, so frames do not pile up behind it and latency
stays near one detector run instead of growing. Frames in between are answered from the
tracker's motion model, which costs well under a millisecond (dlib would cost ~4 ms per
tracked object, more than the detection it replaces). The interval only goes up when a
newer frame was already waiting when the detector finished (a *backlog*): a sender that
waits for each answer (lockstep) makes every period look as long as the node's own time,
and must not be mistaken for a camera the node cannot keep up with. It comes back down
only when the detector would fit with a margin (``relax``), so it does not flap at the edge.
"""

from __future__ import annotations

import math


class DetectionScheduler:
    """Decides frame by frame whether the detector runs (not thread-safe: one caller).

    ``base_interval``: the configured interval (1: every frame while the node keeps up).
    ``max_interval``: the most frames per detector run when behind; equal to
    ``base_interval`` turns adaptation off. ``budget``: share of the detector thread's time
    the detector may fill. ``smoothing``: weight of a new sample in the averages.
    """

    def __init__(
        self,
        base_interval: int = 1,
        max_interval: int = 4,
        budget: float = 0.8,
        relax: float = 0.75,
        smoothing: float = 0.2,
    ) -> None:
        if not 1 <= base_interval <= 100:
            raise ValueError(f"base_interval must be in [1, 100], but got {base_interval}")
        if not base_interval <= max_interval <= 100:
            raise ValueError(
                f"max_interval must be in [base_interval={base_interval}, 100], "
                f"but got {max_interval}"
            )
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"budget must be in (0, 1], but got {budget}")
        if not 0.0 < relax < 1.0:
            raise ValueError(f"relax must be in (0, 1), but got {relax}")
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], but got {smoothing}")
        self.base_interval = base_interval
        self.max_interval = max_interval
        self.budget = budget
        self.relax = relax
        self.smoothing = smoothing
        self.interval = base_interval
        self.detect_s: float | None = None
        self.period_s: float | None = None
        self._last_arrival: float | None = None
        self._since_detection: int | None = None  # None: nothing detected yet

    def configure(self, base_interval: int, max_interval: int) -> None:
        """New intervals at run time (parameters changed); keeps the measurements."""
        if not 1 <= base_interval <= max_interval <= 100:
            raise ValueError(
                f"need 1 <= base_interval <= max_interval <= 100, got {base_interval}, "
                f"{max_interval}"
            )
        self.base_interval, self.max_interval = base_interval, max_interval
        self.interval = min(max(self.interval, base_interval), max_interval)

    def _average(self, old: float | None, new: float) -> float:
        return new if old is None else old + self.smoothing * (new - old)

    def note_arrival(self, t: float) -> None:
        """A frame arrived at monotonic time ``t`` (every frame, dropped ones too)."""
        if self._last_arrival is not None and t > self._last_arrival:
            # a gap (camera paused) must not read as a slow camera for long: clamp it
            gap = min(t - self._last_arrival, 1.0)
            self.period_s = self._average(self.period_s, gap)
        self._last_arrival = t

    def note_detection(self, seconds: float, backlog: bool = True) -> None:
        """The detector took ``seconds`` (wall time) on one frame; ``backlog``: a newer frame
        was already waiting when it finished."""
        self.detect_s = self._average(self.detect_s, max(seconds, 0.0))
        self._adapt(backlog)

    def _adapt(self, backlog: bool) -> None:
        if self.detect_s is None or not self.period_s:
            return
        frames = self.budget * self.period_s
        needed = max(self.base_interval, min(self.max_interval, math.ceil(self.detect_s / frames)))
        if needed > self.interval and backlog:
            self.interval = needed
        elif needed < self.interval and self.detect_s <= self.relax * (self.interval - 1) * frames:
            self.interval -= 1

    def should_detect(self) -> bool:
        """For the next frame taken: run the detector on it? (Counts the frame.)"""
        if self._since_detection is None or self._since_detection + 1 >= self.interval:
            self._since_detection = 0
            return True
        self._since_detection += 1
        return False
