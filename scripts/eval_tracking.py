#!/usr/bin/env python3
"""Compare mot_ros's tracker with simpler baselines on the same detections, with MOT metrics.

    scripts/eval_tracking.py                 # synthetic sequences, exact truth (~1 min)
    scripts/eval_tracking.py --vtest 300     # sample video, real detector, no truth
    scripts/eval_tracking.py --vtest --gt PETS09-S2L1/gt/gt.txt   # ... scored (~75 s)

Synthetic mode renders sequences with known truth (:mod:`synthetic` in ``test/``: the
regression scenes crossing, occlusion and enter_leave, plus a pedestrian crowd, once more
with a static false positive that the detector reports on a third of the frames), simulates
one realistic detector output per sequence (about 20 % misses in bursts of 1-5 frames,
jitter, random false positives) and feeds the very same detections to every method, with
the detector running on every frame and on every n-th frame (``--intervals``):

* ``detections``: the raw detector output scored as if it were tracks, each box with an id
  of its own, on the frames where the detector ran. Only FP, FN, recall and precision mean
  something; it is the reference a tracker has to beat.
* ``sort``: SORT (Bewley et al. 2016) as mot_ros can express it: motion model only, a
  track missed by the detector is no longer reported and is deleted after one missed
  detector run (SORT's ``max_age=1``), one IoU gate of 0.3, ``min_hits=3``.
* ``no-dlib``: ``scripts/track_video.py --no-dlib``: like ``sort``, but a missed track stays
  alive (unreported) for ``max_lost_frames`` and can be re-identified.
* ``kalman-coast``: missed tracks keep being reported on the motion model alone for up to
  ``max_missed_detections`` detector runs (the defaults, without dlib).
* ``dlib-naive``: keep every unmatched track alive with the correlation tracker until it is
  deleted: no PSR gate, ``max_missed_detections`` as long as ``max_lost_frames``. (The
  tracker's built-in occlusion gates cannot be switched off, so this is kinder than a truly
  naive dlib tracker.)
* ``defaults``: ``TrackerConfig()``.

A total row scores all sequences as one (frames and ids offset), so its IDF1 is exact.

``--vtest N`` runs the default detector once on the first N frames of the sample video and
then the trackers on those detections. Without ground truth it reports what can be counted:
ids started and confirmed, how long a published id lasts, the fraction of the detector's
boxes (on every frame, also those the tracker did not get at a detection interval above 1)
that a published track covers at IoU >= 0.5, and the published boxes that cover no
detection (either a wrong box or a person the detector missed there: an upper bound on
false positives). The sample video is the PETS 2009 S2.L1 sequence that MOTChallenge
published as ``2DMOT2015/train/PETS09-S2L1`` (same 795 frames): with its ``gt.txt``
(``--gt``; not shipped, MOTChallenge's licence is CC BY-NC-SA 3.0) every method is also
scored with the MOT metrics, the raw detections included.

The synthetic mode needs a source checkout (it imports the scenes from ``test/``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# scripts/ lives in the source checkout: its mot_ros, not an installed copy, is the one to run
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))  # the synthetic scene renderer lives with the tests

import numpy as np  # noqa: E402

from mot_ros.evaluation.metrics import MotMetrics, evaluate, iou_ltwh  # noqa: E402
from mot_ros.evaluation.mot_io import (  # noqa: E402
    GroundTruthRow,
    TrackRow,
    boxes_to_ground_truth,
    tracks_to_rows,
)
from mot_ros.tracking.tracker import TrackerConfig  # noqa: E402
from mot_ros.types import Detections, TrackedObject  # noqa: E402

#: Visibility at which an object is scored; less visible ones are ignore regions (as in
#: test_tracking_regression.py).
SCORED_VISIBILITY = 0.5
#: Keeps the ids of different sequences apart when all are scored as one.
_ID_OFFSET = 1_000_000


# --------------------------------------------------------------------------- sequences


@dataclass(frozen=True)
class SyntheticCase:
    """A scene and the detector simulated on it (see ``simulate_detection_stream``)."""

    objects: list
    occluders: list = field(default_factory=list)
    size: tuple[int, int] = (640, 480)
    seed: int = 1
    num_frames: int = 120
    miss_rate: float = 0.2
    max_burst: int = 5
    jitter: float = 0.05
    false_positives: float = 0.05
    clutter: tuple = ()


def synthetic_cases() -> dict[str, SyntheticCase]:
    """The regression scenes with the bursty detector, plus a pedestrian crowd."""
    from synthetic import crowd_scenario
    from test_tracking_regression import CASES

    cases = {
        name: SyntheticCase(c.objects, c.occluders, seed=c.seed, num_frames=c.num_frames)
        for name, c in CASES.items()
    }
    cases["crowd"] = SyntheticCase(
        crowd_scenario(seed=7, num_frames=150), size=(768, 576), seed=7, num_frames=150
    )
    # The crowd again, with a patch of background that the detector takes for a person on
    # a third of the frames: a false positive that min_hits does not filter.
    cases["crowd_clutter"] = replace(
        cases["crowd"], seed=8, clutter=(((600.0, 60.0, 632.0, 130.0), 0.35),)
    )
    return cases


@dataclass
class RenderedCase:
    frames: list[np.ndarray]
    gt: dict[int, list[GroundTruthRow]]
    stream: list[Detections]  # detector output on every frame (index 0 = frame 1)


def render(case: SyntheticCase) -> RenderedCase:
    from synthetic import make_sequence, simulate_detection_stream

    kwargs = dict(objects=case.objects, occluders=case.occluders, size=case.size)
    frames, scored = make_sequence(
        case.seed, case.num_frames, min_visibility=SCORED_VISIBILITY, **kwargs
    )
    _, visible = make_sequence(case.seed, case.num_frames, min_visibility=1e-6, **kwargs)
    gt: dict[int, list[GroundTruthRow]] = {}
    for index, (truth, truth_visible) in enumerate(zip(scored, visible, strict=True)):
        scored_ids = {object_id for object_id, _, _ in truth}
        gt[index + 1] = boxes_to_ground_truth(
            index + 1,
            [(object_id, box) for object_id, box, _ in truth_visible],
            consider=scored_ids.__contains__,
        )
    stream = simulate_detection_stream(
        scored,
        np.random.default_rng(case.seed),
        case.miss_rate,
        case.max_burst,
        case.jitter,
        case.false_positives,
        case.size,
        case.clutter,
    )
    return RenderedCase(frames, gt, stream)


# --------------------------------------------------------------------------- methods

#: The baselines match on IoU alone, as SORT and naive dlib coasting do.
IOU_ONLY = {"appearance_weight": 0.0, "appearance_gate": 1.0, "appearance_reid_distance": 0.0}

#: Method name -> tracker config for a detection interval (None: the raw detections).
METHODS: dict[str, Callable[[int], TrackerConfig | None]] = {
    "detections": lambda interval: None,
    # SORT's max_age=1 counted in detector runs: a track survives one missed run.
    "sort": lambda interval: TrackerConfig(
        use_correlation_tracker=False,
        max_missed_detections=0,
        max_lost_frames=2 * interval - 1,
        reid_iou_threshold=0.3,
        **IOU_ONLY,
    ),
    "no-dlib": lambda interval: TrackerConfig(
        use_correlation_tracker=False, max_missed_detections=0, **IOU_ONLY
    ),
    "kalman-coast": lambda interval: TrackerConfig(use_correlation_tracker=False, **IOU_ONLY),
    "dlib-naive": lambda interval: TrackerConfig(
        psr_threshold=0.0, max_missed_detections=TrackerConfig.max_lost_frames, **IOU_ONLY
    ),
    "defaults": lambda interval: TrackerConfig(),
    # one behaviour changed each: what compensation and evidence-only publishing cost
    "no-gmc": lambda interval: TrackerConfig(camera_motion_compensation=False),
    "coast-3": lambda interval: TrackerConfig(publish_coasting_frames=3),
}


def run_tracker(
    frames: list[np.ndarray],
    stream: list[Detections],
    interval: int,
    config: TrackerConfig,
) -> tuple[dict[int, list[TrackedObject]], object, list[float]]:
    """Track ``frames`` with the detector output of every ``interval``-th frame.

    Returns the published objects by 1-based frame, the tracker and ms per frame.
    """
    from mot_ros.tracking.tracker import MultiObjectTracker

    tracker = MultiObjectTracker(config)
    out: dict[int, list[TrackedObject]] = {}
    ms: list[float] = []
    for index, frame in enumerate(frames):
        detections = stream[index] if index % interval == 0 else None
        start = time.perf_counter()
        out[index + 1] = tracker.update(frame, detections)
        ms.append((time.perf_counter() - start) * 1e3)
    return out, tracker, ms


def detections_as_tracks(stream: list[Detections], interval: int) -> dict[int, list[TrackRow]]:
    """The detector frames' boxes as track rows, every box with an id of its own."""
    rows: dict[int, list[TrackRow]] = {}
    next_id = 1
    for index in range(0, len(stream), interval):
        objects = []
        for box, score, name in zip(
            stream[index].xyxy, stream[index].scores, stream[index].class_names, strict=True
        ):
            objects.append(TrackedObject(next_id, tuple(map(float, box)), float(score), name, 0, 1))
            next_id += 1
        rows[index + 1] = tracks_to_rows(index + 1, objects)
    return rows


