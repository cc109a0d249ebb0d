"""Tests of the multi-object tracker on rendered synthetic sequences with real dlib.

The sequences (``test/synthetic.py``) are real images: textured objects over a noisy
textured background, so the correlation trackers work exactly as on camera frames. The
detector is simulated from the known truth (jitter, misses), which makes every failure
attributable to the tracker.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from synthetic import ObjectSpec, make_sequence, simulate_detections

from mot_ros.tracking.association import associate, coverage_matrix, iou_matrix
from mot_ros.tracking.tracker import MultiObjectTracker, TrackerConfig, TrackState
from mot_ros.types import Detections, TrackedObject

WARM_UP = 10  # frames before new objects can be confirmed (min_hits detector runs)

# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_sequence():
    """The default scenario: crossing, leaving, late entry, occlusion (120 frames)."""
    return make_sequence(seed=0)


def run(frames, truth, config=None, interval=1, miss_rate=0.1, jitter=0.03, seed=1):
    """Track a sequence with simulated detections every ``interval`` frames.

    Returns the tracker, the reported objects per frame and the detections fed per frame.
    """
    tracker = MultiObjectTracker(config)
    rng = np.random.default_rng(seed)
    outputs, fed = [], []
    for f, (frame, objects) in enumerate(zip(frames, truth, strict=True)):
        dets = simulate_detections(objects, rng, miss_rate, jitter) if f % interval == 0 else None
        outputs.append(tracker.update(frame, dets))
        fed.append(dets)
    return tracker, outputs, fed


def match_boxes(objects, boxes, min_iou=0.5):
    """Optimal truth-to-box matching of one frame: {object_id: (box_index, iou)}."""
    if not objects or not len(boxes):
        return {}
    iou = iou_matrix(np.array([o[1] for o in objects]), np.asarray(boxes, dtype=float))
    rows, cols = linear_sum_assignment(-iou)
    return {
        objects[i][0]: (int(j), float(iou[i, j]))
        for i, j in zip(rows, cols, strict=True)
        if iou[i, j] >= min_iou
    }


def match_to_truth(objects, reported: list[TrackedObject], min_iou=0.5):
    """Optimal truth-to-output matching of one frame: {object_id: (track_id, iou)}."""
    matched = match_boxes(objects, [r.xyxy for r in reported], min_iou)
    return {oid: (reported[j].track_id, iou) for oid, (j, iou) in matched.items()}


def ids_per_object(truth, outputs):
    ids: dict[int, set[int]] = {}
    for objects, reported in zip(truth, outputs, strict=True):
        for oid, (tid, _) in match_to_truth(objects, reported).items():
            ids.setdefault(oid, set()).add(tid)
    return ids


def visible_frames(truth, object_id):
    return [f for f, objects in enumerate(truth) if any(o[0] == object_id for o in objects)]


# --- identity over whole sequences -----------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "miss_rate", "min_coverage"),
    [
        (1, 0.1, 0.97),  # detector on every frame, 10 % misses: dlib only bridges the misses
        (3, 0.1, 0.93),  # detector every 3rd frame: dlib carries two frames out of three
        (3, 0.3, 0.88),  # ... and misses 30 %: tentative tracks must survive single misses
    ],
)
def test_each_object_keeps_one_id(default_sequence, interval, miss_rate, min_coverage):
    frames, truth = default_sequence
    _, outputs, _ = run(frames, truth, interval=interval, miss_rate=miss_rate)
    ids = ids_per_object(truth, outputs)

    # Every object was tracked, each under exactly one id (objects 1 and 2 cross each other,
    # 4 hides behind the occluder and later behind 5), and no two objects share an id.
    assert set(ids) == {1, 2, 3, 4, 5}
    assert all(len(v) == 1 for v in ids.values()), ids
    all_ids = [next(iter(v)) for v in ids.values()]
    assert len(set(all_ids)) == len(all_ids)

    # Visible objects are reported with a box on them (IoU >= 0.5) on most frames.
    hits = total = 0
    for objects, reported in zip(truth[WARM_UP:], outputs[WARM_UP:], strict=True):
        total += len(objects)
        hits += len(match_to_truth(objects, reported))
    assert hits / total >= min_coverage

    # Few reported boxes are off every visible object. Some are expected: an object less
    # than half visible (leaving, going behind something) is out of the truth but still
    # carried by dlib until the detector has missed it max_missed_detections times.
    reports = sum(len(r) for r in outputs)
    stray = sum(len(r) - len(match_to_truth(o, r)) for o, r in zip(truth, outputs, strict=True))
    assert stray / reports <= 0.03


def test_late_object_gets_a_new_id(default_sequence):
    frames, truth = default_sequence
    _, outputs, _ = run(frames, truth)
    first_seen = min(visible_frames(truth, 5))
    assert first_seen == 30
    ids_before = {r.track_id for reported in outputs[:first_seen] for r in reported}
    (late_id,) = ids_per_object(truth, outputs)[5]
    assert late_id not in ids_before
    assert late_id > max(ids_before)


def test_object_reidentified_after_occlusion(default_sequence):
    frames, truth = default_sequence
    tracker = MultiObjectTracker()
    rng = np.random.default_rng(1)
    visible = visible_frames(truth, 4)
    hidden = [f for f in range(visible[0], visible[-1]) if f not in visible]
    gap = [f for i, f in enumerate(hidden) if f == hidden[0] + i]  # behind the occluder
    assert len(gap) >= 15  # the scenario really hides object 4 for a while
    ids_before, ids_after, states_in_gap = set(), set(), set()
    for f, (frame, objects) in enumerate(zip(frames, truth, strict=True)):
        reported = tracker.update(frame, simulate_detections(objects, rng, 0.1, 0.03))
        matched = match_to_truth(objects, reported)
        if 4 in matched:
            (ids_before if f < gap[0] else ids_after).add(matched[4][0])
        if f in gap[5:]:  # hidden for a while; not yet visible again
            (old,) = ids_before
            states_in_gap |= {t.state for t in tracker.tracks if t.track_id == old}
    assert len(ids_before) == 1
    assert ids_after == ids_before
    # While hidden the track was lost (kept, not reported), not carried onto the occluder.
    assert states_in_gap == {TrackState.LOST}


@pytest.mark.parametrize("interval", [1, 3])
def test_leaving_object_is_dropped(default_sequence, interval):
    frames, truth = default_sequence
    config = TrackerConfig(max_lost_frames=10, max_missed_detections=2)
    tracker = MultiObjectTracker(config)
    rng = np.random.default_rng(1)
    last_seen = max(visible_frames(truth, 3))  # the car leaves on the right
    assert last_seen < len(frames) - config.max_lost_frames - 2
    car_id = None
    for f, (frame, objects) in enumerate(zip(frames, truth, strict=True)):
        dets = simulate_detections(objects, rng, 0.1, 0.03) if f % interval == 0 else None
        reported = tracker.update(frame, dets)
        matched = match_to_truth(objects, reported)
        if 3 in matched:
            car_id = matched[3][0]
        live = {t.track_id for t in tracker.tracks}
        # Reported for at most (max_missed_detections + 1) detector runs after it left,
        # kept (as lost) for at most max_lost_frames after its last detection.
        if f > last_seen + (config.max_missed_detections + 1) * interval:
            assert car_id not in {r.track_id for r in reported}
        if f > last_seen + config.max_lost_frames + 1:
            assert car_id not in live
    assert car_id is not None


# --- bridging frames without detections --------------------------------------------------------


def zigzag_sequence(speed=6.0, turn_every=5, seed=3):
    """One object that turns by 90 degrees every few frames: motion prediction fails."""
    velocities = [(speed, 0.0), (0.0, speed), (-speed, 0.0), (0.0, -speed)]
    turns = tuple((k * turn_every, velocities[k % 4]) for k in range(1, 20))
    spec = ObjectSpec("person", (50, 50), (250.0, 200.0), velocities[0], turns=turns)
    return make_sequence(seed, num_frames=80, objects=[spec], occluders=[])


def test_frames_without_detections_are_carried_by_dlib():
    frames, truth = zigzag_sequence()
    interval = 4
    tracker, outputs, fed = run(frames, truth, interval=interval, miss_rate=0.0)
    carried = [f for f in range(WARM_UP, len(frames)) if fed[f] is None]
    ious = []
    for f in carried:
        matched = match_to_truth(truth[f], outputs[f], min_iou=0.0)
        ious.append(matched[1][1] if 1 in matched else 0.0)
    # On every frame without a detection, a box is reported on the moving object.
    assert min(ious) >= 0.5, ious
    assert tracker.dlib_updates >= len(carried)
    assert tracker.tracks_confirmed == 1

    # The scenario needs dlib: extrapolating the last detection with the velocity the
    # object had there (what a motion model alone could do) leaves the object on some frames.
    worst = 1.0
    for f in carried:
        last = f - f % interval
        (x1, y1, x2, y2), (nx1, ny1, _, _) = truth[last][0][1], truth[last + 1][0][1]
        vx, vy = nx1 - x1, ny1 - y1
        k = f - last
        guess = [x1 + vx * k, y1 + vy * k, x2 + vx * k, y2 + vy * k]
        worst = min(worst, float(iou_matrix(np.array([guess]), np.array([truth[f][0][1]]))[0, 0]))
    assert worst < 0.5


def test_dlib_is_not_used_when_the_detector_sees_everything(default_sequence):
    frames, truth = default_sequence
    tracker, outputs, _ = run(frames[:40], truth[:40], miss_rate=0.0)
    # Misses are what dlib is for; with none, it never runs (and costs nothing).
    assert tracker.dlib_updates == tracker.dlib_starts == 0
    assert len(match_to_truth(truth[39], outputs[-1])) == len(truth[39]) == 5


def test_none_means_not_run_and_empty_means_nothing_found():
    spec = ObjectSpec("person", (50, 100), (300.0, 150.0), (1.0, 0.0))
    frames, truth = make_sequence(5, num_frames=30, objects=[spec], occluders=[])
    cfg = TrackerConfig(min_hits=2, max_missed_detections=2)
    skipped = MultiObjectTracker(cfg)  # the detector stops running
    blind = MultiObjectTracker(cfg)  # the detector runs but finds nothing
    for f in range(2):
        d = Detections(np.array([truth[f][0][1]]), np.array([0.9]), ("person",))
        out_skipped, out_blind = skipped.update(frames[f], d), blind.update(frames[f], d)
    assert [o.track_id for o in out_skipped] == [o.track_id for o in out_blind] == [1]
    for f in range(2, 30):
        out_skipped = skipped.update(frames[f], None)
        out_blind = blind.update(frames[f], Detections.empty())
        # Skipped detector runs never age a track out: dlib keeps it on the object.
        assert len(out_skipped) == 1 and match_to_truth(truth[f], out_skipped)
        # Runs that find nothing do: dlib bridges max_missed_detections misses, no more.
        misses = f - 1
        assert len(out_blind) == (1 if misses <= cfg.max_missed_detections else 0)


# --- boxes ---------------------------------------------------------------------------------------


def test_reported_boxes_are_smoother_than_detections(default_sequence):
    frames, truth = default_sequence
    _, outputs, fed = run(frames, truth, miss_rate=0.0, jitter=0.06)
    det_ious, out_ious = [], []
    for f in range(WARM_UP, len(frames)):
        out_ious += [iou for _, iou in match_to_truth(truth[f], outputs[f], 0.0).values()]
        det_ious += [iou for _, iou in match_boxes(truth[f], fed[f].xyxy, 0.0).values()]
    # The Kalman filter averages the jitter out: boxes are closer to the truth than the
    # detections they come from.
    assert np.mean(out_ious) > np.mean(det_ious) + 0.02


def test_reported_boxes_are_inside_the_frame(default_sequence):
    frames, truth = default_sequence
    _, outputs, _ = run(frames, truth)
    h, w = frames[0].shape[:2]
    for reported in outputs:
        for r in reported:
            x1, y1, x2, y2 = r.xyxy
            assert 0.0 <= x1 < x2 <= w and 0.0 <= y1 < y2 <= h


# --- classes, false positives, ids ---------------------------------------------------------


def _static_person_frames(n=12):
    spec = ObjectSpec("person", (50, 100), (300.0, 150.0), (0.0, 0.0))
    frames, truth = make_sequence(7, num_frames=n, objects=[spec], occluders=[])
    box = np.array([truth[0][0][1]])
    return frames, box


@pytest.mark.parametrize("class_aware", [True, False])
def test_class_aware_matching(class_aware):
    frames, box = _static_person_frames()
    tracker = MultiObjectTracker(TrackerConfig(min_hits=2, class_aware=class_aware))
    for f in range(3):
        out = tracker.update(frames[f], Detections(box, [0.9], ("person",)))
    assert [(o.track_id, o.class_name) for o in out] == [(1, "person")]
    for f in range(3, 8):  # the same place is now detected as a car
        out = tracker.update(frames[f], Detections(box + 2.0, [0.8], ("car",)))
    if class_aware:
        # The person track does not take the car detection; the car gets its own id.
        assert [(o.track_id, o.class_name) for o in out] == [(2, "car")]
        assert {t.class_name for t in tracker.tracks} == {"car", "person"}
    else:
        # The detection is matched to the existing track, which keeps its id and class.
        assert [(o.track_id, o.class_name, o.frames_since_detection) for o in out] == [
            (1, "person", 0)
        ]
        assert tracker.tracks_started == 1


@pytest.mark.parametrize(
    ("pattern", "reported_at_end", "started"),
    [
        ("D.DD", [1], 1),  # one miss while tentative is forgiven: 3 hits confirm it
        ("D..DD", [], 2),  # two misses in a row discard the candidate; a new one starts
        ("DDD", [1], 1),  # plain confirmation after min_hits detector runs
        ("D-D-D", [1], 1),  # '-' = detector not run: not a miss
    ],
)
def test_tentative_tracks_forgive_one_miss(pattern, reported_at_end, started):
    frames, box = _static_person_frames(len(pattern))
    tracker = MultiObjectTracker(TrackerConfig(min_hits=3))
    for frame, step in zip(frames, pattern, strict=True):
        dets = {"D": Detections(box, [0.9], ("person",)), ".": Detections.empty(), "-": None}
        out = tracker.update(frame, dets[step])
    assert [o.track_id for o in out] == reported_at_end
    assert tracker.tracks_started == started


@pytest.mark.parametrize(
    ("reid_iou_threshold", "expected_ids"),
    [
        (0.1, [1]),  # default: the object reappearing nearby (IoU ~0.2) keeps its id
        (0.3, [2]),  # strict gate: it is taken for a new object
    ],
)
def test_reid_gate_for_lost_tracks(reid_iou_threshold, expected_ids):
    frames, box = _static_person_frames(16)
    cfg = TrackerConfig(min_hits=2, max_missed_detections=1, reid_iou_threshold=reid_iou_threshold)
    tracker = MultiObjectTracker(cfg)
    for f in range(3):
        tracker.update(frames[f], Detections(box, [0.9], ("person",)))
    for f in range(3, 6):  # the detector stops seeing it: lost after two misses
        out = tracker.update(frames[f], Detections.empty())
    assert out == [] and tracker.tracks[0].state is TrackState.LOST
    moved = box + [30.0, 0.0, 30.0, 0.0]  # 50 px wide box shifted by 30 px
    assert 0.1 < iou_matrix(box, moved)[0, 0] < 0.3
    for f in range(6, 9):
        out = tracker.update(frames[f], Detections(moved, [0.9], ("person",)))
    assert [o.track_id for o in out] == expected_ids


def test_one_frame_false_positive_is_never_reported(default_sequence):
    frames, truth = default_sequence
    tracker = MultiObjectTracker()
    rng = np.random.default_rng(1)
    ghost = np.array([[560.0, 20.0, 600.0, 100.0]])  # empty background in frame 20
    for f, (frame, objects) in enumerate(zip(frames[:40], truth[:40], strict=True)):
        dets = simulate_detections(objects, rng, 0.0, 0.03)
        if f == 20:
            assert all(iou_matrix(ghost, np.array([o[1]]))[0, 0] == 0.0 for o in objects)
            dets = Detections(
                np.vstack([dets.xyxy, ghost]),
                np.append(dets.scores, 0.9),
                (*dets.class_names, "person"),
            )
        out = tracker.update(frame, dets)
        if out:
            assert iou_matrix(ghost, np.array([o.xyxy for o in out])).max() == 0.0
    assert tracker.tracks_started == tracker.tracks_confirmed + 1


def test_ids_increase_are_never_reused_and_reset_restarts_them(default_sequence):
    frames, truth = default_sequence
    tracker, outputs, _ = run(frames, truth, interval=3, miss_rate=0.2)
    order: list[int] = []
    for reported in outputs:
        order += [r.track_id for r in reported if r.track_id not in order]
    # Ids appear as 1, 2, 3, ... in order of confirmation, without gaps or repeats.
    assert order == list(range(1, len(order) + 1))
    assert tracker.tracks_confirmed == len(order)
    # Once an id disappears for good it is never given to another object.
    for oid, ids in ids_per_object(truth, outputs).items():
        (tid,) = ids
        owners = {
            o
            for objects, reported in zip(truth, outputs, strict=True)
            for o, (t, _) in match_to_truth(objects, reported).items()
            if t == tid
        }
        assert owners == {oid}

    tracker.reset()
    assert (tracker.tracks, tracker.frames, tracker.tracks_started) == ((), 0, 0)
    rng = np.random.default_rng(2)
    for frame, objects in zip(frames[:10], truth[:10], strict=True):
        out = tracker.update(frame, simulate_detections(objects, rng, 0.0, 0.03))
    assert sorted(o.track_id for o in out) == [1, 2, 3, 4]
    assert tracker.frames == 10


def test_id_counter_belongs_to_the_instance(default_sequence):
    frames, truth = default_sequence
    first, _, _ = run(frames[:10], truth[:10], miss_rate=0.0)
    assert first.tracks_confirmed == 4
    second, outputs, _ = run(frames[:10], truth[:10], miss_rate=0.0)
    assert sorted(o.track_id for o in outputs[-1]) == [1, 2, 3, 4]


def test_min_hits_one_reports_immediately(default_sequence):
    frames, truth = default_sequence
    tracker = MultiObjectTracker(TrackerConfig(min_hits=1))
    dets = simulate_detections(truth[0], np.random.default_rng(0), 0.0, 0.0)
    out = tracker.update(frames[0], dets)
    assert [o.track_id for o in out] == list(range(1, len(truth[0]) + 1))


# --- input checks and configuration ------------------------------------------------------------


def test_resolution_change_is_survived(default_sequence):
    frames, truth = default_sequence
    tracker, _, _ = run(frames[:10], truth[:10], miss_rate=0.0)
    small = np.ascontiguousarray(frames[10][:240, :320])
    out = tracker.update(small, None)  # no crash; dlib cannot carry across a resize
    assert all(o.xyxy[2] <= 320 and o.xyxy[3] <= 240 for o in out)


@pytest.mark.parametrize(
    ("frame", "detections", "error", "message"),
    [
        (np.zeros((48, 64, 3), np.float32), None, ValueError, "uint8"),  # float image
        (np.zeros((48, 64, 4), np.uint8), None, ValueError, "shape"),  # BGRA
        (np.zeros((48,), np.uint8), None, ValueError, "shape"),  # not an image
        (np.zeros((48, 64, 3), np.uint8), [(0, 0, 1, 1)], TypeError, "Detections"),  # raw list
    ],
)
def test_update_rejects_bad_input(frame, detections, error, message):
    with pytest.raises(error, match=message):
        MultiObjectTracker().update(frame, detections)


def test_grayscale_frames_are_accepted():
    frames, box = _static_person_frames(4)
    tracker = MultiObjectTracker(TrackerConfig(min_hits=2))
    for frame in frames[:3]:
        gray = np.ascontiguousarray(frame[:, :, 1])
        out = tracker.update(gray, Detections(box, [0.9], ("person",)))
    assert [o.track_id for o in out] == [1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"iou_threshold": 0.0}, r"iou_threshold must be a number in \(0, 1\], but got 0.0"),
        ({"iou_threshold": 1.5}, "iou_threshold .* got 1.5"),  # above 1
        ({"iou_threshold": float("nan")}, "iou_threshold .* got nan"),  # NaN compares false
        ({"iou_threshold": "0.3"}, "iou_threshold .* got '0.3'"),  # a string from a file
        ({"reid_iou_threshold": 0}, r"reid_iou_threshold must be a number in \(0, 1\]"),
        ({"min_hits": 0}, "min_hits must be an integer >= 1, but got 0"),
        ({"min_hits": 2.5}, "min_hits .* got 2.5"),  # not an integer
        ({"min_hits": True}, "min_hits .* got True"),  # bool is an int in Python
        ({"max_missed_detections": -1}, "max_missed_detections must be an integer >= 0"),
        ({"max_lost_frames": 0}, "max_lost_frames must be an integer >= 1, but got 0"),
        ({"psr_threshold": -1.0}, "psr_threshold must be a finite number >= 0, but got -1.0"),
        ({"psr_threshold": float("inf")}, "psr_threshold .* got inf"),  # would disable dlib
        ({"class_aware": "yes"}, "class_aware must be True or False, but got 'yes'"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrackerConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # defaults
        {"iou_threshold": 1.0, "min_hits": 1, "max_missed_detections": 0, "max_lost_frames": 1},
        {"iou_threshold": 0.1, "reid_iou_threshold": 0.5},  # no order imposed between gates
        {"psr_threshold": 0, "class_aware": False},  # int accepted for a float field
    ],
)
def test_config_accepts_valid_values(kwargs):
    config = TrackerConfig(**kwargs)
    for key, value in kwargs.items():
        assert getattr(config, key) == value


# --- association helpers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),  # identical
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),  # half shifted
        ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),  # touching edges
        ((0, 0, 10, 10), (2, 2, 4, 4), 4 / 100),  # contained
    ],
)
def test_iou_matrix(a, b, expected):
    assert iou_matrix(np.array([a]), np.array([b]))[0, 0] == pytest.approx(expected)
    assert iou_matrix(np.array([b]), np.array([a]))[0, 0] == pytest.approx(expected)


def test_coverage_is_asymmetric():
    small, big = np.array([[2.0, 2.0, 4.0, 4.0]]), np.array([[0.0, 0.0, 10.0, 10.0]])
    assert coverage_matrix(small, big)[0, 0] == pytest.approx(1.0)
    assert coverage_matrix(big, small)[0, 0] == pytest.approx(0.04)


def test_associate_is_optimal_class_aware_and_gated():
    tracks = np.array([[0, 0, 10, 10], [6, 0, 16, 10], [100, 100, 110, 110]], float)
    dets = np.array([[7, 0, 17, 10], [1, 0, 11, 10], [100, 100, 110, 110]], float)
    matches, lone_tracks, lone_dets = associate(
        tracks, ["a", "a", "a"], dets, ["a", "a", "b"], iou_threshold=0.3
    )
    assert matches == [(0, 1), (1, 0)]  # the third pair differs in class
    assert lone_tracks == [2] and lone_dets == [2]
    matches, _, _ = associate(
        tracks, ["a", "a", "a"], dets, ["a", "a", "b"], iou_threshold=0.3, class_aware=False
    )
    assert (2, 2) in matches
    far = np.array([[50, 50, 60, 60]], float)
    assert associate(tracks, ["a"] * 3, far, ["a"], iou_threshold=0.3) == ([], [0, 1, 2], [0])


def test_associate_prefers_global_optimum_over_greedy():
    # Track 0 overlaps det 0 best (0.82) but det 0 is track 1's only candidate; the optimal
    # assignment gives track 0 its second choice so both tracks are matched.
    tracks = np.array([[0, 0, 10, 10], [3, 0, 13, 10]], float)
    dets = np.array([[1, 0, 11, 10], [-3, 0, 7, 10]], float)
    ious = iou_matrix(tracks, dets)
    assert ious[0, 0] > ious[0, 1] and ious[1, 1] < 0.3 <= ious[0, 1]
    matches, _, _ = associate(tracks, ["p", "p"], dets, ["p", "p"], iou_threshold=0.3)
    assert matches == [(0, 1), (1, 0)]


def test_switching_dlib_off_loses_the_zigzag_object_between_detections():
    """The same scenario without correlation tracking: the motion model alone drifts off,
    which is what proves the switch really removes dlib (and what dlib is worth)."""
    frames, truth = zigzag_sequence()
    off = TrackerConfig(use_correlation_tracker=False)
    tracker, outputs, fed = run(frames, truth, config=off, interval=4, miss_rate=0.0)
    assert tracker.dlib_updates == 0 and tracker.dlib_starts == 0
    carried = [f for f in range(WARM_UP, len(frames)) if fed[f] is None]
    on_object = sum(1 in match_to_truth(truth[f], outputs[f]) for f in carried)
    assert on_object < 0.9 * len(carried)


def test_detections_without_frames_are_tracked_on_the_motion_model(default_sequence):
    """Tracking-only mode without images: the same ids as with frames when nothing is
    missed, except that a track without a detection (hidden behind the occluder, where
    dlib carries it when frames come) is not published; boxes clipped to the given image
    size, and no dlib."""
    frames, truth = default_sequence
    rng = np.random.default_rng(5)
    dets = [simulate_detections(objects, rng, 0.0, 0.02) for objects in truth[:60]]
    with_frames, without = MultiObjectTracker(), MultiObjectTracker()
    for frame, d in zip(frames, dets, strict=False):
        a = with_frames.update(frame, d)
        b = without.update(None, d, image_size=(frame.shape[1], frame.shape[0]))
        evidenced = [t.track_id for t in a if t.frames_since_detection == 0]
        assert [t.track_id for t in b] == evidenced
        for t in b:
            x1, y1, x2, y2 = t.xyxy
            assert 0 <= x1 < x2 <= frame.shape[1] and 0 <= y1 < y2 <= frame.shape[0]
    assert without.dlib_updates == 0
    with pytest.raises(ValueError, match="needs a frame, detections, or both"):
        without.update(None, None)


# --- appearance cue ------------------------------------------------------------------------


def _meet_and_turn_back(speed=8.0, closest=12.0, num_frames=40, seed=0):
    """A blue and a red person walk towards each other, nearly meet, and both turn back.

    At the turn the constant-velocity prediction of each lands on the other one's
    detection, so IoU alone hands each id to the other person; their clothes differ.
    """
    rng = np.random.default_rng(seed)
    background = rng.integers(90, 140, size=(240, 320, 3), dtype=np.uint8)
    frames, truth = [], []
    for f in range(num_frames):
        offset = abs(f - num_frames // 2) * speed + closest / 2
        blue = np.array([160 - offset - 15, 80, 160 - offset + 15, 160.0])
        red = np.array([160 + offset - 15, 80, 160 + offset + 15, 160.0])
        image = background.copy()
        for box, bgr in ((red, (40, 40, 200)), (blue, (200, 40, 40))):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            image[y1:y2, x1:x2] = bgr
        frames.append(image)
        truth.append((blue, red))
    return frames, truth


@pytest.mark.parametrize(
    ("config", "handed_over"),
    [
        # IoU alone: each person ends up with the other's id
        (TrackerConfig(appearance_weight=0.0, appearance_gate=1.0), True),
        # colour histograms keep every id on one person
        (TrackerConfig(), False),
    ],
)
def test_appearance_keeps_ids_of_people_who_turn_back(config, handed_over):
    frames, truth = _meet_and_turn_back()
    tracker = MultiObjectTracker(config)
    ids: list[set[int]] = [set(), set()]
    for image, boxes in zip(frames, truth, strict=True):
        out = tracker.update(image, Detections(np.array(boxes), np.ones(2), ("person",) * 2))
        matched = match_boxes(list(enumerate(boxes)), [o.xyxy for o in out])
        for k, (index, _) in matched.items():
            ids[k].add(out[index].track_id)
    assert ids[0] and ids[1]
    assert bool(ids[0] & ids[1]) is handed_over


def test_appearance_needs_frames_and_falls_back_to_iou():
    """Without images (tracking an upstream detector's boxes) association is IoU alone."""
    frames, truth = _meet_and_turn_back()
    tracker = MultiObjectTracker(TrackerConfig())
    for boxes in truth:
        tracker.update(None, Detections(np.array(boxes), np.ones(2), ("person",) * 2), (320, 240))
    assert all(t.appearance is None for t in tracker.tracks)


def _turns_back_unseen(colour_after=(40, 40, 200), num_frames=26, seed=0):
    """A person walks right, turns back while the detector misses it (frames 10-13), and
    is seen again two box widths from where its motion model predicts it; from frame 14
    on the person has ``colour_after`` (another colour: someone else took its place)."""
    rng = np.random.default_rng(seed)
    background = rng.integers(90, 140, size=(240, 320, 3), dtype=np.uint8)
    frames, boxes = [], []
    for f in range(num_frames):
        cx = 100 + 6 * f if f < 10 else 154 - 6 * (f - 9)
        box = np.array([cx - 15, 80, cx + 15, 160.0])
        image = background.copy()
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        image[y1:y2, x1:x2] = (40, 40, 200) if f < 14 else colour_after
        frames.append(image)
        boxes.append(None if 10 <= f < 14 else box)
    return frames, boxes


@pytest.mark.parametrize(
    ("reach", "colour_after", "ids"),
    [
        # no search beyond the IoU gate: the person comes back with a new id
        (0.0, (40, 40, 200), 2),
        # near the prediction and the same colours: the old id comes back
        (2.5, (40, 40, 200), 1),
        # same place but other colours: someone else, who must not inherit the id
        (2.5, (200, 40, 40), 2),
    ],
)
def test_appearance_reidentifies_a_track_that_drifted_off_its_person(reach, colour_after, ids):
    frames, boxes = _turns_back_unseen(colour_after)
    config = TrackerConfig(use_correlation_tracker=False, appearance_reid_distance=reach)
    tracker = MultiObjectTracker(config)
    for image, box in zip(frames, boxes, strict=True):
        dets = Detections.empty() if box is None else Detections(box[None], np.ones(1), ("person",))
        out = tracker.update(image, dets)
    assert len(out) == 1
    assert tracker.tracks_confirmed == ids
    assert out[0].track_id == ids


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"appearance_weight": -0.1}, "appearance_weight must be a finite number >= 0"),
        ({"appearance_weight": float("inf")}, "appearance_weight must be a finite number >= 0"),
        ({"appearance_gate": 0.0}, "appearance_gate must be a number in (0, 1]"),
        ({"appearance_gate": 1.5}, "appearance_gate must be a number in (0, 1]"),
        ({"appearance_gate": True}, "appearance_gate must be a number in (0, 1]"),
        ({"appearance_reid_distance": -1.0}, "appearance_reid_distance must be a finite number"),
    ],
)
def test_appearance_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        TrackerConfig(**kwargs)


