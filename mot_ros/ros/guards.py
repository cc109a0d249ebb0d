"""Guarded callbacks and recent-event counts: what keeps one bad input from killing the node.

An exception that escapes an rclpy callback ends ``rclpy.spin`` and with it the node, so
every subscription, timer and service callback of the node is wrapped by :func:`guarded`:
an unexpected error is logged once per callback and exception type with its traceback
(then only counted: a driver that sends the same bad message at 30 Hz must not flood the
log), counted, and the input is dropped. The counts are kept over a recent window
(:class:`RecentEvents`) so that ``/diagnostics`` can go back to OK once the cause is gone
instead of warning forever about one bad frame an hour ago.

Plain Python (no rclpy) so it is tested without a graph.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

# Exceptions that mean "stop", not "bad input": they must reach rclpy.spin's caller.
_PASS_THROUGH: tuple[type[BaseException], ...] = (KeyboardInterrupt, SystemExit)


class RecentEvents:
    """Counts events in total and over the last ``window_sec`` seconds.

    Only event times inside the window are kept (at most ``max_kept``; beyond that the
    oldest are dropped, which can only under-count a flood that is obvious anyway), so
    memory stays bounded however long the node runs.
    """

    def __init__(
        self,
        window_sec: float = 10.0,
        max_kept: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not window_sec > 0.0:
            raise ValueError(f"window_sec must be > 0, but got {window_sec!r}")
        if max_kept < 1:
            raise ValueError(f"max_kept must be >= 1, but got {max_kept!r}")
        self.window_sec = float(window_sec)
        self.total = 0
        self._times: deque[float] = deque(maxlen=max_kept)
        self._clock = clock

    def add(self, count: int = 1) -> None:
        now = self._clock()
        self.total += count
        for _ in range(min(count, self._times.maxlen or count)):
            self._times.append(now)

    def recent(self) -> int:
        """Events within the last ``window_sec`` seconds."""
        horizon = self._clock() - self.window_sec
        while self._times and self._times[0] < horizon:
            self._times.popleft()
        return len(self._times)


class CallbackErrors:
    """Unexpected callback errors: counted per callback, each kind logged once with its trace."""

    def __init__(self, log_error: Callable[[str], None], window_sec: float = 10.0) -> None:
        self._log_error = log_error
        self.events = RecentEvents(window_sec)
        self.by_callback: dict[str, int] = {}
        self._logged: set[tuple[str, str]] = set()

    def record(self, callback: str, exc: BaseException) -> None:
        self.events.add()
        self.by_callback[callback] = self.by_callback.get(callback, 0) + 1
        kind = (callback, type(exc).__name__)
        if kind in self._logged:
            return
        self._logged.add(kind)
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self._log_error(
            f"unexpected error in {callback} (input dropped; further {kind[1]} errors there "
            f"are only counted in /diagnostics):\n{trace}"
        )


def guarded(name: str, fallback: Callable[[BaseException], Any] | None = None):
    """Decorate a node method used as an rclpy callback.

    The node must have a ``callback_errors`` attribute (:class:`CallbackErrors`). An
    exception is recorded there and the callback returns ``fallback(exc)`` (``None``
    without one): service and parameter callbacks use it to answer with a failure instead
    of no answer at all.
    """

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except _PASS_THROUGH:
                raise
            except Exception as exc:  # noqa: BLE001 - the whole point: nothing escapes
                if _is_shutdown(exc):
                    return fallback(exc) if fallback else None
                self.callback_errors.record(name, exc)
                return fallback(exc) if fallback else None

        return wrapper

    return decorate


def _is_shutdown(exc: BaseException) -> bool:
    """Publishing while SIGINT/SIGTERM shuts the context down raises an RCLError (or the
    executor's ExternalShutdownException): a normal stop, not a callback error."""
    try:
        import rclpy
        from rclpy.executors import ExternalShutdownException
        from rclpy.impl.implementation_singleton import rclpy_implementation
    except ImportError:  # pragma: no cover - the node always has rclpy
        return False
    if isinstance(exc, ExternalShutdownException):
        return True
    return isinstance(exc, rclpy_implementation.RCLError) and not rclpy.ok()