@dataclass
class Scored:
    """One method on one sequence: rows for the total, and its metrics."""

    gt: dict[int, list[GroundTruthRow]]
    tracks: dict[int, list[TrackRow]]
    num_frames: int
    metrics: MotMetrics
    ids: bool  # whether id metrics mean anything


def score_method(name: str, rendered: RenderedCase, interval: int) -> Scored:
    num_frames = len(rendered.frames)
    config = METHODS[name](interval)
    if config is None:
        tracks = detections_as_tracks(rendered.stream, interval)
        gt = {f: rows for f, rows in rendered.gt.items() if (f - 1) % interval == 0}
        return Scored(gt, tracks, num_frames, evaluate(gt, tracks, num_frames=num_frames), False)
    published, _, _ = run_tracker(rendered.frames, rendered.stream, interval, config)
    tracks = {f: tracks_to_rows(f, objs) for f, objs in published.items()}
    metrics = evaluate(rendered.gt, tracks, num_frames=num_frames)
    return Scored(rendered.gt, tracks, num_frames, metrics, True)


def combine(parts: list[Scored]) -> Scored:
    """All sequences as one: frames and ids offset so that nothing is shared."""
    gt: dict[int, list[GroundTruthRow]] = {}
    tracks: dict[int, list[TrackRow]] = {}
    offset = 0
    for k, part in enumerate(parts):
        shift = (k + 1) * _ID_OFFSET
        for f, rows in part.gt.items():
            gt[f + offset] = [
                replace(r, frame=f + offset, object_id=r.object_id + shift) for r in rows
            ]
        for f, rows in part.tracks.items():
            tracks[f + offset] = [
                replace(r, frame=f + offset, track_id=r.track_id + shift) for r in rows
            ]
        offset += part.num_frames
    metrics = evaluate(gt, tracks, num_frames=offset)
    return Scored(gt, tracks, offset, metrics, parts[0].ids)


