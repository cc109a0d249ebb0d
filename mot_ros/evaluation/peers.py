"""Other projects' trackers, run on the same detections as mot_ros, for comparison.

Peers: the ``trackers`` package (Roboflow, Apache-2.0: SORT, ByteTrack, OC-SORT, BoT-SORT)
and ``supervision`` 0.30.9's ``ByteTrack`` (the last release that has it). They are
optional evaluation dependencies (``requirements/peers.txt``); :func:`available_peers`
lists the ones that import. Every peer runs with its library defaults except the frame
rate, which comes from the sequence (their lost-track buffers are scaled by it). Those
defaults start tracks only from detections scored >= 0.6-0.7 (ByteTrack, BoT-SORT), which
suits their YOLOX detectors; on other detectors the score scale differs, so the figures
say as much about the detector's scores as about the tracker.

BoT-SORT runs without camera-motion compensation here: in tracking-only evaluation there
are no images to estimate it from.

Only this module imports the peers, and only inside the factories.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from mot_ros.types import Detections, TrackedObject

#: Peer name -> factory(frame_rate) returning a ``step(Detections) -> list[TrackedObject]``.
Step = Callable[[Detections], list[TrackedObject]]


def _to_sv(detections: Detections):
    import supervision as sv

    return sv.Detections(
        xyxy=detections.xyxy.astype(np.float32).reshape(-1, 4),
        confidence=detections.scores.astype(np.float32),
        class_id=np.zeros(len(detections), dtype=int),
    )


def _from_sv(result) -> list[TrackedObject]:
    out = []
    ids = result.tracker_id if result.tracker_id is not None else []
    for box, tid, score in zip(
        result.xyxy,
        ids,
        result.confidence if result.confidence is not None else [1.0] * len(ids),
        strict=False,
    ):
        if tid is None or int(tid) < 0:
            continue  # unconfirmed
        x1, y1, x2, y2 = (float(v) for v in box)
        if x2 > x1 and y2 > y1:
            out.append(TrackedObject(int(tid) + 1, (x1, y1, x2, y2), float(score), "person"))
    return out


def _trackers_peer(name: str, **kwargs) -> Callable[[float], Step]:
    def factory(frame_rate: float) -> Step:
        import trackers

        tracker = getattr(trackers, name)(frame_rate=frame_rate, **kwargs)

        def step(detections: Detections) -> list[TrackedObject]:
            return _from_sv(tracker.update(_to_sv(detections)))

        return step

    return factory


def _supervision_bytetrack(frame_rate: float) -> Step:
    import supervision as sv

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated since 0.28, kept in 0.30
        tracker = sv.ByteTrack(frame_rate=int(round(frame_rate)))

    def step(detections: Detections) -> list[TrackedObject]:
        return _from_sv(tracker.update_with_detections(_to_sv(detections)))

    return step


PEERS: dict[str, Callable[[float], Step]] = {
    "trackers-sort": _trackers_peer("SORTTracker"),
    "trackers-bytetrack": _trackers_peer("ByteTrackTracker"),
    "trackers-ocsort": _trackers_peer("OCSORTTracker"),
    "trackers-botsort": _trackers_peer("BoTSORTTracker", enable_cmc=False),
    "supervision-bytetrack": _supervision_bytetrack,
}


def available_peers() -> dict[str, str | None]:
    """Peer name -> None if it can run here, else why not (the import error)."""
    status: dict[str, str | None] = {}
    for package, names in (
        ("trackers", [n for n in PEERS if n.startswith("trackers-")]),
        ("supervision", ["supervision-bytetrack"]),
    ):
        try:
            __import__(package)
            reason = None
        except ImportError as exc:  # an optional evaluation dependency
            reason = f"{package} not importable: {exc}"
        for n in names:
            status[n] = reason
    return status
