"""Camera-motion estimation and how the tracker uses it, on real pixels.

The estimator is checked against exactly known transforms of a real frame (the sample
video's first frame, or a rendered texture without it); the tracker against the
synthetic moving-camera scenes of :mod:`synthetic`.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from synthetic import CameraPath, ObjectSpec, make_moving_camera_sequence, simulate_detections

from mot_ros.tracking.association import iou_matrix
from mot_ros.tracking.camera_motion import IDENTITY, CameraMotionEstimator, warp_boxes
from mot_ros.tracking.motion import ConstantVelocityBox
from mot_ros.tracking.tracker import MultiObjectTracker, TrackerConfig


def _real_frame() -> np.ndarray:
    from mot_ros.data import sample_video_path

    try:
        capture = cv2.VideoCapture(str(sample_video_path()))
    except FileNotFoundError:
        capture = None
    if capture is not None:
        ok, frame = capture.read()
        capture.release()
        if ok:
            return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, size=(40, 50)).astype(np.uint8)
    return cv2.resize(small, (768, 576), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize(
    "scale, shift",
    [
        (1.0, (7.5, -4.25)),  # pan/tilt
        (1.03, (-12.0, 3.0)),  # zoom in while panning
        (0.98, (0.0, 0.0)),  # zoom out
    ],
)
def test_estimator_recovers_a_known_similarity(scale, shift):
    gray = _real_frame()
    h, w = gray.shape
    # zoom about the image centre plus a shift: cur = scale * prev + t
    t = np.array(shift) + (1.0 - scale) * np.array([w / 2.0, h / 2.0])
    truth = np.array([[scale, 0.0, t[0]], [0.0, scale, t[1]]])
    moved = cv2.warpAffine(gray, truth, (w, h), flags=cv2.INTER_LINEAR)
    estimator = CameraMotionEstimator()
    assert estimator.estimate(gray) is None  # nothing to compare the first frame with
    found = estimator.estimate(moved)
    assert found is not None and estimator.last_inliers >= estimator.min_inliers
    assert abs(np.sqrt(np.linalg.det(found[:, :2])) - scale) < 0.005, found
    # compare where both transforms send the image corners: ~1 px at full resolution
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=float)
    assert np.abs(corners @ found.T - corners @ truth.T).max() < 1.5, found


def test_estimator_gives_the_identity_without_texture_and_none_after_a_size_change():
    estimator = CameraMotionEstimator()
    blank = np.full((240, 320), 90, np.uint8)
    estimator.estimate(blank)
    assert np.array_equal(estimator.estimate(blank), IDENTITY)
    assert estimator.estimate(np.full((120, 160), 90, np.uint8)) is None


def test_estimator_ignores_corners_inside_excluded_boxes():
    """A large object moving on a static background must not be taken for camera motion."""
    gray = _real_frame()
    h, w = gray.shape
    box = (100, 100, 500, 450)
    cur = gray.copy()
    x1, y1, x2, y2 = box
    cur[y1:y2, x1 + 20 : x2] = gray[y1:y2, x1 : x2 - 20]  # the object moved 20 px right
    estimator = CameraMotionEstimator()
    estimator.estimate(gray)
    found = estimator.estimate(cur, exclude=np.array([box], float))
    assert np.abs(found[:, 2]).max() < 0.5 and abs(found[0, 0] - 1.0) < 0.005, found


@pytest.mark.parametrize(
    "kwargs", [{"max_width": 8}, {"max_corners": 2}, {"min_inliers": 1}, {"max_width": 2.5}]
)
def test_estimator_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        CameraMotionEstimator(**kwargs)


def test_warp_moves_centre_scales_size_and_turns_velocity():
    box = ConstantVelocityBox(np.array([100.0, 100.0, 140.0, 200.0]))
    box.x[4:6] = [2.0, 0.0]
    rotate = np.array([[0.0, -2.0, 10.0], [2.0, 0.0, 5.0]])  # 90 degrees, x2, shifted
    warped = box.warp(rotate)
    cx, cy = 120.0, 150.0
    assert np.allclose(box.x[:2], [-2 * cy + 10, 2 * cx + 5])
    assert np.allclose(box.x[2:4], [80.0, 200.0])
    assert np.allclose(box.x[4:6], [0.0, 4.0])
    assert np.allclose(warped, warp_boxes(np.array([[100.0, 100.0, 140.0, 200.0]]), rotate)[0])


def _shaky(seed: int = 11):
    objects = [
        ObjectSpec("person", (40, 90), (420.0, 300.0), (2.0, 0.0)),
        ObjectSpec("person", (40, 90), (860.0, 360.0), (-2.5, 0.0)),
        ObjectSpec("person", (36, 80), (600.0, 520.0), (0.0, 0.0)),
    ]
    return make_moving_camera_sequence(seed, CameraPath("shake", 12.0, seed=seed), objects, 60)


def _ids_per_object(compensate: bool) -> tuple[dict[int, set[int]], float, float]:
    """Ids each object was published with, the fraction of (frame, object) pairs covered by
    a published box at IoU >= 0.5, and the last GMC cost."""
    frames, truth = _shaky()
    rng = np.random.default_rng(3)
    tracker = MultiObjectTracker(TrackerConfig(camera_motion_compensation=compensate))
    ids: dict[int, set[int]] = {}
    covered = total = 0
    for index, (frame, objects) in enumerate(zip(frames, truth, strict=True)):
        dets = simulate_detections(objects, rng, 0.1, 0.03) if index % 2 == 0 else None
        out = tracker.update(frame, dets)
        for object_id, box, _ in objects:
            total += index >= 6  # after confirmation
            for t in out:
                if iou_matrix(np.array([t.xyxy]), np.array([box]))[0, 0] >= 0.5:
                    ids.setdefault(object_id, set()).add(t.track_id)
                    covered += index >= 6
    return ids, covered / total, tracker.camera_motion_ms


def test_compensation_keeps_ids_through_a_shaking_camera():
    """With the detector on every 2nd frame, a camera jumping ~12 px per frame throws the
    predictions (and dlib's search window) off the people between detector runs;
    compensated, each keeps one id and is covered on nearly every frame."""
    on, on_covered, ms = _ids_per_object(True)
    off, off_covered, _ = _ids_per_object(False)
    assert sorted(on) == [1, 2, 3] and all(len(v) == 1 for v in on.values()), on
    assert on_covered >= 0.9 and off_covered < on_covered - 0.1, (on_covered, off_covered)
    assert ms > 0.0  # it ran (and reported its cost)


def test_compensation_is_skipped_when_off_or_without_frames():
    frames, truth = _shaky()
    tracker = MultiObjectTracker(TrackerConfig(camera_motion_compensation=False))
    tracker.update(frames[0], simulate_detections(truth[0], np.random.default_rng(0), 0.0, 0.0))
    tracker.update(frames[1], None)
    assert tracker.camera_motion_ms == 0.0
    tracker = MultiObjectTracker()
    dets = simulate_detections(truth[0], np.random.default_rng(0), 0.0, 0.0)
    tracker.update(None, dets, image_size=(640, 480))
    tracker.update(None, dets, image_size=(640, 480))
    assert tracker.camera_motion_ms == 0.0