# --------------------------------------------------------------------------- tables


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _table(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *body]
    )


def format_rows(rows: list[tuple[str, MotMetrics, bool]]) -> str:
    """MOTA, IDF1, IDSW, FP, FN, recall, precision; id metrics as '-' where meaningless."""
    header = ["", "MOTA", "IDF1", "IDSW", "FP", "FN", "Rcll", "Prcn"]
    body = []
    for name, m, ids in rows:
        body.append(
            [
                name,
                _pct(m.mota) if ids else "-",
                _pct(m.idf1) if ids else "-",
                str(m.idsw) if ids else "-",
                str(m.fp),
                str(m.fn),
                _pct(m.recall),
                _pct(m.precision),
            ]
        )
    return _table(header, body)


def run_synthetic(args: argparse.Namespace) -> dict:
    cases = synthetic_cases()
    names = args.sequences or list(cases)
    unknown = set(names) - set(cases)
    if unknown:
        raise SystemExit(f"error: unknown sequence(s) {sorted(unknown)}; known: {list(cases)}")
    results: dict = {}
    rendered = {}
    for name in names:
        rendered[name] = render(cases[name])
        gt_boxes = sum(r.consider for rows in rendered[name].gt.values() for r in rows)
        dets = rendered[name].stream
        objects = {r.object_id for rows in rendered[name].gt.values() for r in rows}
        print(
            f"# {name}: {len(dets)} frames, {len(objects)} objects, {gt_boxes} scored boxes, "
            f"{sum(len(d) for d in dets)} detections"
        )
    for interval in args.intervals:
        per_method: dict[str, list[Scored]] = {m: [] for m in args.methods}
        for name in names:
            rows = []
            for method in args.methods:
                scored = score_method(method, rendered[name], interval)
                per_method[method].append(scored)
                rows.append((method, scored.metrics, scored.ids))
                results.setdefault(f"interval{interval}", {}).setdefault(name, {})[method] = (
                    scored.metrics.as_dict()
                )
            print(f"\n## {name}, detector every {interval} frame(s)")
            print(format_rows(rows))
        total_rows = []
        for method in args.methods:
            total = combine(per_method[method])
            total_rows.append((method, total.metrics, total.ids))
            results[f"interval{interval}"].setdefault("total", {})[method] = total.metrics.as_dict()
        print(f"\n## total ({', '.join(names)}), detector every {interval} frame(s)")
        print(format_rows(total_rows))
    return results


