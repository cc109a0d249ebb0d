"""Reading and writing MOTChallenge text files (tracks, ground truth, detections).

The MOTChallenge benchmarks (MOT15/16/17/20) store everything as comma-separated text,
one box per line, frames numbered from 1:

* tracker results: ``frame,id,left,top,width,height,score,-1,-1,-1``
* ground truth (MOT16/17 ``gt.txt``): ``frame,id,left,top,width,height,consider,class,visibility``
* public detections (``det.txt``): ``frame,-1,left,top,width,height,score,...``

Coordinates: MOTChallenge boxes are 1-based (the top-left pixel of an image is (1, 1),
a Matlab heritage), mot_ros boxes are 0-based pixel coordinates. The conversions that cross
that boundary -- :func:`read_detections` (file -> tracker input) and :func:`tracks_to_rows`
(tracker output -> file) -- shift by one pixel, so detections read from a ``det.txt``,
tracked and written back land exactly where the file had them, and boxes from our own
detector land where the benchmark's ground truth expects them. Rows read by
:func:`read_tracks` and :func:`read_ground_truth` stay in file coordinates: they are only
ever compared with each other.

Readers are strict on purpose: a malformed row raises :class:`MotFormatError` naming
``file:line`` and the offending text, because a silently skipped or misparsed row would
show up much later as an unexplained change in MOTA.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from mot_ros.types import Detections, TrackedObject

#: Added to 0-based mot_ros coordinates to get MOTChallenge (1-based) coordinates.
MOT_COORDINATE_OFFSET = 1.0

PathLike = str | os.PathLike[str]


class MotFormatError(ValueError):
    """A row of a MOTChallenge file could not be parsed; the message starts with ``file:line``."""


@dataclass(frozen=True, slots=True)
class TrackRow:
    """One line of a tracker-results file, in file (1-based) coordinates."""

    frame: int
    track_id: int
    left: float
    top: float
    width: float
    height: float
    score: float = 1.0

    @property
    def ltwh(self) -> tuple[float, float, float, float]:
        return (self.left, self.top, self.width, self.height)


@dataclass(frozen=True, slots=True)
class GroundTruthRow:
    """One line of a MOT16/17 ``gt.txt``, in file (1-based) coordinates.

    ``consider`` is the benchmark's 7th column: ``False`` marks an ignore region (a person
    too occluded, a reflection, a vehicle ...) that neither rewards nor punishes a tracker.
    ``class_id`` is ``-1`` when the file has no class column (MOT15 style, synthetic data);
    ``visibility`` is ``-1.0`` when unknown.
    """

    frame: int
    object_id: int
    left: float
    top: float
    width: float
    height: float
    consider: bool = True
    class_id: int = -1
    visibility: float = -1.0

    @property
    def ltwh(self) -> tuple[float, float, float, float]:
        return (self.left, self.top, self.width, self.height)


# --------------------------------------------------------------------------- parsing helpers


@contextmanager
def _open_text(path_or_file: PathLike | IO[str], mode: str) -> Iterator[tuple[IO[str], str]]:
    """Yield ``(file, name for messages)``; a file object passed in is used and left open."""
    if isinstance(path_or_file, str | os.PathLike):
        path = Path(path_or_file)
        if mode == "r" and not path.is_file():
            raise FileNotFoundError(f"MOT file not found: {path}")
        with open(path, mode, encoding="utf-8", newline="") as f:
            yield f, str(path)
    else:
        yield path_or_file, str(getattr(path_or_file, "name", "<stream>"))


class _Line:
    """The fields of one data line plus where it came from, for error messages."""

    def __init__(self, name: str, lineno: int, text: str) -> None:
        self.name = name
        self.lineno = lineno
        self.text = text
        self.fields = [f.strip() for f in text.split(",")]

    def error(self, problem: str) -> MotFormatError:
        return MotFormatError(f"{self.name}:{self.lineno}: {problem}; line was {self.text!r}")

    def number(self, index: int, what: str) -> float:
        try:
            value = float(self.fields[index])
        except ValueError:
            raise self.error(
                f"column {index + 1} ({what}) must be a number, got {self.fields[index]!r}"
            ) from None
        if not np.isfinite(value):
            raise self.error(f"column {index + 1} ({what}) must be finite, got {value}")
        return value

    def integer(self, index: int, what: str) -> int:
        value = self.number(index, what)
        if value != int(value):
            raise self.error(f"column {index + 1} ({what}) must be a whole number, got {value}")
        return int(value)

    def box(self) -> tuple[float, float, float, float]:
        left = self.number(2, "left")
        top = self.number(3, "top")
        width = self.number(4, "width")
        height = self.number(5, "height")
        if width <= 0 or height <= 0:
            raise self.error(f"width and height must be > 0, got {width} x {height}")
        return left, top, width, height

    def frame(self) -> int:
        frame = self.integer(0, "frame")
        if frame < 1:
            raise self.error(f"frame numbers start at 1, got {frame}")
        return frame


def _lines(path: PathLike | IO[str], min_columns: int, layout: str) -> Iterator[_Line]:
    """Non-blank lines with at least ``min_columns`` comma-separated fields."""
    with _open_text(path, "r") as (f, name):
        for lineno, raw in enumerate(f, start=1):
            text = raw.strip()
            if not text:
                continue
            line = _Line(name, lineno, text)
            if len(line.fields) < min_columns:
                raise line.error(
                    f"expected at least {min_columns} comma-separated columns ({layout}), "
                    f"got {len(line.fields)}"
                )
            yield line


def _group_checked(rows: Iterable[tuple[_Line, int, int, object]], what: str) -> dict[int, list]:
    """Group rows by frame, rejecting an id that appears twice in one frame."""
    grouped: dict[int, list] = {}
    seen: dict[tuple[int, int], int] = {}
    for line, frame, ident, row in rows:
        key = (frame, ident)
        if key in seen:
            raise line.error(
                f"{what} {ident} appears twice in frame {frame} (first on line {seen[key]})"
            )
        seen[key] = line.lineno
        grouped.setdefault(frame, []).append(row)
    return dict(sorted(grouped.items()))


# --------------------------------------------------------------------------- readers

_TRACK_LAYOUT = "frame,id,left,top,width,height[,score,...]"
_GT_LAYOUT = "frame,id,left,top,width,height[,consider,class,visibility]"
_DET_LAYOUT = "frame,-1,left,top,width,height,score[,...]"


def read_tracks(path: PathLike | IO[str]) -> dict[int, list[TrackRow]]:
    """Tracker results by frame (file coordinates), sorted by frame.

    A missing score column reads as 1.0. A track id appearing twice in one frame is an
    error (the benchmark rejects such files too).
    """

    def parse() -> Iterator[tuple[_Line, int, int, TrackRow]]:
        for line in _lines(path, 6, _TRACK_LAYOUT):
            frame = line.frame()
            track_id = line.integer(1, "id")
            score = line.number(6, "score") if len(line.fields) > 6 else 1.0
            yield line, frame, track_id, TrackRow(frame, track_id, *line.box(), score)

    return _group_checked(parse(), "track id")


def read_ground_truth(path: PathLike | IO[str]) -> dict[int, list[GroundTruthRow]]:
    """Ground truth by frame (file coordinates), sorted by frame.

    Missing columns take the MOT15 meaning: consider = 1, class = -1 (unknown),
    visibility = -1 (unknown). ``consider`` must be 0 or 1. MOT15 files have ten columns
    whose last three are world coordinates (``x, y, z``), not class and visibility: a row of
    ten columns with a non-integer 8th one is read that way.
    """

    def parse() -> Iterator[tuple[_Line, int, int, GroundTruthRow]]:
        for line in _lines(path, 6, _GT_LAYOUT):
            frame = line.frame()
            object_id = line.integer(1, "id")
            consider = True
            if len(line.fields) > 6:
                flag = line.integer(6, "consider")
                if flag not in (0, 1):
                    raise line.error(f"column 7 (consider) must be 0 or 1, got {flag}")
                consider = bool(flag)
            if _is_mot15_world_row(line.fields):
                class_id, visibility = -1, -1.0
            else:
                class_id = line.integer(7, "class") if len(line.fields) > 7 else -1
                visibility = line.number(8, "visibility") if len(line.fields) > 8 else -1.0
            row = GroundTruthRow(frame, object_id, *line.box(), consider, class_id, visibility)
            yield line, frame, object_id, row

    return _group_checked(parse(), "object id")


def _is_mot15_world_row(fields: list[str]) -> bool:
    if len(fields) != 10:
        return False
    try:
        return not float(fields[7]).is_integer()
    except ValueError:
        return False


def read_detections(
    path: PathLike | IO[str],
    *,
    class_name: str = "person",
    min_score: float | None = None,
    clip_scores: bool = False,
) -> dict[int, Detections]:
    """Public detections (``det.txt``) by frame, as tracker input in 0-based image coordinates.

    ``min_score`` drops rows below that raw score (applied before clipping). Scores must lie
    in ``[0, 1]`` like :class:`~mot_ros.types.Detections` requires; detectors with unbounded
    scores (MOT17's DPM set goes below 0 and above 1) need ``clip_scores=True``, which
    clamps them -- the ranking inside [0, 1] survives, the rest saturates. Frames without
    rows are absent from the result: callers should use ``Detections.empty()`` for them.
    """
    per_frame: dict[int, tuple[list, list]] = {}
    for line in _lines(path, 7, _DET_LAYOUT):
        frame = line.frame()
        left, top, width, height = line.box()
        score = line.number(6, "score")
        if min_score is not None and score < min_score:
            continue
        if clip_scores:
            score = min(max(score, 0.0), 1.0)
        elif not 0.0 <= score <= 1.0:
            raise line.error(
                f"column 7 (score) must be in [0, 1], got {score}; "
                "pass clip_scores=True for detectors with unbounded scores"
            )
        x1 = left - MOT_COORDINATE_OFFSET
        y1 = top - MOT_COORDINATE_OFFSET
        boxes, scores = per_frame.setdefault(frame, ([], []))
        boxes.append((x1, y1, x1 + width, y1 + height))
        scores.append(score)
    return {
        frame: Detections(np.asarray(b, float), np.asarray(s, float), (class_name,) * len(s))
        for frame, (b, s) in sorted(per_frame.items())
    }


# --------------------------------------------------------------------------- writers


def _write(path_or_file: PathLike | IO[str], lines: Iterable[str]) -> int:
    count = 0
    with _open_text(path_or_file, "w") as (f, _):
        for text in lines:
            f.write(text + "\n")
            count += 1
    return count


def _fmt(value: float) -> str:
    """Two decimals are sub-pixel; trailing zeros are dropped to keep files small."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def write_tracks(path_or_file: PathLike | IO[str], rows: Iterable[TrackRow]) -> int:
    """Write tracker results in the 10-column MOTChallenge layout; returns the row count.

    A path is created/overwritten; an open text file is written to and left open, so a
    caller can stream results frame by frame.
    """
    return _write(
        path_or_file,
        (
            f"{r.frame},{r.track_id},{_fmt(r.left)},{_fmt(r.top)},{_fmt(r.width)},"
            f"{_fmt(r.height)},{r.score:.4g},-1,-1,-1"
            for r in rows
        ),
    )


def write_ground_truth(path_or_file: PathLike | IO[str], rows: Iterable[GroundTruthRow]) -> int:
    """Write ground truth in the 9-column MOT16/17 layout; returns the row count."""
    return _write(
        path_or_file,
        (
            f"{r.frame},{r.object_id},{_fmt(r.left)},{_fmt(r.top)},{_fmt(r.width)},"
            f"{_fmt(r.height)},{int(r.consider)},{r.class_id},{r.visibility:.4g}"
            for r in rows
        ),
    )


def write_detections(path_or_file: PathLike | IO[str], detections: Mapping[int, Detections]) -> int:
    """Write detections (0-based image coordinates) as a 1-based ``det.txt``; returns rows."""

    def lines() -> Iterator[str]:
        for frame in sorted(detections):
            _check_frame(frame)
            dets = detections[frame]
            for (x1, y1, x2, y2), score in zip(dets.xyxy, dets.scores, strict=True):
                yield (
                    f"{frame},-1,{_fmt(x1 + MOT_COORDINATE_OFFSET)},"
                    f"{_fmt(y1 + MOT_COORDINATE_OFFSET)},{_fmt(x2 - x1)},{_fmt(y2 - y1)},"
                    f"{score:.4g},-1,-1,-1"
                )

    return _write(path_or_file, lines())


# --------------------------------------------------------------------------- conversions


def _check_frame(frame: int) -> None:
    if frame < 1:
        raise ValueError(f"frame must be >= 1 (MOTChallenge frames are 1-based), got {frame}")


def tracks_to_rows(frame: int, objects: Sequence[TrackedObject]) -> list[TrackRow]:
    """Tracker output of one frame (0-based pixels) as file rows (1-based)."""
    _check_frame(frame)
    rows = []
    for obj in objects:
        x1, y1, x2, y2 = obj.xyxy
        rows.append(
            TrackRow(
                frame,
                obj.track_id,
                x1 + MOT_COORDINATE_OFFSET,
                y1 + MOT_COORDINATE_OFFSET,
                x2 - x1,
                y2 - y1,
                obj.score,
            )
        )
    return rows


def boxes_to_ground_truth(
    frame: int,
    boxes: Iterable[tuple[int, tuple[float, float, float, float]]],
    *,
    consider: Callable[[int], bool] | None = None,
) -> list[GroundTruthRow]:
    """``(object_id, xyxy)`` pairs of one frame (0-based pixels) as ground-truth rows.

    Meant for synthetic or hand-labelled truth; ``consider(object_id)`` may mark some
    objects as ignore regions.
    """
    _check_frame(frame)
    rows = []
    for object_id, (x1, y1, x2, y2) in boxes:
        if not (x2 > x1 and y2 > y1):
            raise ValueError(
                f"object {object_id} in frame {frame} has an empty box {(x1, y1, x2, y2)}"
            )
        rows.append(
            GroundTruthRow(
                frame,
                int(object_id),
                x1 + MOT_COORDINATE_OFFSET,
                y1 + MOT_COORDINATE_OFFSET,
                x2 - x1,
                y2 - y1,
                consider=True if consider is None else bool(consider(object_id)),
            )
        )
    return rows


def format_tracks(rows: Iterable[TrackRow]) -> str:
    """The text :func:`write_tracks` would write, for tests and logging."""
    buf = io.StringIO()
    write_tracks(buf, rows)
    return buf.getvalue()
