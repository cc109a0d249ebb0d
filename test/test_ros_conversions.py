"""Message <-> core conversions, without a ROS graph."""

import numpy as np
import pytest
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from mot_ros.ros.conversions import (
    ImageConversionError,
    bgr_to_image,
    detection_array_to_detections,
    detection_array_to_tracks,
    image_to_bgr,
    make_label_info,
    tracks_to_detection_array,
)
from mot_ros.types import TrackedObject


def _header(sec=12, nanosec=345, frame_id="cam"):
    h = Header()
    h.stamp.sec, h.stamp.nanosec, h.frame_id = sec, nanosec, frame_id
    return h


def _image(arr, encoding, step=None, pad=0):
    msg = Image()
    msg.height, msg.width = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    row = msg.width * channels
    msg.step = step if step is not None else row + pad
    rows = np.zeros((msg.height, msg.step), np.uint8)
    rows[:, :row] = arr.reshape(msg.height, row)
    msg.encoding = encoding
    msg.data = rows.tobytes()
    return msg


@pytest.fixture
def bgr():
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (7, 5, 3), dtype=np.uint8)


def test_bgr8_round_trip_keeps_pixels_and_header(bgr):
    msg = bgr_to_image(bgr, _header())
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("bgr8", 5, 7, 15)
    assert msg.header.frame_id == "cam" and msg.header.stamp.nanosec == 345
    np.testing.assert_array_equal(image_to_bgr(msg), bgr)


def test_rgb8_is_converted_to_bgr(bgr):
    np.testing.assert_array_equal(image_to_bgr(_image(bgr[:, :, ::-1], "rgb8")), bgr)


def test_mono8_becomes_three_equal_channels(bgr):
    gray = bgr[:, :, 0].copy()
    out = image_to_bgr(_image(gray, "mono8"))
    assert out.shape == (7, 5, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], gray)


def test_row_padding_in_step_is_skipped(bgr):
    np.testing.assert_array_equal(image_to_bgr(_image(bgr, "bgr8", pad=9)), bgr)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda m: setattr(m, "encoding", "16UC1"), "unsupported encoding '16UC1'"),
        (lambda m: setattr(m, "encoding", ""), "unsupported encoding ''"),
        (lambda m: setattr(m, "step", 3), "step 3 is smaller than width*channels"),
        (lambda m: setattr(m, "data", bytes(m.data)[:50]), "data has 50 bytes, expected"),
        (lambda m: setattr(m, "height", 0), "empty image"),
        (lambda m: setattr(m, "height", 1000), "expected height*step"),  # header lies
    ],
)
def test_malformed_images_raise_clear_errors(bgr, mutate, message):
    msg = _image(bgr, "bgr8")
    mutate(msg)
    with pytest.raises(ImageConversionError, match=message.replace("*", r"\*")):
        image_to_bgr(msg)


def test_tracks_become_detection2d_array_with_ids_centers_and_classes():
    tracks = [
        TrackedObject(7, (10.0, 20.0, 50.0, 100.0), 0.9, "person"),
        TrackedObject(12, (0.0, 0.0, 4.0, 2.0), 0.4, "car"),
    ]
    header = _header()
    msg = tracks_to_detection_array(tracks, header)
    assert msg.header == header
    assert [d.id for d in msg.detections] == ["7", "12"]
    first = msg.detections[0]
    assert first.header == header
    assert (first.bbox.center.position.x, first.bbox.center.position.y) == (30.0, 60.0)
    assert (first.bbox.size_x, first.bbox.size_y) == (40.0, 80.0)
    assert first.results[0].hypothesis.class_id == "person"
    assert first.results[0].hypothesis.score == pytest.approx(0.9)
    back = detection_array_to_tracks(msg)
    assert [(t.track_id, t.xyxy, t.class_name) for t in back] == [
        (t.track_id, t.xyxy, t.class_name) for t in tracks
    ]


def test_upstream_detections_take_the_best_hypothesis_and_reject_bad_boxes():
    msg = Detection2DArray()
    det = Detection2D()
    det.bbox.center.position.x, det.bbox.center.position.y = 100.0, 50.0
    det.bbox.size_x, det.bbox.size_y = 20.0, 40.0
    for name, score in (("dog", 0.3), ("person", 0.8)):
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = name, score
        det.results.append(hyp)
    msg.detections.append(det)
    dets = detection_array_to_detections(msg)
    np.testing.assert_allclose(dets.xyxy, [[90, 30, 110, 70]])
    assert dets.class_names == ("person",) and dets.scores[0] == pytest.approx(0.8)

    bad = Detection2D()
    bad.bbox.size_x = 0.0
    msg.detections.append(bad)
    with pytest.raises(ValueError, match="detection 1 has an invalid box"):
        detection_array_to_detections(msg)
    assert len(detection_array_to_detections(Detection2DArray())) == 0


def test_label_info_lists_classes_in_order():
    info = make_label_info(("person", "car"), 0.3, _header())
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(0, "person"), (1, "car")]
    assert info.threshold == pytest.approx(0.3)