# --------------------------------------------------------------------------- sample video


def read_frames_and_detections(
    count: int | None, preset: str | None = None
) -> tuple[list[np.ndarray], list[Detections]]:
    """The first ``count`` frames of the sample video (all if None) and the person boxes of
    the default detector (or of ``preset``) on every one of them: the ground truth of the
    sample video has people only, so the multi-class default's other classes (the parked
    cars) are left out, as ``detector.classes: [Person]`` would."""
    import cv2

    from mot_ros.data import sample_video_path
    from mot_ros.detection.config import DetectorConfig
    from mot_ros.detection.factory import create_detector

    detector = create_detector(
        DetectorConfig() if preset is None else DetectorConfig(preset=preset)
    )
    person = next(n for n in detector.class_names if n.lower() == "person")
    capture = cv2.VideoCapture(str(sample_video_path()))
    frames: list[np.ndarray] = []
    stream: list[Detections] = []
    try:
        while count is None or len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
            dets = detector.detect(frame)
            keep = [k for k, n in enumerate(dets.class_names) if n == person]
            stream.append(
                Detections(
                    dets.xyxy[keep], dets.scores[keep], tuple(dets.class_names[k] for k in keep)
                )
            )
    finally:
        capture.release()
    return frames, stream


def read_mot_ground_truth(path: Path) -> dict[int, list[GroundTruthRow]]:
    """A MOT16/17 ``gt.txt`` or a MOT15 one (mot_io reads both layouts)."""
    from mot_ros.evaluation.mot_io import read_ground_truth

    return read_ground_truth(path)