# --- evidence, low-score stage, re-update, image size (tracking-only mode) ----------------


def _one(box, score=0.9) -> Detections:
    return Detections(np.array([box], float), np.array([score]), ("person",))


def _walk(x: float) -> list[float]:
    return [x, 100.0, x + 40.0, 200.0]


@pytest.mark.parametrize("coasting, published", [(0, [False] * 3), (1, [True, False, False])])
def test_coasting_tracks_are_kept_but_published_only_within_publish_coasting_frames(
    coasting, published
):
    tracker = MultiObjectTracker(TrackerConfig(publish_coasting_frames=coasting))
    for f in range(5):
        out = tracker.update(None, _one(_walk(100 + 5 * f)), image_size=(640, 480))
    assert [o.track_id for o in out] == [1]
    seen = []
    for _ in range(3):  # the detector misses it: no evidence, only the motion model
        seen.append(bool(tracker.update(None, Detections.empty(), image_size=(640, 480))))
    assert seen == published
    out = tracker.update(None, _one(_walk(140)), image_size=(640, 480))
    assert [o.track_id for o in out] == [1], "kept for association: same id on return"


def test_low_score_detections_extend_tracks_but_start_none():
    config = TrackerConfig(start_score_threshold=0.6)
    tracker = MultiObjectTracker(config)
    for f in range(4):
        tracker.update(None, _one(_walk(100 + 5 * f)), image_size=(640, 480))
    weak = Detections(
        np.array([_walk(120), [400.0, 100.0, 440.0, 200.0]]),
        np.array([0.4, 0.4]),
        ("person", "person"),
    )
    for _ in range(5):
        out = tracker.update(None, weak, image_size=(640, 480))
        assert [(o.track_id, o.frames_since_detection) for o in out] == [(1, 0)]
    assert tracker.tracks_started == 1, "a weak detection alone never starts a track"
    one_stage = MultiObjectTracker(TrackerConfig())
    for _ in range(5):
        one_stage.update(None, weak, image_size=(640, 480))
    assert one_stage.tracks_started == 2


