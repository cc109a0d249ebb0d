"""Conversions between ROS messages and the core types, in one place.

This module imports message packages but not rclpy, so it is tested without a graph.
``cv_bridge`` is deliberately not used: the ROS 2 one is not available outside a ROS
distribution and the three encodings a camera sends are a few lines of NumPy; the checks
below reject the malformed images (wrong step, short data) that would make cv_bridge raise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import (
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesisWithPose,
    VisionClass,
)

from mot_ros.types import Detections, TrackedObject

# encoding -> (channels, conversion to BGR or None when already BGR)
_ENCODINGS: dict[str, tuple[int, int | None]] = {}


def _encodings() -> dict[str, tuple[int, int | None]]:
    if not _ENCODINGS:
        import cv2

        _ENCODINGS.update(
            {
                "bgr8": (3, None),
                "rgb8": (3, cv2.COLOR_RGB2BGR),
                "mono8": (1, cv2.COLOR_GRAY2BGR),
                "8UC1": (1, cv2.COLOR_GRAY2BGR),
                "8UC3": (3, None),
                "bgra8": (4, cv2.COLOR_BGRA2BGR),
                "rgba8": (4, cv2.COLOR_RGBA2BGR),
            }
        )
    return _ENCODINGS


SUPPORTED_ENCODINGS = ("bgr8", "rgb8", "mono8", "8UC1", "8UC3", "bgra8", "rgba8")


class ImageConversionError(ValueError):
    """The image message cannot be read; the message says why."""


def image_to_bgr(msg: Image) -> np.ndarray:
    """A contiguous HxWx3 uint8 BGR array from a ``sensor_msgs/Image``.

    Raises :class:`ImageConversionError` for an unsupported encoding, a zero size, a step
    smaller than a row, or data shorter than ``height * step``: all things a driver or a
    bag can send and that must not reach OpenCV.
    """
    table = _encodings()
    if msg.encoding not in table:
        raise ImageConversionError(
            f"unsupported encoding '{msg.encoding}' (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    channels, code = table[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    row = width * channels
    if step < row:
        raise ImageConversionError(
            f"step {step} is smaller than width*channels = {width}*{channels} = {row}"
        )
    data = msg.data
    size = len(data)
    if size < height * step:
        raise ImageConversionError(
            f"data has {size} bytes, expected height*step = {height}*{step} = {height * step}"
        )
    buf = np.frombuffer(
        memoryview(data) if not isinstance(data, np.ndarray) else data,
        dtype=np.uint8,
        count=height * step,
    )
    img = buf.reshape(height, step)[:, :row].reshape(height, width, channels)
    if code is None:
        return np.ascontiguousarray(img)
    import cv2

    return cv2.cvtColor(img if channels > 1 else img[:, :, 0], code)


def bgr_to_image(img: np.ndarray, header: Header) -> Image:
    """A bgr8 ``sensor_msgs/Image`` carrying ``header``."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 image, got {img.dtype} {img.shape}")
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(img.shape[0]), int(img.shape[1])
    msg.encoding = "bgr8"
    msg.is_bigendian = 0
    msg.step = int(img.shape[1] * 3)
    msg.data = np.ascontiguousarray(img).tobytes()
    return msg


def tracks_to_detection_array(tracks: Iterable[TrackedObject], header: Header) -> Detection2DArray:
    """The one place where tracks become a ``vision_msgs/Detection2DArray``.

    ``id`` is the track id as a string, the box is center/size in pixels, and the single
    hypothesis carries the class name and the score of the last matched detection. Every
    ``Detection2D`` gets the image's header too, as consumers of single detections expect.
    """
    out = Detection2DArray()
    out.header = header
    for track in tracks:
        x1, y1, x2, y2 = track.xyxy
        det = Detection2D()
        det.header = header
        det.id = str(track.track_id)
        det.bbox.center.position.x = (x1 + x2) / 2.0
        det.bbox.center.position.y = (y1 + y2) / 2.0
        det.bbox.center.theta = 0.0
        det.bbox.size_x = x2 - x1
        det.bbox.size_y = y2 - y1
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = track.class_name
        hyp.hypothesis.score = float(track.score)
        det.results.append(hyp)
        out.detections.append(det)
    return out


def detection_array_to_detections(msg: Detection2DArray) -> Detections:
    """Upstream detections (tracking-only mode) as :class:`Detections`.

    Each Detection2D's best hypothesis gives class and score; a detection without results
    gets class "object" and score 1. Boxes with non-positive size are rejected with a
    ValueError naming the index, since they cannot be tracked.
    """
    boxes, scores, names = [], [], []
    for i, det in enumerate(msg.detections):
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        if not (w > 0 and h > 0) or not np.isfinite([cx, cy, w, h]).all():
            raise ValueError(f"detection {i} has an invalid box (center {cx},{cy} size {w}x{h})")
        boxes.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        if det.results:
            best = max(det.results, key=lambda r: r.hypothesis.score)
            names.append(best.hypothesis.class_id or "object")
            scores.append(min(max(float(best.hypothesis.score), 0.0), 1.0))
        else:
            names.append("object")
            scores.append(1.0)
    if not boxes:
        return Detections.empty()
    return Detections(np.array(boxes), np.array(scores), tuple(names))


def make_label_info(class_names: Sequence[str], threshold: float, header: Header) -> LabelInfo:
    """``vision_msgs/LabelInfo``: the detector's class map (ids as the model numbers them)."""
    msg = LabelInfo()
    msg.header = header
    msg.threshold = float(threshold)
    for i, name in enumerate(class_names):
        vc = VisionClass()
        vc.class_id = i
        vc.class_name = name
        msg.class_map.append(vc)
    return msg


def detection_array_to_tracks(msg: Detection2DArray) -> list[TrackedObject]:
    """The inverse of :func:`tracks_to_detection_array`, for recorders and tests.

    Raises ``ValueError`` for a detection whose ``id`` is not an integer track id.
    """
    tracks = []
    for det in msg.detections:
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        w, h = det.bbox.size_x, det.bbox.size_y
        hyp = det.results[0].hypothesis if det.results else None
        tracks.append(
            TrackedObject(
                track_id=int(det.id),
                xyxy=(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2),
                score=float(hyp.score) if hyp else 1.0,
                class_name=hyp.class_id if hyp else "object",
            )
        )
    return tracks