def run_vtest(args: argparse.Namespace) -> dict:
    count = None if args.vtest == 0 else args.vtest
    frames, stream = read_frames_and_detections(count, args.preset)
    print(
        f"# sample video: {len(frames)} frames, default detector: "
        f"{sum(len(d) for d in stream)} detections ({statistics.fmean(map(len, stream)):.1f} "
        f"per frame)"
    )
    gt = None
    if args.gt is not None:
        gt = {f: rows for f, rows in read_mot_ground_truth(args.gt).items() if f <= len(frames)}
        print(
            f"# ground truth {args.gt}: {sum(r.consider for v in gt.values() for r in v)} "
            f"scored boxes, {len({r.object_id for v in gt.values() for r in v})} objects"
        )
    rendered = RenderedCase(frames, gt or {}, stream)
    methods = [m for m in args.methods if gt is not None or m != "detections"]
    results: dict = {}
    header = ["", "started", "ids", "len", "covered", "off-det", "ms/frame"]
    for interval in args.intervals:
        body = []
        mot_rows = []
        for method in methods:
            config = METHODS[method](interval)
            if config is None:
                scored = score_method(method, rendered, interval)
                mot_rows.append((method, scored.metrics, False))
                results.setdefault(f"interval{interval}", {})[method] = scored.metrics.as_dict()
                continue
            published, tracker, ms = run_tracker(frames, stream, interval, config)
            stats = _without_truth(published, stream, tracker)
            stats["ms_per_frame"] = statistics.median(ms)
            if gt is not None:
                tracks = {f: tracks_to_rows(f, objs) for f, objs in published.items()}
                metrics = evaluate(gt, tracks, num_frames=len(frames))
                mot_rows.append((method, metrics, True))
                stats["mot"] = metrics.as_dict()
            results.setdefault(f"interval{interval}", {})[method] = stats
            body.append(
                [
                    method,
                    str(stats["tracks_started"]),
                    str(stats["ids"]),
                    f"{stats['mean_track_length']:.1f}",
                    f"{_pct(stats['detections_covered'])}%",
                    f"{stats['boxes_off_detections']} ({_pct(stats['off_fraction'])}%)",
                    f"{stats['ms_per_frame']:.1f}",
                ]
            )
        print(f"\n## sample video, detector every {interval} frame(s)")
        print(_table(header, body))
        if mot_rows:
            print(f"\n## sample video against {args.gt.name}, detector every {interval} frame(s)")
            print(format_rows(mot_rows))
    print(
        "\nstarted: tracks created; ids: tracks confirmed; len: mean frames an id is "
        "published; covered: detections (every frame) with a published box at IoU >= 0.5; "
        "off-det: published boxes on no detection (missed person or wrong box)"
    )
    return results


def _without_truth(
    published: dict[int, list[TrackedObject]], stream: list[Detections], tracker
) -> dict:
    lengths: Counter[int] = Counter()
    covered = total_dets = off = boxes = 0
    for frame, objects in published.items():
        dets = stream[frame - 1]
        lengths.update(o.track_id for o in objects)
        total_dets += len(dets)
        boxes += len(objects)
        if not objects:
            continue
        tb = np.array([o.xyxy for o in objects])
        db = dets.xyxy.reshape(-1, 4)
        iou = iou_ltwh(_ltwh(db), _ltwh(tb))  # (dets, tracks)
        hit = iou >= 0.5
        covered += int(hit.any(axis=1).sum())
        off += int((~hit.any(axis=0)).sum()) if len(db) else len(objects)
    return {
        "tracks_started": tracker.tracks_started,
        "ids": tracker.tracks_confirmed,
        "mean_track_length": statistics.fmean(lengths.values()) if lengths else 0.0,
        "detections_covered": covered / total_dets if total_dets else float("nan"),
        "boxes_off_detections": off,
        "published_boxes": boxes,
        "off_fraction": off / boxes if boxes else 0.0,
    }


def _ltwh(xyxy: np.ndarray) -> np.ndarray:
    return np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)


# --------------------------------------------------------------------------- MOT sequences

