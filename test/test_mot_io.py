"""MOTChallenge file I/O: round trips, the 1-pixel coordinate shift, and error messages."""

from __future__ import annotations

import io

import numpy as np
import pytest

from mot_ros.evaluation.mot_io import (
    GroundTruthRow,
    MotFormatError,
    TrackRow,
    boxes_to_ground_truth,
    format_tracks,
    read_detections,
    read_ground_truth,
    read_tracks,
    tracks_to_rows,
    write_detections,
    write_ground_truth,
    write_tracks,
)
from mot_ros.types import Detections, TrackedObject


def _write_text(tmp_path, text: str, name: str = "f.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_tracks_round_trip(tmp_path):
    rows = [
        TrackRow(1, 3, 10.5, 20.25, 30.0, 60.75, 0.9),
        TrackRow(1, 4, -5.0, 0.0, 12.0, 8.0, 1.0),  # boxes may start left of the image
        TrackRow(7, 3, 11.0, 21.0, 30.5, 61.0, 0.55),
    ]
    path = tmp_path / "tracks.txt"
    assert write_tracks(path, rows) == 3
    lines = path.read_text().splitlines()
    assert lines[0] == "1,3,10.5,20.25,30,60.75,0.9,-1,-1,-1"
    assert all(len(line.split(",")) == 10 for line in lines)
    back = read_tracks(path)
    assert list(back) == [1, 7]
    assert back[1] + back[7] == rows


def test_write_tracks_to_open_file_streams_and_leaves_it_open():
    buf = io.StringIO()
    write_tracks(buf, [TrackRow(1, 1, 0, 0, 5, 5)])
    write_tracks(buf, [TrackRow(2, 1, 1, 1, 5, 5)])
    assert not buf.closed
    assert buf.getvalue().count("\n") == 2
    assert read_tracks(io.StringIO(buf.getvalue()))[2][0].left == 1.0


def test_ground_truth_round_trip(tmp_path):
    rows = [
        GroundTruthRow(1, 1, 100, 200, 40, 90, True, 1, 0.8),
        GroundTruthRow(1, 2, 300, 200, 40, 90, False, 8, 0.25),  # a distractor
        GroundTruthRow(2, 1, 101, 201, 40, 90, True, 1, 1.0),
    ]
    path = tmp_path / "gt.txt"
    write_ground_truth(path, rows)
    back = read_ground_truth(path)
    assert back[1] + back[2] == rows


@pytest.mark.parametrize(
    ("line", "consider", "class_id", "visibility"),
    [
        ("1,5,10,20,30,40", True, -1, -1.0),  # bare 6 columns
        ("1,5,10,20,30,40,1,-1,-1,-1", True, -1, -1.0),  # MOT15 layout (world coords unused)
        ("1,5,10,20,30,40,0,7,0.35", False, 7, 0.35),  # MOT16/17 layout
        (" 1, 5 ,10,20,30,40, 1, 1, 1 ", True, 1, 1.0),  # spaces around fields
    ],
)
def test_ground_truth_layouts(tmp_path, line, consider, class_id, visibility):
    row = read_ground_truth(_write_text(tmp_path, line + "\n"))[1][0]
    assert (row.object_id, row.ltwh) == (5, (10.0, 20.0, 30.0, 40.0))
    assert (row.consider, row.class_id, row.visibility) == (consider, class_id, visibility)


def test_tracks_without_score_column_and_blank_lines(tmp_path):
    path = _write_text(tmp_path, "\n2,9,1,2,3,4\n\n3.0,9,1,2,3,4\n")
    rows = read_tracks(path)
    assert rows[2][0].score == 1.0
    assert rows[3][0].frame == 3  # "3.0" is a whole number and accepted


def test_tracked_objects_to_rows_shift_to_one_based():
    objs = [TrackedObject(7, (0.0, 10.0, 20.0, 50.0), 0.8, "person")]
    (row,) = tracks_to_rows(4, objs)
    assert row == TrackRow(4, 7, 1.0, 11.0, 20.0, 40.0, 0.8)
    assert format_tracks([row]) == "4,7,1,11,20,40,0.8,-1,-1,-1\n"
    with pytest.raises(ValueError, match="frame must be >= 1"):
        tracks_to_rows(0, objs)


def test_boxes_to_ground_truth_marks_ignored_objects():
    rows = boxes_to_ground_truth(
        3, [(1, (0, 0, 10, 20)), (2, (5, 5, 15, 25))], consider=lambda oid: oid != 2
    )
    assert rows[0].ltwh == (1.0, 1.0, 10.0, 20.0)
    assert [r.consider for r in rows] == [True, False]


def test_detections_round_trip_keeps_image_coordinates(tmp_path):
    dets = {
        1: Detections(np.array([[0.0, 0.0, 10.0, 20.0], [50.5, 60.0, 80.0, 120.0]]),
                      np.array([0.9, 0.35]), ("person", "person")),
        3: Detections(np.array([[5.0, 5.0, 6.0, 9.0]]), np.array([0.5]), ("person",)),
    }  # fmt: skip
    path = tmp_path / "det.txt"
    write_detections(path, dets)
    assert path.read_text().splitlines()[0] == "1,-1,1,1,10,20,0.9,-1,-1,-1"  # 1-based on disk
    back = read_detections(path)
    assert list(back) == [1, 3]  # frame 2 had no rows and is absent
    for frame, d in dets.items():
        np.testing.assert_allclose(back[frame].xyxy, d.xyxy)
        np.testing.assert_allclose(back[frame].scores, d.scores)
        assert back[frame].class_names == d.class_names


def test_detections_unbounded_scores(tmp_path):
    # MOT17's DPM detections carry raw SVM scores outside [0, 1].
    path = _write_text(tmp_path, "1,-1,1,1,10,10,-0.3\n1,-1,30,1,10,10,1.7\n1,-1,60,1,10,10,0.4\n")
    with pytest.raises(MotFormatError, match=r"f\.txt:1: column 7 \(score\) must be in \[0, 1\]"):
        read_detections(path)
    clipped = read_detections(path, clip_scores=True)
    assert clipped[1].scores.tolist() == [0.0, 1.0, 0.4]
    filtered = read_detections(path, clip_scores=True, min_score=0.0)
    assert filtered[1].scores.tolist() == [1.0, 0.4]  # min_score applies to the raw score


@pytest.mark.parametrize(
    ("reader", "text", "line_no", "message"),
    [
        # too few columns
        (read_tracks, "1,1,0,0,5,5\n1,2,0,0,5\n", 2, "expected at least 6 comma-separated"),
        # a word where a number belongs
        (read_tracks, "1,abc,0,0,5,5\n", 1, r"column 2 \(id\) must be a number, got 'abc'"),
        # frame numbers are 1-based
        (read_tracks, "0,1,0,0,5,5\n", 1, "frame numbers start at 1, got 0"),
        # a fractional frame number
        (read_tracks, "1.5,1,0,0,5,5\n", 1, r"column 1 \(frame\) must be a whole number"),
        # a degenerate box
        (read_tracks, "1,1,0,0,0,5\n", 1, "width and height must be > 0"),
        # nan is not a coordinate
        (read_tracks, "1,1,nan,0,5,5\n", 1, r"column 3 \(left\) must be finite"),
        # the same id twice in one frame
        (read_tracks, "1,1,0,0,5,5\n1,1,9,9,5,5\n", 2, "track id 1 appears twice in frame 1"),
        # consider flag must be 0/1
        (read_ground_truth, "1,1,0,0,5,5,2,1,1\n", 1, r"column 7 \(consider\) must be 0 or 1"),
        # duplicate ground-truth id
        (read_ground_truth, "1,4,0,0,5,5\n1,4,0,0,5,5\n", 2, "object id 4 appears twice"),
        # a det.txt needs a score column
        (read_detections, "1,-1,0,0,5,5\n", 1, "expected at least 7 comma-separated"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, reader, text, line_no, message):
    path = _write_text(tmp_path, text, "bad.txt")
    with pytest.raises(MotFormatError, match=message) as info:
        reader(path)
    assert str(info.value).startswith(f"{path}:{line_no}: ")
    assert "line was '" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="MOT file not found"):
        read_tracks(tmp_path / "nope.txt")


def test_mot15_ground_truth_world_coordinates_are_not_read_as_class():
    """MOT15 gt.txt (e.g. PETS09-S2L1) has ten columns: ..., consider, x, y, z (world)."""
    import io

    gt = read_ground_truth(
        io.StringIO(
            "1,9,499,158,31.03,75.17,1,-4.1554,-7.3591,0\n2,9,501,158,31,75,1,-4.1,-7.3,0\n"
        )
    )
    row = gt[1][0]
    assert (row.object_id, row.consider, row.class_id, row.visibility) == (9, True, -1, -1.0)
    assert row.ltwh == (499.0, 158.0, 31.03, 75.17)
    # a MOT16 row with an integer class keeps it
    mot16 = read_ground_truth(io.StringIO("1,1,10,10,5,5,1,7,0.5\n"))
    assert (mot16[1][0].class_id, mot16[1][0].visibility) == (7, 0.5)