def test_observation_centric_reupdate_replays_the_gap_on_the_straight_line():
    """Re-matched after 4 frames without detections, the re-update leaves the filter
    exactly where a tracker fed the interpolated boxes on those frames would be; the plain
    update does not."""

    def after(reupdate: bool, fill_gap: bool) -> np.ndarray:
        cfg = TrackerConfig(observation_centric_reupdate=reupdate, appearance_reid_distance=0.0)
        tracker = MultiObjectTracker(cfg)
        for f in range(8):
            tracker.update(None, _one(_walk(100 + 10 * f)), image_size=(640, 480))
        for k in range(1, 5):  # last detection at 170; next at 190 after four misses
            gap = _one(_walk(170 + 4 * k)) if fill_gap else Detections.empty()
            tracker.update(None, gap, image_size=(640, 480))
        tracker.update(None, _one(_walk(190)), image_size=(640, 480))
        (track,) = tracker.tracks
        return np.concatenate([track.xyxy, track.velocity])

    replayed = after(True, fill_gap=False)
    assert np.allclose(replayed, after(False, fill_gap=True))
    assert not np.allclose(after(False, fill_gap=False), replayed)


def test_tracks_leaving_the_given_image_size_are_clipped_then_removed():
    tracker = MultiObjectTracker(TrackerConfig(publish_coasting_frames=100))
    x = 560.0
    for _ in range(6):  # walking right at 15 px/frame towards the right edge (640)
        out = tracker.update(None, _one(_walk(x)), image_size=(640, 480))
        x += 15.0
    assert out and out[0].xyxy[2] <= 640.0
    for _ in range(12):  # gone: it coasts out of the frame
        out = tracker.update(None, Detections.empty(), image_size=(640, 480))
        for o in out:
            assert o.xyxy[2] <= 640.0
    assert tracker.tracks == (), "entirely outside the image: removed"


