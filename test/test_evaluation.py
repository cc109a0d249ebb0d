"""Evaluation on hand-made cases whose CLEAR-MOT / IDF1 figures can be worked out on paper."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mot_ros.evaluation.metrics import (
    EvaluationConfig,
    evaluate,
    evaluate_files,
    format_table,
    iou_ltwh,
)
from mot_ros.evaluation.mot_io import GroundTruthRow, TrackRow, write_ground_truth, write_tracks

# Two well separated people walking right; ten frames.
FRAMES = range(1, 11)


def _person_a(f: int) -> tuple[float, float, float, float]:
    return (10.0 + 5 * f, 50.0, 40.0, 100.0)


def _person_b(f: int) -> tuple[float, float, float, float]:
    return (300.0 + 5 * f, 60.0, 40.0, 100.0)


def _gt(*objects, frames=FRAMES, consider=True, class_id=-1):
    """{frame: [rows]} for (object_id, box_fn) pairs."""
    out: dict[int, list[GroundTruthRow]] = {}
    for f in frames:
        for oid, box in objects:
            out.setdefault(f, []).append(GroundTruthRow(f, oid, *box(f), consider, class_id, 1.0))
    return out


def _tracks(*tracks):
    """{frame: [rows]} for (frames, track_id, box_fn) triples."""
    out: dict[int, list[TrackRow]] = {}
    for frames, tid, box in tracks:
        for f in frames:
            out.setdefault(f, []).append(TrackRow(f, tid, *box(f), 0.9))
    return out


def _merge(*dicts):
    out: dict[int, list] = {}
    for d in dicts:
        for f, rows in d.items():
            out.setdefault(f, []).extend(rows)
    return out


def test_perfect_tracks():
    gt = _gt((1, _person_a), (2, _person_b))
    m = evaluate(gt, _tracks((FRAMES, 11, _person_a), (FRAMES, 12, _person_b)))
    assert (m.mota, m.idf1, m.motp, m.recall, m.precision) == (1.0, 1.0, 1.0, 1.0, 1.0)
    assert (m.idsw, m.fp, m.fn, m.mostly_tracked, m.mostly_lost) == (0, 0, 0, 2, 0)
    assert (m.num_frames, m.num_objects, m.num_gt_boxes) == (10, 2, 20)


def test_one_id_switch():
    # The tracker loses person A after frame 5 and restarts it under a new id.
    gt = _gt((1, _person_a))
    m = evaluate(gt, _tracks((range(1, 6), 1, _person_a), (range(6, 11), 2, _person_a)))
    assert m.idsw == 1
    assert (m.fp, m.fn) == (0, 0)
    assert m.mota == pytest.approx(1 - 1 / 10)
    # Best identity mapping covers 5 of 10 truth boxes and 5 of 10 tracker boxes.
    assert m.idf1 == pytest.approx(0.5)


def test_swapped_identities_count_two_switches():
    # Two tracks trade people at frame 6: each person changes its matched id once.
    gt = _gt((1, _person_a), (2, _person_b))
    tracks = _tracks(
        (range(1, 6), 1, _person_a), (range(6, 11), 1, _person_b),
        (range(1, 6), 2, _person_b), (range(6, 11), 2, _person_a),
    )  # fmt: skip
    m = evaluate(gt, tracks)
    assert m.idsw == 2
    assert m.mota == pytest.approx(1 - 2 / 20)
    assert m.idf1 == pytest.approx(0.5)


def test_misses_count_as_false_negatives():
    # Person B is never tracked; person A is missed on frames 9-10.
    gt = _gt((1, _person_a), (2, _person_b))
    m = evaluate(gt, _tracks((range(1, 9), 1, _person_a)))
    assert (m.fn, m.fp, m.idsw) == (12, 0, 0)
    assert m.recall == pytest.approx(8 / 20)
    assert m.precision == 1.0
    assert m.mota == pytest.approx(1 - 12 / 20)
    assert (m.mostly_tracked, m.mostly_lost) == (1, 1)  # A at 80 %, B at 0 %


def test_box_on_empty_background_is_a_false_positive():
    gt = _gt((1, _person_a))
    clutter = lambda f: (600.0, 300.0, 30.0, 30.0)  # noqa: E731
    m = evaluate(gt, _tracks((FRAMES, 1, _person_a), (range(1, 4), 9, clutter)))
    assert (m.fp, m.fn, m.ignored_tracks) == (3, 0, 0)
    assert m.mota == pytest.approx(1 - 3 / 10)
    assert m.precision == pytest.approx(10 / 13)


def test_ignore_region_removes_the_false_positive_and_is_not_a_miss():
    # Person B is marked consider=0 (e.g. heavily occluded): a box on B is forgiven, and
    # not tracking B costs nothing either.
    gt = _merge(_gt((1, _person_a)), _gt((2, _person_b), consider=False))
    on_b = evaluate(gt, _tracks((FRAMES, 1, _person_a), (range(1, 4), 2, _person_b)))
    assert (on_b.fp, on_b.fn, on_b.ignored_tracks) == (0, 0, 3)
    assert (on_b.mota, on_b.num_objects, on_b.num_gt_boxes) == (1.0, 1, 10)
    without_b = evaluate(gt, _tracks((FRAMES, 1, _person_a)))
    assert (without_b.fp, without_b.fn, without_b.mota) == (0, 0, 1.0)


def test_ignore_region_does_not_steal_a_box_that_belongs_to_a_scored_person():
    # An ignore region overlapping person A a little (IoU ~0.6 with the tracker box) must not
    # remove the box the Hungarian matching gives to A (IoU 1).
    near_a = lambda f: (_person_a(f)[0] + 10, 50.0, 40.0, 100.0)  # noqa: E731
    gt = _merge(_gt((1, _person_a)), _gt((2, near_a), consider=False))
    m = evaluate(gt, _tracks((FRAMES, 1, _person_a)))
    assert (m.fp, m.fn, m.ignored_tracks, m.mota) == (0, 0, 0, 1.0)


@pytest.mark.parametrize(
    ("class_id", "consider", "mot16_classes", "fp", "fn", "ignored"),
    [
        (7, True, True, 0, 0, 10),  # static person (distractor): box forgiven, not a miss
        (3, False, True, 0, 0, 10),  # car marked consider=0: an ignore region
        (3, True, True, 10, 0, 0),  # car marked consider=1: not scored, box on it is a FP
        (7, True, False, 0, 0, 0),  # classes off: a consider=1 row is a person like any other
        (1, True, True, 0, 0, 0),  # a pedestrian is scored (and matched)
    ],
)
def test_mot16_class_handling(class_id, consider, mot16_classes, fp, fn, ignored):
    gt = _merge(_gt((1, _person_a)), _gt((2, _person_b), consider=consider, class_id=class_id))
    tracks = _tracks((FRAMES, 1, _person_a), (FRAMES, 2, _person_b))
    m = evaluate(gt, tracks, EvaluationConfig(mot16_classes=mot16_classes))
    assert (m.fp, m.fn, m.ignored_tracks) == (fp, fn, ignored)


@pytest.mark.parametrize(
    ("hyp", "matched"),
    [
        ((0.0, 0.0, 20.0, 10.0), True),  # IoU exactly 0.5: matches (>= threshold)
        ((0.0, 0.0, 21.0, 10.0), False),  # IoU 100/210 < 0.5: FP + FN
        ((5.0, 0.0, 10.0, 10.0), False),  # half overlap, IoU 1/3
    ],
)
def test_iou_threshold_boundary(hyp, matched):
    gt = {1: [GroundTruthRow(1, 1, 0.0, 0.0, 10.0, 10.0)]}
    m = evaluate(gt, {1: [TrackRow(1, 1, *hyp)]})
    assert (m.fp, m.fn) == ((0, 0) if matched else (1, 1))


def test_motp_is_mean_iou_of_matches():
    gt = {1: [GroundTruthRow(1, 1, 0.0, 0.0, 10.0, 10.0)], 2: [GroundTruthRow(2, 1, 0, 0, 10, 10)]}
    tracks = {1: [TrackRow(1, 1, 0.0, 0.0, 10.0, 10.0)], 2: [TrackRow(2, 1, 0.0, 0.0, 10.0, 16.0)]}
    assert evaluate(gt, tracks).motp == pytest.approx((1.0 + 10 / 16) / 2)


def test_num_frames_counts_empty_trailing_frames():
    gt = _gt((1, _person_a), frames=range(1, 4))
    tracks = _tracks((range(1, 4), 1, _person_a))
    assert evaluate(gt, tracks).num_frames == 3
    assert evaluate(gt, tracks, num_frames=20).num_frames == 20
    with pytest.raises(ValueError, match="num_frames is 2 but the inputs reach frame 3"):
        evaluate(gt, tracks, num_frames=2)


def test_no_ground_truth_gives_nan_ratios_not_a_crash():
    m = evaluate({}, _tracks((range(1, 3), 1, _person_a)))
    assert m.fp == 2
    assert math.isnan(m.recall)


def test_duplicate_ids_in_a_frame_are_rejected():
    dup = {1: [TrackRow(1, 5, 0, 0, 5, 5), TrackRow(1, 5, 10, 0, 5, 5)]}
    with pytest.raises(ValueError, match=r"track ids \[5\] appear more than once in frame 1"):
        evaluate(_gt((1, _person_a)), dup)


def test_evaluate_files_matches_in_memory(tmp_path):
    gt = _merge(_gt((1, _person_a)), _gt((2, _person_b), consider=False))
    tracks = _tracks((range(1, 6), 1, _person_a), (range(6, 11), 3, _person_a),
                     (range(2, 5), 2, _person_b))  # fmt: skip
    write_ground_truth(tmp_path / "gt.txt", [r for rows in gt.values() for r in rows])
    write_tracks(tmp_path / "t.txt", [r for rows in tracks.values() for r in rows])
    assert evaluate_files(tmp_path / "gt.txt", tmp_path / "t.txt") == evaluate(gt, tracks)


def test_iou_ltwh():
    iou = iou_ltwh([(0, 0, 10, 10)], [(0, 0, 10, 10), (5, 0, 10, 10), (20, 20, 1, 1)])
    assert iou.shape == (1, 3)
    assert iou[0].tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert iou_ltwh([], [(0, 0, 1, 1)]).shape == (0, 1)


def test_format_table_and_config_validation():
    m = evaluate(_gt((1, _person_a)), _tracks((FRAMES, 1, _person_a)))
    table = format_table([("tracker-a", m)])
    header, row = table.splitlines()
    assert header.split()[:3] == ["name", "MOTA", "IDF1"]
    assert row.split()[:3] == ["tracker-a", "100.0", "100.0"]
    with pytest.raises(ValueError, match="iou_threshold must be in"):
        EvaluationConfig(iou_threshold=0.0)


def test_evaluate_mot_script_prints_one_row_per_tracks_file(tmp_path):
    gt = _gt((1, _person_a), (2, _person_b))
    write_ground_truth(tmp_path / "gt.txt", [r for rows in gt.values() for r in rows])
    perfect = _tracks((FRAMES, 1, _person_a), (FRAMES, 2, _person_b))
    half = _tracks((FRAMES, 1, _person_a))
    write_tracks(tmp_path / "perfect.txt", [r for rows in perfect.values() for r in rows])
    write_tracks(tmp_path / "half.txt", [r for rows in half.values() for r in rows])
    script = Path(__file__).resolve().parents[1] / "scripts" / "evaluate_mot.py"
    args = [sys.executable, str(script), "--gt", str(tmp_path / "gt.txt"), "--tracks",
            str(tmp_path / "perfect.txt"), str(tmp_path / "half.txt"),
            "--json", str(tmp_path / "m.json")]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines[1:]] == [["perfect", "100.0"], ["half", "50.0"]]
    assert json.loads((tmp_path / "m.json").read_text())["half"]["fn"] == 10

    (tmp_path / "bad.txt").write_text("1,1,0,0,5\n")
    args = [sys.executable, str(script), "--gt", str(tmp_path / "gt.txt"),
            "--tracks", str(tmp_path / "bad.txt")]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{tmp_path / 'bad.txt'}:1: expected at least 6" in done.stderr
