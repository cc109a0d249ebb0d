"""Message <-> core conversions, without a ROS graph.

Each encoding is checked against OpenCV's own conversion of the same pixels: the test
builds the message from a real frame with OpenCV (cvtColor to the encoding, or a Bayer
mosaic sampled from the frame), and the decoded result must equal OpenCV's conversion back.
"""

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from mot_ros.ros.conversions import (
    MAX_PIXELS,
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    bgr_to_image,
    compressed_to_bgr,
    conversion_backend,
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


def _image(arr, encoding, step=None, pad=0, bigendian=False):
    """An Image message of ``arr`` (uint8 or uint16) with ``pad`` bytes after each row."""
    msg = Image()
    msg.height, msg.width = arr.shape[:2]
    if arr.dtype == np.uint16:
        arr = arr.astype(">u2" if bigendian else "<u2")
    raw = np.ascontiguousarray(arr).view(np.uint8).reshape(msg.height, -1)
    row = raw.shape[1]
    msg.step = step if step is not None else row + pad
    rows = np.full((msg.height, max(msg.step, row)), 0xAB, np.uint8)  # padding is garbage
    rows[:, :row] = raw
    msg.encoding = encoding
    msg.is_bigendian = int(bigendian)
    msg.data = rows[:, : msg.step].tobytes()
    return msg


def _mosaic(bgr, pattern):
    """A Bayer mosaic sampled from a BGR frame; ``pattern`` is ROS's (first row first)."""
    index = {"b": 0, "g": 1, "r": 2}
    out = np.zeros(bgr.shape[:2], bgr.dtype)
    for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        out[dy::2, dx::2] = bgr[dy::2, dx::2, index[pattern[k]]]
    return out


@pytest.fixture(scope="module")
def frame(vtest_frames):
    """A crop of a real frame (odd height, even width)."""
    return np.ascontiguousarray(vtest_frames[100][101:262, 200:440])


def _wide(img8):
    """uint16 whose cv_bridge-style 8-bit version is ``img8`` exactly (v * 257)."""
    return img8.astype(np.uint16) * 257


# encoding -> (message pixels from a BGR frame, OpenCV's own conversion back to BGR)
_CASES = {
    "bgr8": (lambda f: f, lambda a: a),
    "8UC3": (lambda f: f, lambda a: a),
    "rgb8": (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2RGB),
        lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2BGR),
    ),
    "bgra8": (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2BGRA),
        lambda a: cv2.cvtColor(a, cv2.COLOR_BGRA2BGR),
    ),
    "8UC4": (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2BGRA),
        lambda a: cv2.cvtColor(a, cv2.COLOR_BGRA2BGR),
    ),
    "rgba8": (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2RGBA),
        lambda a: cv2.cvtColor(a, cv2.COLOR_RGBA2BGR),
    ),
    "mono8": (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY),
        lambda a: cv2.cvtColor(a, cv2.COLOR_GRAY2BGR),
    ),
    "8UC1": (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2GRAY),
        lambda a: cv2.cvtColor(a, cv2.COLOR_GRAY2BGR),
    ),
    "yuv422": (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2YUV_UYVY),
        lambda a: cv2.cvtColor(a, cv2.COLOR_YUV2BGR_UYVY),
    ),
    "uyvy": (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2YUV_UYVY),
        lambda a: cv2.cvtColor(a, cv2.COLOR_YUV2BGR_UYVY),
    ),
    "yuv422_yuy2": (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2YUV_YUY2),
        lambda a: cv2.cvtColor(a, cv2.COLOR_YUV2BGR_YUY2),
    ),
    "yuyv": (
        lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2YUV_YUY2),
        lambda a: cv2.cvtColor(a, cv2.COLOR_YUV2BGR_YUY2),
    ),
}
for _ros, _cv in (("rggb", "BG"), ("bggr", "RG"), ("gbrg", "GR"), ("grbg", "GB")):
    _code = getattr(cv2, f"COLOR_Bayer{_cv}2BGR")
    _CASES[f"bayer_{_ros}8"] = (
        lambda f, p=_ros: _mosaic(f, p),
        lambda a, c=_code: cv2.cvtColor(a, c),
    )
