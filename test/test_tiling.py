"""Tiled detection (mot_ros.detection.tiling) on the real model and real frames.

The default person model on onnxruntime (the node's default backend) and frames of vtest.avi
with the people checked by eye in fixtures/detector/vtest_people.json. Covered: the tile
geometry, the exact mapping of tile boxes back to frame pixels, a far pedestrian that only
tiling finds, merging (one box per person, cut boxes dropped), the config and parameter
validation, and that tiling off is exactly the base detector.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mot_ros.detection import config as detector_module
from mot_ros.detection.factory import create_detector
from mot_ros.detection.tiling import TiledDetector, Window, merge_passes, tile_windows
from mot_ros.ros.parameters import build_config
from mot_ros.tracking.association import iou_matrix
from mot_ros.types import Detections

PEOPLE = json.loads(
    (Path(__file__).parent / "fixtures" / "detector" / "vtest_people.json").read_text()
)["frames"]
TRUTH = {int(k): np.array([p["xyxy"] for p in v], np.float64) for k, v in PEOPLE.items()}


def DetectorConfig(**kwargs) -> detector_module.DetectorConfig:  # noqa: N802 - reads as the class
    """Tiling is tested on the person SSDLite, whose gains the fixture numbers describe."""
    kwargs.setdefault("preset", "person_ssdlite")
    return detector_module.DetectorConfig(**kwargs)


@pytest.fixture(scope="module")
def base():
    return create_detector(DetectorConfig())


@pytest.fixture(scope="module")
def tiled(base):
    """The grid recommended for far people: 2 columns, 1 row, 30 % overlap."""
    return TiledDetector(base, (2, 1), 0.3)


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "grid", "overlap", "expected"),
    [
        # vtest 2x1 at 0.3: tiles ceil(768 / 1.7) = 452 wide, the second ends at the frame edge
        ((768, 576), (2, 1), 0.3, [(0, 0, 452, 576), (316, 0, 768, 576)]),
        # 2x2 at 0.2: ceil(768 / 1.8) = 427 by ceil(576 / 1.8) = 320, row by row
        (
            (768, 576),
            (2, 2),
            0.2,
            [(0, 0, 427, 320), (341, 0, 768, 320), (0, 256, 427, 576), (341, 256, 768, 576)],
        ),
        # no overlap: an even split
        ((600, 400), (3, 1), 0.0, [(0, 0, 200, 400), (200, 0, 400, 400), (400, 0, 600, 400)]),
        # one tile per axis is the whole axis
        ((640, 480), (1, 1), 0.3, [(0, 0, 640, 480)]),
    ],
)
def test_tile_windows_exact(size, grid, overlap, expected):
    windows = tile_windows(*size, grid, overlap)
    assert [(w.x0, w.y0, w.x1, w.y1) for w in windows] == expected


@pytest.mark.parametrize("size", [(768, 576), (1280, 720), (961, 723), (33, 17)])
@pytest.mark.parametrize("grid", [(2, 1), (2, 2), (3, 2), (8, 8)])
@pytest.mark.parametrize("overlap", [0.0, 0.2, 0.5])
def test_tiles_cover_the_frame_with_the_requested_overlap(size, grid, overlap):
    width, height = size
    windows = tile_windows(width, height, grid, overlap)
    assert len(windows) == grid[0] * grid[1]
    covered = np.zeros((height, width), int)
    for w in windows:
        assert 0 <= w.x0 < w.x1 <= width and 0 <= w.y0 < w.y1 <= height
        assert (w.width, w.height) == (windows[0].width, windows[0].height)  # one network scale
        covered[w.y0 : w.y1, w.x0 : w.x1] += 1
    assert covered.min() >= 1
    for axis, n in ((0, grid[0]), (1, grid[1])):
        starts = sorted({(w.x0, w.x1) if axis == 0 else (w.y0, w.y1) for w in windows})
        assert len(starts) == min(n, len(starts))
        for (a0, a1), (b0, _) in zip(starts, starts[1:], strict=False):
            # rounding tile origins to whole pixels may take one pixel off the overlap
            assert a1 - b0 >= int(overlap * (a1 - a0)) - 1


# --------------------------------------------------------------------------------------------
# The real model
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("grid", [(2, 1), (2, 2)])
def test_tile_boxes_map_exactly_to_frame_pixels(base, vtest_frames, grid):
    """Each tile pass equals the base detector on a copy of the tile, shifted by the tile's
    origin -- bit for bit; and the shifted boxes land on the people checked by eye, which the
    unshifted ones do not (so the test would catch a missing or swapped offset)."""
    tiled = TiledDetector(base, grid, 0.3)
    on_people = unshifted_on_people = 0
    for index in TRUTH:
        frame = vtest_frames[index]
        passes = tiled.passes(frame)
        assert passes[0][0] == Window(0, 0, 768, 576)
        for win, dets in passes[1:]:
            own = base.detect(frame[win.y0 : win.y1, win.x0 : win.x1].copy())
            shift = np.array([win.x0, win.y0, win.x0, win.y0], np.float64)
            assert np.array_equal(dets.xyxy, own.xyxy + shift)
            assert np.array_equal(dets.scores, own.scores)
            assert dets.class_names == own.class_names
            if len(own) and (win.x0 or win.y0):
                on_people += int((iou_matrix(dets.xyxy, TRUTH[index]).max(axis=1) >= 0.5).sum())
                unshifted_on_people += int(
                    (iou_matrix(own.xyxy, TRUTH[index]).max(axis=1) >= 0.5).sum()
                )
    assert on_people >= 8, f"only {on_people} shifted tile boxes on checked people"
    assert unshifted_on_people <= 1


@pytest.mark.parametrize(
    ("frame", "person", "grid"),
    [
        # 82 px tall, walking right; the full frame misses it even at 0.1. 2x1 tiles magnify
        # only across (the tile is as tall as the frame): it needs the second row (~0.65)
        (0, [639.0, 239.0, 684.0, 321.0], (2, 2)),
        # 78 px tall; full-frame score ~0.11, in the right tile of 2x1 ~0.6
        (200, [487.0, 144.0, 518.0, 222.0], (2, 1)),
    ],
)
def test_far_pedestrian_missed_by_the_full_frame_is_found_with_tiles(
    base, vtest_frames, frame, person, grid
):
    image = vtest_frames[frame]
    full = base.detect(image)
    with_tiles = TiledDetector(base, grid, 0.3).detect(image)
    assert len(full) == 0 or iou_matrix(full.xyxy, person).max() < 0.5
    overlaps = iou_matrix(with_tiles.xyxy, person)[:, 0]
    assert overlaps.max() >= 0.5
    assert with_tiles.scores[overlaps.argmax()] >= 0.4  # not a borderline find


def test_recall_on_the_checked_frames_is_not_worse(base, tiled, vtest_frames):
    """At the default threshold the full frame finds 18 of the 21 people, tiling 20 (measured);
    every person the full frame finds is still found."""
    found_full = found_tiled = extra = 0
    for index, truth in TRUTH.items():
        full = iou_matrix(truth, base.detect(vtest_frames[index]).xyxy).max(axis=1, initial=0)
        dets = tiled.detect(vtest_frames[index])
        tiles = iou_matrix(truth, dets.xyxy).max(axis=1, initial=0)
        assert np.all(tiles[full >= 0.5] >= 0.5)
        found_full += int((full >= 0.5).sum())
        found_tiled += int((tiles >= 0.5).sum())
        extra += int((iou_matrix(dets.xyxy, truth).max(axis=1, initial=0) < 0.5).sum())
    assert found_full == 18
    assert found_tiled >= 19
    assert extra <= 2, f"{extra} tiled detections match no checked person"


def test_merging_leaves_one_box_per_person(tiled, vtest_frames):
    """Most people are seen by two or three passes; after merging each has one box."""
    seen_twice = 0
    for index, truth in TRUTH.items():
        passes = tiled.passes(vtest_frames[index])
        raw = np.concatenate([d.xyxy for _, d in passes])
        seen_twice += int(((iou_matrix(truth, raw) >= 0.5).sum(axis=1) >= 2).sum())
        merged = tiled.detect(vtest_frames[index])
        per_person = (iou_matrix(truth, merged.xyxy) >= 0.5).sum(axis=1)
        assert per_person.max(initial=0) <= 1, f"frame {index}: {per_person}"
    assert seen_twice >= 15


def test_box_cut_by_a_tile_border_is_dropped(base, vtest_frames):
    """Frame 400, 2x2 tiles at 0.2 (rows [0, 320) and [256, 576)): the bottom-left tile sees
    only the legs of the walker at (270, 199)-(312, 284), a box starting at the tile's top edge
    y=256. The full frame and the top-left tile see the whole person; one box remains."""
    person = np.array([269.9, 198.7, 312.2, 283.7])
    tiled = TiledDetector(base, (2, 2), 0.2)
    passes = tiled.passes(vtest_frames[400])
    legs = [
        box
        for win, dets in passes
        if win.y0 == 256
        for box in dets.xyxy
        if box[1] <= 256 + 3 and iou_matrix(box, person)[0, 0] > 0.1
    ]
    assert legs, "the bottom tiles no longer see the cut person; pick another case"
    merged = tiled.detect(vtest_frames[400])
    near = iou_matrix(merged.xyxy, person)[:, 0] > 0.1
    assert near.sum() == 1
    assert iou_matrix(merged.xyxy[near], person)[0, 0] >= 0.5


def test_tiling_off_is_exactly_the_base_detector(base, vtest_frames):
    assert not isinstance(create_detector(DetectorConfig()), TiledDetector)
    off = TiledDetector(base, (1, 1))
    for frame in vtest_frames.values():
        a, b = off.detect(frame), base.detect(frame)
        assert np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.scores, b.scores)
        assert a.class_names == b.class_names
    assert off.windows(768, 576) == [Window(0, 0, 768, 576)]


def test_factory_wraps_and_threshold_reaches_the_base(vtest_frames):
    det = create_detector(DetectorConfig(tile_columns=2, tile_rows=1))
    assert isinstance(det, TiledDetector)
    assert (det.grid, det.overlap, det.nms_threshold) == ((2, 1), 0.3, 0.45)
    assert det.class_names == ("person",) and det.threshold == 0.3
    det.threshold = 0.8  # the node changes confidence_threshold at run time
    assert det.base.threshold == 0.8
    dets = det.detect(vtest_frames[200])
    assert len(dets) and dets.scores.min() >= 0.8


# --------------------------------------------------------------------------------------------
# Merging rules on hand-made boxes (frame 200x100, tiles [0, 120) and [80, 200) in x)
# --------------------------------------------------------------------------------------------

FULL, LEFT, RIGHT = Window(0, 0, 200, 100), Window(0, 0, 120, 100), Window(80, 0, 200, 100)


def _dets(*boxes, score=0.5, name="person"):
    return Detections(
        np.array(boxes, np.float64).reshape(-1, 4), [score] * len(boxes), (name,) * len(boxes)
    )


@pytest.mark.parametrize(
    ("passes", "expected"),
    [
        # a box cut by the left tile's right border, the full frame has the whole object: dropped
        (
            [(FULL, _dets([100, 20, 140, 80])), (LEFT, _dets([100, 21, 120, 79], score=0.9))],
            [[100, 20, 140, 80]],
        ),
        # the same cut box with nobody else seeing the object: kept
        ([(FULL, _dets()), (LEFT, _dets([100, 21, 120, 79]))], [[100, 21, 120, 79]]),
        # covered only by a box twice as tall (two people, one above the other): kept
        (
            [(FULL, _dets([95, 0, 125, 100])), (LEFT, _dets([100, 30, 120, 60], score=0.9))],
            [[100, 30, 120, 60], [95, 0, 125, 100]],
        ),
        # two whole boxes of one person from different passes: NMS keeps the better one
        (
            [(FULL, _dets([10, 10, 40, 90])), (LEFT, _dets([11, 12, 41, 88], score=0.9))],
            [[11, 12, 41, 88]],
        ),
        # the right tile's box touches the frame edge, not a tile border: not cut, NMS only
        (
            [(FULL, _dets([170, 20, 200, 80], score=0.9)), (RIGHT, _dets([172, 20, 200, 80]))],
            [[170, 20, 200, 80]],
        ),
    ],
)
def test_merge_rules(passes, expected):
    merged = merge_passes(passes, 200, 100, 0.45)
    assert merged.xyxy.tolist() == expected


def test_merge_keeps_classes_apart():
    passes = [
        (FULL, _dets([10, 10, 40, 90], name="person")),
        (LEFT, _dets([10, 10, 40, 90], name="bicycle", score=0.9)),
    ]
    assert merge_passes(passes, 200, 100, 0.45).class_names == ("bicycle", "person")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tile_columns": 0}, r"tile_columns must be an integer in \[1, 8\]"),
        ({"tile_rows": 9}, r"tile_rows must be an integer in \[1, 8\]"),
        ({"tile_columns": 2.0}, "tile_columns must be an integer"),  # a float, even a whole one
        ({"tile_rows": True}, "tile_rows must be an integer"),  # bool is not a count
        ({"tile_overlap": -0.1}, r"tile_overlap must be in \[0.0, 0.5\]"),
        ({"tile_overlap": 0.6}, r"tile_overlap must be in \[0.0, 0.5\]"),  # tiles mostly repeat
        ({"tile_overlap": "0.2"}, "tile_overlap must be in"),  # a string from a launch file
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DetectorConfig(**kwargs)


@pytest.mark.parametrize(
    ("grid", "overlap", "message"),
    [
        ((2,), 0.2, r"grid must be a pair \(columns, rows\)"),  # one number
        ((2, 0), 0.2, r"tile_rows must be an integer in \[1, 8\]"),
        ((2, 1), 0.9, r"tile_overlap must be in \[0.0, 0.5\]"),
    ],
)
def test_tiled_detector_validation(base, grid, overlap, message):
    with pytest.raises(ValueError, match=message):
        TiledDetector(base, grid, overlap)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"detector.tile_columns": 0}, r"'detector.tile_columns' must be in \[1, 8\]"),
        ({"detector.tile_rows": 9}, r"'detector.tile_rows' must be in \[1, 8\]"),
        ({"detector.tile_overlap": 0.7}, r"'detector.tile_overlap' must be in \[0.0, 0.5\]"),
    ],
)
def test_parameters_are_range_checked(values, message):
    with pytest.raises(ValueError, match=message):
        build_config(values)


def test_parameters_reach_the_config():
    config = build_config({"detector.tile_columns": 2, "detector.tile_overlap": 0.25}).detector
    assert (config.tile_columns, config.tile_rows, config.tile_overlap) == (2, 1, 0.25)


# --------------------------------------------------------------------------------------------
# Geometry from the image size and a time budget
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "pass_ms", "budget", "grid", "full", "passes"),
    [
        # one pass does not fit twice: the full frame alone
        ((1280, 720), 16.0, 20.0, (1, 1), True, 1),
        # two passes: two full-height tiles of ceil(1280 / 1.7) = 753 x 720, no full frame
        ((1280, 720), 16.0, 40.0, (2, 1), False, 2),
        # three: three tiles of ceil(1280 / 2.4) = 534 x 720 magnify more than 2 + the frame
        ((1280, 720), 16.0, 50.0, (3, 1), False, 3),
        # a faster network buys a grid of 2 rows, which keeps the full frame for near people
        ((1280, 720), 8.0, 60.0, (3, 2), True, 7),
        # the budget is never a reason to skip the frame
        ((640, 480), 100.0, 1.0, (1, 1), True, 1),
    ],
)
def test_plan_tiles(size, pass_ms, budget, grid, full, passes):
    from mot_ros.detection.tiling import plan_tiles

    plan = plan_tiles(*size, (300, 300), pass_ms, budget, 0.3)
    assert (plan.grid, plan.full_frame, plan.passes) == (grid, full, passes)
    assert plan.cost_ms == pytest.approx(passes * pass_ms)


def test_plan_magnification_is_worked_out_by_hand():
    from mot_ros.detection.tiling import plan_tiles

    full = plan_tiles(1280, 720, (300, 300), 16.0, 16.0)
    assert full.magnification == pytest.approx((300 / 1280 * 300 / 720) ** 0.5)
    two = plan_tiles(1280, 720, (300, 300), 16.0, 40.0)
    assert two.magnification == pytest.approx((300 / 753 * 300 / 720) ** 0.5)


def test_tiles_without_the_full_frame_cover_it(base):
    strips = TiledDetector(base, (2, 1), 0.3, full_frame=False)
    assert strips.windows(1280, 720) == [Window(0, 0, 753, 720), Window(527, 0, 1280, 720)]


def test_auto_tiling_follows_the_image_size(base, vtest_frames):
    import cv2

    from mot_ros.detection.tiling import AutoTiledDetector

    auto = AutoTiledDetector(base, time_budget_ms=10000.0)
    frame = vtest_frames[200]
    dets = auto.detect(frame)
    first = auto.plan
    assert first is not None and first.passes > 1 and len(dets)
    big = cv2.resize(frame, (1536, 1152))
    auto.detect(big)
    assert auto.plan is not first  # a new size is planned again
    tight = AutoTiledDetector(base, time_budget_ms=0.001)
    assert np.array_equal(tight.detect(frame).xyxy, base.detect(frame).xyxy)
    assert tight.plan.passes == 1


def test_factory_builds_auto_tiling_from_the_budget():
    from mot_ros.detection.tiling import AutoTiledDetector

    det = create_detector(DetectorConfig(time_budget_ms=40.0))
    assert isinstance(det, AutoTiledDetector) and det.time_budget_ms == 40.0
    with pytest.raises(ValueError, match=r"time_budget_ms must be in \[0, 10000\]"):
        DetectorConfig(time_budget_ms=-1.0)
