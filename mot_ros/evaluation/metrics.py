"""Scoring tracker output against ground truth with the CLEAR-MOT and identity metrics.

The event bookkeeping (matches, misses, false positives, id switches, the global identity
assignment behind IDF1) is py-motmetrics' ``MOTAccumulator``, which has been checked against
the MOTChallenge devkit by its authors; this module adds what the benchmark does around it
and what py-motmetrics 1.4 gets wrong with NumPy 2:

* Box distance is ``1 - IoU`` computed here (``motmetrics.distances.iou_matrix`` calls
  ``np.asfarray``, removed in NumPy 2.0); a pair may match only when ``IoU >= iou_threshold``
  (0.5 in the benchmark).
* Ignore regions, as in the MOT16/17 evaluation: ground-truth rows with ``consider == 0``
  (and, with ``mot16_classes``, the distractor classes) are matched to the tracker boxes of
  their frame together with the scored rows, by the Hungarian method on IoU; tracker boxes
  matched to an ignore row are removed before scoring and the ignore rows themselves never
  count. A tracker is therefore neither rewarded nor punished for a box on a person the
  annotators chose not to score. Difference to TrackEval: TrackEval only removes tracker boxes
  matched to *distractor classes* and counts boxes on other ``consider == 0`` rows as false
  positives; in MOT17 every ``consider == 0`` row is a non-pedestrian or distractor anyway, so
  the two rarely differ, and on files without classes (synthetic, MOT15 style) the flag is the
  only way to mark an ignore region.
* Every frame from 1 to the last frame of either file is fed to the accumulator, so empty
  frames count in ``num_frames``.

Only ``evaluate`` imports motmetrics (and with it pandas), keeping ``import
mot_ros.evaluation.metrics`` cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.optimize import linear_sum_assignment

from mot_ros.evaluation.mot_io import (
    GroundTruthRow,
    PathLike,
    TrackRow,
    read_ground_truth,
    read_tracks,
)

#: MOT16 class ids that are pedestrians (1) or unknown (-1, files without a class column).
SCORED_CLASSES = frozenset({-1, 1})
#: MOT16 classes whose tracker matches are forgiven: person on vehicle, static person,
#: distractor, reflection.
DISTRACTOR_CLASSES = frozenset({2, 7, 8, 12})


@dataclass(frozen=True)
class EvaluationConfig:
    """How ground truth is interpreted.

    ``iou_threshold``: minimum IoU for a ground-truth/tracker pair to count as a match
    (MOTChallenge uses 0.5; lower values forgive sloppy boxes and inflate every score).
    ``mot16_classes``: apply the MOT16/17 class rules when the ground truth carries classes --
    only pedestrians (class 1) are scored, distractor classes (2, 7, 8, 12) become ignore
    regions and other classes (vehicles, occluders) are dropped. Rows with class -1
    (no class column) are always scored. Turn it off to score every row with ``consider == 1``.
    """

    iou_threshold: float = 0.5
    mot16_classes: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], but got {self.iou_threshold}")


@dataclass(frozen=True)
class MotMetrics:
    """The headline MOTChallenge figures for one tracker on one sequence.

    ``motp`` follows MOTChallenge: the mean IoU of matched pairs, higher is better
    (py-motmetrics' own ``motp`` is the mean distance, ``1 - motp`` here). Ratios are in
    ``[0, 1]`` (MOTA can be negative); they are ``nan`` when undefined, e.g. recall without
    any ground truth. ``ignored_tracks`` counts tracker boxes removed by ignore regions.
    """

    mota: float
    motp: float
    idf1: float
    idsw: int
    fp: int
    fn: int
    recall: float
    precision: float
    mostly_tracked: int
    mostly_lost: int
    num_frames: int
    num_objects: int
    num_gt_boxes: int
    ignored_tracks: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def iou_ltwh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` left/top/width/height boxes, shape ``(N, M)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    a_min, a_max = a[:, None, :2], a[:, None, :2] + a[:, None, 2:]
    b_min, b_max = b[None, :, :2], b[None, :, :2] + b[None, :, 2:]
    inter = np.prod(np.clip(np.minimum(a_max, b_max) - np.maximum(a_min, b_min), 0, None), -1)
    union = np.prod(a[:, None, 2:], -1) + np.prod(b[None, :, 2:], -1) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0, inter / union, 0.0)


def _matchable(iou: np.ndarray, threshold: float) -> np.ndarray:
    # A hair of tolerance so that an IoU of exactly 0.5 computed as 0.4999999 still matches.
    return iou >= threshold - 1e-9


def _split_ground_truth(
    rows: Sequence[GroundTruthRow], config: EvaluationConfig
) -> tuple[list[GroundTruthRow], list[GroundTruthRow]]:
    """(scored rows, ignore rows); rows of irrelevant classes are in neither."""
    scored, ignored = [], []
    for row in rows:
        if config.mot16_classes and row.class_id not in SCORED_CLASSES:
            if row.class_id in DISTRACTOR_CLASSES or not row.consider:
                ignored.append(row)
            continue
        (scored if row.consider else ignored).append(row)
    return scored, ignored


def _remove_ignored(
    scored: list[GroundTruthRow],
    ignored: list[GroundTruthRow],
    hyps: list[TrackRow],
    threshold: float,
) -> list[TrackRow]:
    """Drop tracker boxes that a Hungarian matching over all ground truth gives to ignore rows."""
    if not ignored or not hyps:
        return hyps
    every = scored + ignored
    iou = iou_ltwh([g.ltwh for g in every], [h.ltwh for h in hyps])
    ok = _matchable(iou, threshold)
    # Forbidden pairs cost more than any set of allowed ones, so the assignment first
    # maximises the number of valid matches, then their total IoU.
    cost = np.where(ok, 1.0 - iou, 1e6)
    drop = set()
    for gi, hi in zip(*linear_sum_assignment(cost), strict=True):
        if ok[gi, hi] and gi >= len(scored):
            drop.add(int(hi))
    return [h for i, h in enumerate(hyps) if i not in drop]


def _check_unique(ids: Sequence[int], what: str, frame: int) -> None:
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"{what} ids {dup} appear more than once in frame {frame}")


def evaluate(
    ground_truth: Mapping[int, Sequence[GroundTruthRow]],
    tracks: Mapping[int, Sequence[TrackRow]],
    config: EvaluationConfig | None = None,
    *,
    num_frames: int | None = None,
) -> MotMetrics:
    """Score ``tracks`` against ``ground_truth`` (both keyed by 1-based frame, same coordinates).

    ``num_frames`` defaults to the last frame present in either input; pass the sequence
    length (``seqLength`` of ``seqinfo.ini``) when trailing frames may be empty. Tracker
    boxes on frames beyond ``num_frames`` are an error rather than silently dropped.
    """
    import motmetrics as mm

    config = config or EvaluationConfig()
    last = max([0, *ground_truth.keys(), *tracks.keys()])
    if num_frames is None:
        num_frames = last
    elif last > num_frames:
        raise ValueError(f"num_frames is {num_frames} but the inputs reach frame {last}")
    if min([1, *ground_truth.keys(), *tracks.keys()]) < 1:
        raise ValueError("frame numbers start at 1")

    acc = mm.MOTAccumulator(auto_id=False)
    ignored_tracks = 0
    gt_boxes = 0
    for frame in range(1, num_frames + 1):
        gt_rows = list(ground_truth.get(frame, ()))
        hyps = list(tracks.get(frame, ()))
        _check_unique([g.object_id for g in gt_rows], "ground-truth", frame)
        _check_unique([h.track_id for h in hyps], "track", frame)
        scored, ignored = _split_ground_truth(gt_rows, config)
        kept = _remove_ignored(scored, ignored, hyps, config.iou_threshold)
        ignored_tracks += len(hyps) - len(kept)
        gt_boxes += len(scored)
        iou = iou_ltwh([g.ltwh for g in scored], [h.ltwh for h in kept])
        dist = np.where(_matchable(iou, config.iou_threshold), 1.0 - iou, np.nan)
        acc.update([g.object_id for g in scored], [h.track_id for h in kept], dist, frameid=frame)

    names = [
        "mota", "motp", "idf1", "num_switches", "num_false_positives", "num_misses",
        "recall", "precision", "mostly_tracked", "mostly_lost", "num_frames",
        "num_unique_objects",
    ]  # fmt: skip
    summary = mm.metrics.create().compute(acc, metrics=names, name="seq")
    row = {name: summary[name].iloc[0] for name in names}

    def ratio(value: object) -> float:
        v = float(value)
        return v if math.isfinite(v) else math.nan

    return MotMetrics(
        mota=ratio(row["mota"]),
        motp=ratio(1.0 - float(row["motp"])),
        idf1=ratio(row["idf1"]),
        idsw=int(row["num_switches"]),
        fp=int(row["num_false_positives"]),
        fn=int(row["num_misses"]),
        recall=ratio(row["recall"]),
        precision=ratio(row["precision"]),
        mostly_tracked=int(row["mostly_tracked"]),
        mostly_lost=int(row["mostly_lost"]),
        num_frames=int(row["num_frames"]),
        num_objects=int(row["num_unique_objects"]),
        num_gt_boxes=gt_boxes,
        ignored_tracks=ignored_tracks,
    )


def evaluate_files(
    gt_path: PathLike,
    tracks_path: PathLike,
    config: EvaluationConfig | None = None,
    *,
    num_frames: int | None = None,
) -> MotMetrics:
    """:func:`evaluate` on a ``gt.txt`` and a tracker-results file."""
    return evaluate(
        read_ground_truth(gt_path), read_tracks(tracks_path), config, num_frames=num_frames
    )


#: Column order and formats for tables of :class:`MotMetrics`.
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("mota", "MOTA"), ("idf1", "IDF1"), ("motp", "MOTP"), ("idsw", "IDSW"), ("fp", "FP"),
    ("fn", "FN"), ("recall", "Rcll"), ("precision", "Prcn"), ("mostly_tracked", "MT"),
    ("mostly_lost", "ML"), ("num_frames", "Frames"),
)  # fmt: skip


def format_table(results: Sequence[tuple[str, MotMetrics]]) -> str:
    """A plain-text table, one row per ``(name, metrics)``; ratios shown as percentages."""
    ratio_fields = {f.name for f in fields(MotMetrics) if f.type in ("float", float)}
    header = ["name"] + [title for _, title in TABLE_COLUMNS]
    body = []
    for name, m in results:
        cells = [name]
        for attr, _ in TABLE_COLUMNS:
            value = getattr(m, attr)
            cells.append(f"{100 * value:.1f}" if attr in ratio_fields else str(value))
        body.append(cells)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *body]
    ]
    return "\n".join(lines)