#: mot_ros variants scored in tracking-only mode (no images): name -> config overrides.
#: ``defaults`` is TrackerConfig(); each other row changes one behaviour so its effect on
#: MOTA, IDF1 and FP can be read off directly.
MOT_VARIANTS: dict[str, dict] = {
    "defaults": {},
    # the tracker as it was before evidence-aware publishing and the re-update
    "previous": dict(publish_coasting_frames=1000, observation_centric_reupdate=False),
    "coast-1": dict(publish_coasting_frames=1),
    "coast-3": dict(publish_coasting_frames=3),
    "start-0.6": dict(start_score_threshold=0.6),
    "start-0.7": dict(start_score_threshold=0.7),
    "start-0.8": dict(start_score_threshold=0.8),
    "lost-0.5s": dict(max_lost_seconds=0.5),
    "lost-1s": dict(max_lost_seconds=1.0),
    "lost-2s": dict(max_lost_seconds=2.0),
    "reupdate": dict(observation_centric_reupdate=True),
    "s0.8+1s": dict(start_score_threshold=0.8, max_lost_seconds=1.0),
    "s0.8+1s+mh2": dict(start_score_threshold=0.8, max_lost_seconds=1.0, min_hits=2),
    "s0.8+1s+reid0.3": dict(
        start_score_threshold=0.8, max_lost_seconds=1.0, reid_iou_threshold=0.3
    ),
    "s0.8+1s+iou0.2": dict(start_score_threshold=0.8, max_lost_seconds=1.0, iou_threshold=0.2),
    "sort-like": dict(
        max_missed_detections=0, max_lost_frames=1, reid_iou_threshold=0.3, **IOU_ONLY
    ),
}


def _sequence_step_mot_ros(config: TrackerConfig, size: tuple[int, int]):
    from mot_ros.tracking.tracker import MultiObjectTracker

    tracker = MultiObjectTracker(config)

    def step(detections: Detections, stamp: float) -> list[TrackedObject]:
        return tracker.update(None, detections, image_size=size, stamp=stamp)

    return step


def _track_sequence(seq, step) -> tuple[dict[int, list[TrackRow]], float]:
    """Feed every frame's detections (empty where the file has none) to ``step``."""
    tracks: dict[int, list[TrackRow]] = {}
    start = time.perf_counter()
    for frame in range(1, seq.num_frames + 1):
        detections = seq.detections.get(frame, Detections.empty())
        tracks[frame] = tracks_to_rows(frame, step(detections, (frame - 1) / seq.frame_rate))
    return tracks, (time.perf_counter() - start) * 1e3 / max(seq.num_frames, 1)


