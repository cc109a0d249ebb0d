"""Property-based fuzzing (hypothesis) of the conversion and tracking layers.

Generated ``Image`` (>= 10,000), ``Detection2DArray`` (>= 2,000) and ``CompressedImage``
(>= 1,000) messages, valid and malformed, go through the same functions the node calls:
nothing may raise except the documented rejection (``ImageConversionError``; bad
detections are returned as rejections), and every box the tracker reports is finite and
inside the image. Each test counts the examples it really ran and checks the count.

Kept fast: small images (at most 24 x 20 px, so dlib and OpenCV run on every message), no
example database (runs are reproducible through ``derandomize``), and each hypothesis
example expands into a few messages: hypothesis draws one message's fields, and NumPy,
seeded by the example, derives variants of it (another encoding, step, data length or byte
order; more detections with NaN, inf, 1e155 mixed in). Hypothesis' own cost per drawn
value (~1 ms here) would otherwise make 13,000 messages take minutes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import CompressedImage, Image
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from mot_ros.ros.conversions import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    compressed_to_bgr,
    detection_array_to_detections,
    image_to_bgr,
)
from mot_ros.tracking.tracker import MultiObjectTracker, TrackerConfig
from mot_ros.types import Detections


def _settings(n: int):
    return settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


def _check_tracks(out, width: float, height: float) -> None:
    for t in out:
        x1, y1, x2, y2 = t.xyxy
        assert all(math.isfinite(v) for v in (x1, y1, x2, y2, t.score)), t
        assert 0.0 <= x1 < x2 <= width and 0.0 <= y1 < y2 <= height, (t, width, height)


# --- Image --------------------------------------------------------------------------
_JUNK_ENCODINGS = ("", "32FC1", "jpeg", "BGR8", "rgb8 ", "bayer_xyzw8", "16SC1", "yuv420")
_ALL_ENCODINGS = SUPPORTED_ENCODINGS + _JUNK_ENCODINGS
_IMAGES_PER_EXAMPLE = 8


def _image(encoding, width, height, bpp, step_delta, data_delta, endian, rng) -> Image:
    msg = Image()
    msg.encoding, msg.width, msg.height = encoding, width, height
    msg.step = max(0, width * bpp + step_delta)
    msg.is_bigendian = endian
    size = max(0, height * msg.step + data_delta)
    msg.data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    return msg


@st.composite
def image_batches(draw) -> list[Image]:
    """One hypothesis-drawn image and variants of it, each changing one or two fields."""
    fields = [
        draw(st.sampled_from(_ALL_ENCODINGS)),
        draw(st.integers(0, 24)),
        draw(st.integers(0, 20)),
        draw(st.sampled_from([1, 2, 3, 4, 6, 8])),
        draw(st.integers(-3, 9)),
        draw(st.integers(-20, 20)),
        draw(st.integers(0, 255)),
    ]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch = [_image(*fields, rng)]
    for _ in range(_IMAGES_PER_EXAMPLE - 1):
        v = list(fields)
        for k in rng.choice(7, size=rng.integers(1, 3), replace=False):
            v[k] = (
                _ALL_ENCODINGS[rng.integers(len(_ALL_ENCODINGS))],
                int(rng.integers(0, 25)),
                int(rng.integers(0, 21)),
                int(rng.choice([1, 2, 3, 4, 6, 8])),
                int(rng.integers(-3, 10)),
                int(rng.integers(-20, 21)),
                int(rng.integers(0, 2)),
            )[k]
        batch.append(_image(*v, rng))
    return batch


def test_fuzz_images_through_conversion_and_tracking():
    ran = {"n": 0, "converted": 0}
    tracker = MultiObjectTracker(TrackerConfig(min_hits=1))
    rng = np.random.default_rng(0)

    @_settings(10_000 // _IMAGES_PER_EXAMPLE)
    @given(image_batches())
    def run(batch: list[Image]) -> None:
        for msg in batch:
            ran["n"] += 1
            try:
                frame = image_to_bgr(msg)
            except ImageConversionError:
                continue
            ran["converted"] += 1
            assert frame.dtype == np.uint8 and frame.shape == (msg.height, msg.width, 3)
            assert frame.flags["C_CONTIGUOUS"]
            xy = rng.uniform(-10, 30, (3, 2))
            boxes = np.hstack([xy, xy + rng.uniform(1, 20, (3, 2))])
            dets = Detections(boxes, rng.uniform(0, 1, 3), ("person",) * 3)
            out = tracker.update(frame, dets if ran["n"] % 2 else None)
            _check_tracks(out, msg.width, msg.height)

    run()
    assert ran["n"] >= 10_000, ran
    assert ran["converted"] >= 1_000, f"too few valid images to exercise the tracker: {ran}"


# --- Detection2DArray ----------------------------------------------------------------
_WILD = st.floats(allow_nan=True, allow_infinity=True, width=64)
_COORD = st.one_of(st.floats(-50, 900), _WILD, st.sampled_from([1e155, -1e155, 1e300, 5e-324]))
_SIZE = st.one_of(st.floats(0, 300), _WILD, st.sampled_from([1e155, 0.0, -5.0]))


_SPECIAL = np.array([np.nan, np.inf, -np.inf, 1e155, -1e155, 1e300, 5e-324, 0.0, -5.0])
_ARRAYS_PER_EXAMPLE = 4


def _detection(cx, cy, w, h, results) -> Detection2D:
    det = Detection2D()
    det.bbox.center.position.x, det.bbox.center.position.y = float(cx), float(cy)
    det.bbox.size_x, det.bbox.size_y = float(w), float(h)
    for class_id, score in results:
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id, hyp.hypothesis.score = class_id, float(score)
        det.results.append(hyp)
    return det


_CLASSES = ["", "person", "car", "\u00fc\u0000x"]


@st.composite
def detection_batches(draw) -> list[Detection2DArray]:
    """One message whose detections hypothesis draws value by value, then messages of up
    to 40 NumPy-drawn detections with a drawn share of special values (NaN, inf, 1e155)."""
    first = Detection2DArray()
    for _ in range(draw(st.integers(0, 3))):
        results = [
            (draw(st.sampled_from(_CLASSES)), draw(st.one_of(st.floats(-1, 2), _WILD)))
            for _ in range(draw(st.integers(0, 2)))
        ]
        first.detections.append(
            _detection(draw(_COORD), draw(_COORD), draw(_SIZE), draw(_SIZE), results)
        )
    special_share = draw(st.floats(0.0, 0.5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch = [first]
    for _ in range(_ARRAYS_PER_EXAMPLE - 1):
        n = int(rng.integers(0, 41))
        values = np.column_stack(
            [rng.uniform(-50, 200, (n, 2)), rng.uniform(0, 80, (n, 2)), rng.uniform(-0.5, 1.5, n)]
        )
        special = rng.random(values.shape) < special_share
        values[special] = rng.choice(_SPECIAL, int(special.sum()))
        msg = Detection2DArray()
        for cx, cy, w, h, score in values:
            k = int(rng.integers(0, 3))
            results = [(_CLASSES[int(rng.integers(0, 4))], score)] * k
            msg.detections.append(_detection(cx, cy, w, h, results))
        batch.append(msg)
    return batch


def test_fuzz_detection_arrays_through_tracking():
    ran = {"n": 0, "kept": 0, "rejected": 0}
    # dlib costs ~5-10 ms per carried track whatever the image size: two are enough here
    tracker = MultiObjectTracker(TrackerConfig(min_hits=1, max_correlation_trackers=2))
    width, height = 160, 120
    frame = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)

    @_settings(2_000 // _ARRAYS_PER_EXAMPLE)
    @given(detection_batches(), st.integers(0, 3))
    def run(batch: list[Detection2DArray], mode: int) -> None:
        if mode == 3:
            tracker.reset(keep_ids=True)
        for msg in batch:
            ran["n"] += 1
            dets, rejected = detection_array_to_detections(msg)
            assert len(dets) + len(rejected) == len(msg.detections)
            ran["kept"] += len(dets)
            ran["rejected"] += len(rejected)
            with_frame = frame if mode == 0 else None
            out = tracker.update(with_frame, dets, image_size=(width, height))
            _check_tracks(out, width, height)

    run()
    assert ran["n"] >= 2_000, ran
    assert ran["kept"] > 1_000 and ran["rejected"] > 1_000, ran


# --- CompressedImage -------------------------------------------------------------------
_COMPRESSED_PER_EXAMPLE = 2


@st.composite
def compressed_batches(draw) -> list[CompressedImage]:
    return [draw(compressed_images()) for _ in range(_COMPRESSED_PER_EXAMPLE)]


@st.composite
def compressed_images(draw) -> CompressedImage:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    h, w = draw(st.integers(1, 20)), draw(st.integers(1, 24))
    img = rng.integers(0, 256, (h, w, draw(st.sampled_from([1, 3]))), dtype=np.uint8)
    ext = draw(st.sampled_from([".jpg", ".png"]))
    data = bytearray(cv2.imencode(ext, img)[1].tobytes())
    damage = draw(st.sampled_from(["none", "truncate", "flip", "header", "random", "empty"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif damage == "flip":
        for _ in range(draw(st.integers(1, 20))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    elif damage == "header":  # sizes in the header lie (decompression bomb, zero size)
        value = draw(st.sampled_from([0, 1, 65535, 60000, 2**31 - 1]))
        if ext == ".png":
            data[16:20] = value.to_bytes(4, "big")
        else:
            sof = data.find(b"\xff\xc0")
            if sof > 0:
                data[sof + 5 : sof + 7] = min(value, 65535).to_bytes(2, "big")
    elif damage == "random":
        data = data[:2] + bytes(rng.integers(0, 256, draw(st.integers(0, 300)), dtype=np.uint8))
    elif damage == "empty":
        data = bytearray()
    msg = CompressedImage()
    msg.format = draw(st.sampled_from(["jpeg", "png", "", "bgr8; jpeg compressed bgr8", "x"]))
    msg.data = bytes(data)
    return msg


def test_fuzz_compressed_images_through_conversion_and_tracking():
    ran = {"n": 0, "decoded": 0}
    tracker = MultiObjectTracker(TrackerConfig(min_hits=1))
    dets = Detections(np.array([[2.0, 2.0, 12.0, 14.0]]), np.array([0.9]), ("person",))

    @_settings(1_000 // _COMPRESSED_PER_EXAMPLE)
    @given(compressed_batches())
    def run(batch: list[CompressedImage]) -> None:
        for msg in batch:
            ran["n"] += 1
            try:
                frame = compressed_to_bgr(msg)
            except ImageConversionError:
                continue
            ran["decoded"] += 1
            assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
            _check_tracks(tracker.update(frame, dets), frame.shape[1], frame.shape[0])

    run()
    assert ran["n"] >= 1_000, ran
    assert ran["decoded"] >= 100, ran