def test_without_any_image_size_boxes_are_not_clipped():
    tracker = MultiObjectTracker(TrackerConfig(min_hits=1))
    out = tracker.update(None, _one([1000.0, 10.0, 1040.0, 90.0]))
    assert out[0].xyxy[2] == pytest.approx(1040.0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"publish_coasting_frames": -1}, "publish_coasting_frames"),
        ({"start_score_threshold": 1.5}, "start_score_threshold"),
        ({"observation_centric_reupdate": 1}, "observation_centric_reupdate"),
        ({"camera_motion_compensation": "yes"}, "camera_motion_compensation"),
    ],
)
def test_new_tracker_options_are_validated(kwargs, name):
    with pytest.raises(ValueError, match=name):
        TrackerConfig(**kwargs)


@pytest.mark.parametrize("fps", [7.0, 30.0])
def test_lost_tracks_are_deleted_after_max_lost_seconds_whatever_the_frame_rate(fps):
    tracker = MultiObjectTracker(TrackerConfig(max_lost_seconds=1.0, max_lost_frames=1000))
    frame = 0
    for _ in range(5):
        tracker.update(None, _one(_walk(100)), image_size=(640, 480), stamp=frame / fps)
        frame += 1
    last_detection = (frame - 1) / fps
    alive_until = None
    while frame < 200:
        tracker.update(None, Detections.empty(), image_size=(640, 480), stamp=frame / fps)
        if tracker.tracks:
            alive_until = frame / fps
        frame += 1
    assert alive_until is not None
    assert 1.0 - 1.0 / fps <= alive_until - last_detection <= 1.0, alive_until


def test_without_stamps_max_lost_frames_applies():
    tracker = MultiObjectTracker(TrackerConfig(max_lost_seconds=1.0, max_lost_frames=4))
    for _ in range(5):
        tracker.update(None, _one(_walk(100)), image_size=(640, 480))
    for _ in range(5):
        tracker.update(None, Detections.empty(), image_size=(640, 480))
    assert tracker.tracks == ()