def run_mot(args: argparse.Namespace) -> dict:
    """Tracking-only mode over MOTChallenge sequence folders, every variant and peer."""
    from mot_ros.evaluation.peers import PEERS, available_peers
    from mot_ros.evaluation.sequences import find_sequences, load_sequence

    folders = [f for root in args.mot for f in find_sequences(root)]
    if args.sequences:
        folders = [f for f in folders if f.name in args.sequences]
    if not folders:
        raise SystemExit(f"error: no sequence folders (det/det.txt + gt/gt.txt) in {args.mot}")
    variants = {name: MOT_VARIANTS[name] for name in args.variants}
    peers = {}
    for name, reason in available_peers().items():
        if name not in args.peers:
            continue
        if reason is None:
            peers[name] = PEERS[name]
        else:
            print(f"# peer {name} skipped: {reason}")
    methods = [*variants, *peers]
    parts: dict[str, list[Scored]] = {m: [] for m in methods}
    results: dict = {}
    for folder in folders:
        seq = load_sequence(folder)
        print(
            f"\n## {seq.name}: {seq.num_frames} frames, {seq.image_size[0]}x{seq.image_size[1]}"
            f" @ {seq.frame_rate:g} fps, {sum(map(len, seq.detections.values()))} detections, "
            f"{seq.scored_boxes} scored boxes"
        )
        rows = []
        for method in methods:
            if method in variants:
                config = replace(TrackerConfig(), **variants[method])
                step = _sequence_step_mot_ros(config, seq.image_size)
            else:
                peer_step = peers[method](seq.frame_rate)
                step = lambda d, _stamp, s=peer_step: s(d)  # noqa: E731
            tracks, ms = _track_sequence(seq, step)
            metrics = evaluate(seq.ground_truth, tracks, num_frames=seq.num_frames)
            parts[method].append(Scored(seq.ground_truth, tracks, seq.num_frames, metrics, True))
            rows.append((method, metrics, True))
            results.setdefault(seq.name, {})[method] = {**metrics.as_dict(), "ms_per_frame": ms}
        print(format_rows(rows))
    if len(folders) > 1:
        rows = []
        for method in methods:
            total = combine(parts[method])
            mean_idf1 = statistics.fmean(p.metrics.idf1 for p in parts[method])
            rows.append((method, total.metrics, True))
            results.setdefault("pooled", {})[method] = {
                **total.metrics.as_dict(),
                "mean_idf1": mean_idf1,
            }
        print(f"\n## pooled ({len(folders)} sequences; IDF1 column pooled, mean IDF1 below)")
        print(format_rows(rows))
        print(
            "mean IDF1: "
            + ", ".join(f"{m} {_pct(results['pooled'][m]['mean_idf1'])}" for m in methods)
        )
    return results


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="See the module docstring (or docs/tracking.md) for what each method is.",
    )
    parser.add_argument(
        "--intervals", type=int, nargs="+", default=[1, 3],
        help="detection intervals to evaluate (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
        help="methods to compare (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--sequences", nargs="+", default=None,
        help="synthetic sequences to run (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--vtest", type=int, nargs="?", const=0, default=None, metavar="N",
        help="instead: the first N frames (default: all) of the sample video, default detector",
    )  # fmt: skip
    parser.add_argument(
        "--gt", type=Path, default=None,
        help="with --vtest: a gt.txt for the sample video (MOT15 PETS09-S2L1 has the same "
        "frames) to score every method with MOT metrics",
    )  # fmt: skip
    parser.add_argument(
        "--preset", default=None, help="with --vtest: the detector preset (default: the node's)"
    )
    parser.add_argument(
        "--mot", type=Path, nargs="+", default=None, metavar="DIR",
        help="instead: tracking-only mode over MOTChallenge sequence folders "
        "(det/det.txt, gt/gt.txt, seqinfo.ini) found under DIR; --sequences filters by name",
    )  # fmt: skip
    parser.add_argument(
        "--variants", nargs="+", choices=list(MOT_VARIANTS), default=list(MOT_VARIANTS),
        help="with --mot: mot_ros variants to score (default: all)",
    )  # fmt: skip
    parser.add_argument(
        "--peers", nargs="*", default=None,
        help="with --mot: peer trackers to score (default: every one that imports; "
        "none: --peers with no name)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if any(i < 1 for i in args.intervals):
        parser.error(f"--intervals must be >= 1, got {args.intervals}")
    if args.gt is not None and args.vtest is None:
        parser.error("--gt needs --vtest")
    start = time.perf_counter()
    if args.mot is not None:
        from mot_ros.evaluation.peers import PEERS

        if args.peers is None:
            args.peers = list(PEERS)
        unknown = set(args.peers) - set(PEERS)
        if unknown:
            parser.error(f"unknown peer(s) {sorted(unknown)}; known: {list(PEERS)}")
        results = run_mot(args)
    elif args.vtest is not None:
        if args.vtest < 0:
            parser.error(f"--vtest must be >= 0 (0: every frame), got {args.vtest}")
        try:
            results = run_vtest(args)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        results = run_synthetic(args)
    print(f"\n({time.perf_counter() - start:.0f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, allow_nan=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