# 16-bit variants: the same pixels times 257, so the 8-bit result is known exactly
for _name8, _name16 in (
    ("bgr8", "bgr16"),
    ("8UC3", "16UC3"),
    ("rgb8", "rgb16"),
    ("bgra8", "bgra16"),
    ("rgba8", "rgba16"),
    ("mono8", "mono16"),
    ("mono8", "16UC1"),
    *((f"bayer_{p}8", f"bayer_{p}16") for p in ("rggb", "bggr", "gbrg", "grbg")),
):
    _make, _back = _CASES[_name8]
    _CASES[_name16] = (lambda f, m=_make: _wide(m(f)), lambda a, b=_back: b(a))


def test_every_supported_encoding_has_a_case():
    assert set(_CASES) == set(SUPPORTED_ENCODINGS)


@pytest.mark.parametrize("encoding", sorted(_CASES))
@pytest.mark.parametrize("pad", [0, 13])
def test_each_encoding_equals_opencvs_conversion(frame, encoding, pad):
    make, back = _CASES[encoding]
    pixels = make(frame[:, : 2 * (frame.shape[1] // 2)])
    out = image_to_bgr(_image(pixels, encoding, pad=pad))
    expected = back(pixels if pixels.dtype == np.uint8 else (pixels // 257).astype(np.uint8))
    assert out.dtype == np.uint8 and out.shape == (*pixels.shape[:2], 3)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_names_follow_ros_convention(frame, pattern):
    """The demosaiced mosaic is close to the frame it was sampled from; a wrong pattern
    mapping swaps red and blue and is far off."""
    out = image_to_bgr(_image(_mosaic(frame, pattern), f"bayer_{pattern}8"))
    err = np.abs(out.astype(int) - frame)[4:-4, 4:-4].mean(axis=(0, 1))
    swapped = np.abs(out[:, :, ::-1].astype(int) - frame)[4:-4, 4:-4].mean(axis=(0, 1))
    assert err.max() < 12 and swapped.mean() > err.mean() + 3, (err, swapped)


def test_sixteen_bit_scaling_and_byte_order(frame):
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    wide = gray.astype(np.uint16) * 200 + 7  # arbitrary 16-bit values
    expected = cv2.cvtColor(cv2.convertScaleAbs(wide, alpha=255.0 / 65535.0), cv2.COLOR_GRAY2BGR)
    for big in (False, True):
        out = image_to_bgr(_image(wide, "mono16", pad=3, bigendian=big))
        np.testing.assert_array_equal(out, expected)
    # the same bytes read with the wrong byte order differ: is_bigendian is honoured
    msg = _image(wide, "mono16", bigendian=True)
    msg.is_bigendian = 0
    assert np.abs(image_to_bgr(msg).astype(int) - expected).max() > 50


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
        (lambda m: setattr(m, "encoding", "32FC1"), "unsupported encoding '32FC1'"),
        (lambda m: setattr(m, "encoding", ""), "unsupported encoding ''"),
        (lambda m: setattr(m, "step", 3), "step 3 is smaller than width*channels"),
        (lambda m: setattr(m, "data", bytes(m.data)[:50]), "data has 50 bytes, expected"),
        (lambda m: setattr(m, "height", 0), "empty image"),
        (lambda m: setattr(m, "height", 1000), "expected height*step"),  # header lies
        (lambda m: (setattr(m, "encoding", "yuv422"), setattr(m, "step", 10)), "even width"),
        (lambda m: (setattr(m, "encoding", "bayer_rggb8"), setattr(m, "width", 1)), "2x2"),
        (lambda m: setattr(m, "width", MAX_PIXELS), "exceeds"),
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
    dets, rejected = detection_array_to_detections(msg)
    np.testing.assert_allclose(dets.xyxy, [[90, 30, 110, 70]])
    assert dets.class_names == ("person",) and dets.scores[0] == pytest.approx(0.8)
    assert rejected == []

    # bad detections are dropped one by one; the good one stays
    for cx, w, h, score in (
        (0.0, 0.0, 10.0, 0.5),  # empty box
        (384.0, 10.0, 1e155, 0.9),  # the box that overflowed the motion model
        (float("nan"), 10.0, 10.0, 0.5),
        (384.0, 10.0, 10.0, float("nan")),
    ):
        bad = Detection2D()
        bad.bbox.center.position.x, bad.bbox.size_x, bad.bbox.size_y = cx, w, h
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.score = score
        bad.results.append(hyp)
        msg.detections.append(bad)
    dets, rejected = detection_array_to_detections(msg)
    np.testing.assert_allclose(dets.xyxy, [[90, 30, 110, 70]])
    assert len(rejected) == 4 and "detection 1 has an invalid box" in rejected[0]
    assert "detection 4 has no finite score" in rejected[3]
    empty, rejected = detection_array_to_detections(Detection2DArray())
    assert len(empty) == 0 and rejected == []


def _compressed(data: bytes, fmt: str) -> CompressedImage:
    msg = CompressedImage()
    msg.format = fmt
    msg.data = data
    return msg


def test_compressed_jpeg_and_png_decode_like_opencv(frame):
    for ext, fmt in ((".jpg", "bgr8; jpeg compressed bgr8"), (".png", "png")):
        ok, buf = cv2.imencode(ext, frame)
        assert ok
        out = compressed_to_bgr(_compressed(buf.tobytes(), fmt))
        np.testing.assert_array_equal(out, cv2.imdecode(buf, cv2.IMREAD_COLOR))
    ok, gray_png = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    assert compressed_to_bgr(_compressed(gray_png.tobytes(), "mono8; png compressed")).shape == (
        *frame.shape[:2],
        3,
    )


def test_corrupt_compressed_images_are_rejected(frame):
    jpg = cv2.imencode(".jpg", frame)[1].tobytes()
    png = cv2.imencode(".png", frame)[1].tobytes()
    bomb = bytearray(png)
    bomb[16:24] = (60000).to_bytes(4, "big") * 2  # header claims 60000 x 60000
    scrambled = bytearray(png)
    scrambled[100:400] = bytes(300)
    for data, message in (
        (b"", "neither JPEG nor PNG"),
        (b"GIF89a" + bytes(50), "neither JPEG nor PNG"),
        (jpg[: len(jpg) // 2], "truncated JPEG"),
        (png[: len(png) // 2], "corrupt png data"),
        (bytes(scrambled), "corrupt png data"),
        (bytes(bomb), "too large"),
        (png[:20], "corrupt png header"),
        (jpg[:2] + bytes(40) + b"\xff\xd9", "corrupt jpeg header"),
    ):
        with pytest.raises(ImageConversionError, match=message):
            compressed_to_bgr(_compressed(data, "jpeg"))
    with pytest.raises(ImageConversionError, match="compressedDepth"):
        compressed_to_bgr(_compressed(png, "16UC1; compressedDepth png"))


def test_cv_bridge_is_used_only_where_it_agrees():
    """On a robot (cv_bridge importable) it must agree with the own conversion on every
    encoding it can do; here it is absent and the own path says so."""
    backend = conversion_backend()
    try:
        import cv_bridge  # noqa: F401
    except ImportError:
        assert backend.startswith("cv_bridge not usable"), backend
        return
    assert "cv_bridge for" in backend, backend


def test_label_info_lists_classes_in_order():
    info = make_label_info(("person", "car"), 0.3, _header())
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(0, "person"), (1, "car")]
    assert info.threshold == pytest.approx(0.3)
