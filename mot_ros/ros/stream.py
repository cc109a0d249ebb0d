"""Detects when an input stream stops being the same stream.

Tracks are boxes in one camera's pixels at one moment. When the resolution changes (a
camera reconfigured, another bag), the ``frame_id`` changes (another camera on the same
topic) or the stamp jumps backwards (a bag looping, a driver restarted with another clock),
the old tracks describe nothing in the new images: carried over they keep boxes in the old
coordinates and hand their ids to whatever object is nearest. The node resets its tracker
on such a change (ids continue, never reused) and logs it once.

Plain Python, so it is tested without a graph.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StreamWatch:
    """Remembers the last message's resolution, ``frame_id`` and stamp of one input stream.

    ``check`` returns why the new message starts a different stream, or None. A stamp equal
    to the last one is not a jump (a driver that republishes, or an image and detections
    of one frame). Resolution is ``None`` for inputs without pixels (detections).
    """

    name: str
    _size: tuple[int, int] | None = None
    _frame_id: str | None = None
    _stamp_ns: int | None = None

    def check(self, size: tuple[int, int] | None, frame_id: str, stamp_ns: int) -> str | None:
        reason = None
        if size is not None and self._size is not None and size != self._size:
            reason = (
                f"{self.name} resolution changed from {self._size[0]}x{self._size[1]} "
                f"to {size[0]}x{size[1]}"
            )
        elif self._frame_id is not None and frame_id != self._frame_id:
            reason = f"{self.name} frame_id changed from '{self._frame_id}' to '{frame_id}'"
        elif self._stamp_ns is not None and stamp_ns < self._stamp_ns:
            back = (self._stamp_ns - stamp_ns) / 1e9
            reason = f"{self.name} stamp jumped backwards by {back:.3f} s"
        if size is not None:
            self._size = size
        self._frame_id = frame_id
        self._stamp_ns = stamp_ns
        return reason

    def forget(self) -> None:
        self._size = self._frame_id = self._stamp_ns = None


def stamp_ns(stamp) -> int:
    """A ``builtin_interfaces/Time`` as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
