"""Conversions between ROS messages and the core types, in one place.

This module imports message packages but not rclpy, so it is tested without a graph.

Images: every encoding a common camera driver or bag sends becomes one HxWx3 uint8 BGR
array (:func:`image_to_bgr`), honouring ``step`` row padding and ``is_bigendian``;
JPEG and PNG ``CompressedImage`` messages are decoded by :func:`compressed_to_bgr`.
16-bit images are scaled to 8 bits as cv_bridge does (``v * 255 / 65535``), Bayer mosaics
are demosaiced and YUV 4:2:2 converted with OpenCV. Every malformed message (unknown
encoding, zero size, a step smaller than a row, short data, corrupt or truncated
compressed data, a decompression bomb) raises :class:`ImageConversionError` before
anything reaches OpenCV.

cv_bridge: on a robot the ROS 2 ``cv_bridge`` is used for the encodings where it is
importable and agrees with this module's own conversion on a probe image (checked once;
see :func:`conversion_backend`). The own path exists because cv_bridge is not on any
registry the project's CI reaches (the PyPI package of that name is a ROS 1 copy that
fails with NumPy 2) and because cv_bridge itself raises on the malformed messages above.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import (
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesisWithPose,
    VisionClass,
)

from mot_ros.types import Detections, TrackedObject, sane_boxes

# Largest image (pixels) accepted, raw or compressed: 50 MP is above any robot camera and
# stops a few-byte PNG that claims 60000 x 60000 from allocating gigabytes.
MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class _Encoding:
    channels: int
    bytes_per_channel: int  # 1 or 2
    to_bgr: str | None  # name of the cv2 colour code, None when already BGR


def _table() -> dict[str, _Encoding]:
    e = _Encoding
    t = {
        "bgr8": e(3, 1, None),
        "8UC3": e(3, 1, None),
        "rgb8": e(3, 1, "COLOR_RGB2BGR"),
        "bgra8": e(4, 1, "COLOR_BGRA2BGR"),
        "8UC4": e(4, 1, "COLOR_BGRA2BGR"),
        "rgba8": e(4, 1, "COLOR_RGBA2BGR"),
        "mono8": e(1, 1, "COLOR_GRAY2BGR"),
        "8UC1": e(1, 1, "COLOR_GRAY2BGR"),
        "bgr16": e(3, 2, None),
        "16UC3": e(3, 2, None),
        "rgb16": e(3, 2, "COLOR_RGB2BGR"),
        "bgra16": e(4, 2, "COLOR_BGRA2BGR"),
        "rgba16": e(4, 2, "COLOR_RGBA2BGR"),
        "mono16": e(1, 2, "COLOR_GRAY2BGR"),
        "16UC1": e(1, 2, "COLOR_GRAY2BGR"),
        # YUV 4:2:2, two bytes per pixel. ROS "yuv422" is UYVY byte order, "yuv422_yuy2" YUYV.
        "yuv422": e(2, 1, "COLOR_YUV2BGR_UYVY"),
        "uyvy": e(2, 1, "COLOR_YUV2BGR_UYVY"),
        "yuv422_yuy2": e(2, 1, "COLOR_YUV2BGR_YUY2"),
        "yuyv": e(2, 1, "COLOR_YUV2BGR_YUY2"),
    }
    # OpenCV names a Bayer pattern by the second row's first two pixels, ROS by the first
    # row's: ROS rggb is OpenCV's BayerBG (the mapping cv_bridge uses too).
    for ros, cv in (("rggb", "BG"), ("bggr", "RG"), ("gbrg", "GR"), ("grbg", "GB")):
        t[f"bayer_{ros}8"] = e(1, 1, f"COLOR_Bayer{cv}2BGR")
        t[f"bayer_{ros}16"] = e(1, 2, f"COLOR_Bayer{cv}2BGR")
    return t


_ENCODINGS = _table()
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS)


class ImageConversionError(ValueError):
    """The image message cannot be read; the message says why."""


def image_to_bgr(msg: Image) -> np.ndarray:
    """A contiguous HxWx3 uint8 BGR array from a ``sensor_msgs/Image``.

    Raises :class:`ImageConversionError` for an unsupported encoding, a zero or huge size,
    a step smaller than a row, data shorter than ``height * step``, or a size the encoding
    cannot have (odd width in YUV 4:2:2, Bayer smaller than 2x2).
    """
    enc = _ENCODINGS.get(msg.encoding)
    if enc is None:
        raise ImageConversionError(
            f"unsupported encoding '{msg.encoding}' (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    if height * width > MAX_PIXELS:
        raise ImageConversionError(f"image {width}x{height} exceeds {MAX_PIXELS} pixels")
    row = width * enc.channels * enc.bytes_per_channel
    if step < row:
        raise ImageConversionError(
            f"step {step} is smaller than width*channels*bytes = "
            f"{width}*{enc.channels}*{enc.bytes_per_channel} = {row}"
        )
    data = msg.data
    size = len(data)
    if size < height * step:
        raise ImageConversionError(
            f"data has {size} bytes, expected height*step = {height}*{step} = {height * step}"
        )
    if enc.channels == 2 and width % 2:
        raise ImageConversionError(f"{msg.encoding} needs an even width, got {width}")
    if msg.encoding.startswith("bayer_") and (width < 2 or height < 2):
        raise ImageConversionError(
            f"{msg.encoding} needs at least 2x2 pixels, got {width}x{height}"
        )
    bridged = _bridge_convert(msg)
    if bridged is not None:
        return bridged
    buf = np.frombuffer(
        memoryview(data) if not isinstance(data, np.ndarray) else data,
        dtype=np.uint8,
        count=height * step,
    )
    rows = buf.reshape(height, step)[:, :row]
    if enc.bytes_per_channel == 2:
        order = ">" if msg.is_bigendian else "<"
        wide = np.ascontiguousarray(rows).view(f"{order}u2").astype(np.uint16, copy=False)
        img = _to_8bit(wide).reshape(height, width, enc.channels)
    else:
        img = rows.reshape(height, width, enc.channels)
    return _color_to_bgr(img, enc)


def _to_8bit(wide: np.ndarray) -> np.ndarray:
    """16 -> 8 bits the way cv_bridge does it: ``round(v * 255 / 65535)``."""
    return ((wide.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _color_to_bgr(img: np.ndarray, enc: _Encoding) -> np.ndarray:
    if enc.to_bgr is None:
        return np.ascontiguousarray(img)
    import cv2

    src = img[:, :, 0] if enc.channels == 1 else img
    try:
        return cv2.cvtColor(np.ascontiguousarray(src), getattr(cv2, enc.to_bgr))
    except cv2.error as exc:  # pragma: no cover - the checks above should prevent it
        raise ImageConversionError(f"OpenCV could not convert the image: {exc}") from exc


# --- compressed images ----------------------------------------------------------------
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8"


def compressed_to_bgr(msg: CompressedImage) -> np.ndarray:
    """An HxWx3 uint8 BGR array from a JPEG or PNG ``sensor_msgs/CompressedImage``.

    ``format`` follows compressed_image_transport (``"jpeg"``, ``"png"``, or
    ``"bgr8; jpeg compressed bgr8"``); the data's own signature decides, so an empty or
    wrong format string still works for valid data. Raises :class:`ImageConversionError`
    for other formats (``compressedDepth``, ...), data whose header is missing, whose size
    exceeds :data:`MAX_PIXELS`, that is truncated, or that OpenCV cannot decode.
    """
    fmt = str(msg.format).lower()
    if "compresseddepth" in fmt:
        raise ImageConversionError("compressedDepth (16-bit depth PNG) images are not supported")
    data = bytes(msg.data)
    if data.startswith(_PNG_MAGIC):
        kind, size = "png", _png_size(data)
    elif data.startswith(_JPEG_MAGIC):
        kind, size = "jpeg", _jpeg_size(data)
        if b"\xff\xd9" not in data[-64:]:
            raise ImageConversionError("truncated JPEG: no end-of-image marker")
    else:
        raise ImageConversionError(
            f"compressed data ({len(data)} bytes, format '{msg.format}') is neither JPEG nor PNG"
        )
    if size is None:
        raise ImageConversionError(f"corrupt {kind} header")
    width, height = size
    if width == 0 or height == 0 or width * height > MAX_PIXELS:
        raise ImageConversionError(f"{kind} size {width}x{height} is empty or too large")
    import cv2

    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.shape[:2] != (height, width):
        raise ImageConversionError(f"corrupt {kind} data ({len(data)} bytes)")
    return np.ascontiguousarray(img)


def _png_size(data: bytes) -> tuple[int, int] | None:
    # signature (8), IHDR length (4), "IHDR" (4), width (4), height (4)
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the first start-of-frame marker, without decoding."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if length < 2:
            return None
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > n:
                return None
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    return None


# --- cv_bridge, where a ROS 2 distribution provides it -----------------------------------
_BRIDGE: dict[str, object] = {}


def _probe_image(encoding: str) -> Image:
    """A small deterministic image in ``encoding`` (8x6, padded rows)."""
    enc = _ENCODINGS[encoding]
    rng = np.random.default_rng(7)
    width, height = 8, 6
    row = width * enc.channels * enc.bytes_per_channel
    step = row + 4
    data = rng.integers(0, 256, size=height * step, dtype=np.uint8)
    msg = Image()
    msg.height, msg.width, msg.step, msg.encoding = height, width, step, encoding
    msg.is_bigendian = 0
    msg.data = data.tobytes()
    return msg


def _load_bridge() -> None:
    """Import cv_bridge once and keep the encodings where it agrees with the own path."""
    _BRIDGE["bridge"] = None
    _BRIDGE["encodings"] = frozenset()
    try:
        from cv_bridge import CvBridge

        bridge = CvBridge()
    except Exception as exc:  # noqa: BLE001 - absent or broken: the own path is used
        _BRIDGE["reason"] = f"cv_bridge not usable ({type(exc).__name__}: {exc})"
        return
    agreed = []
    for encoding in SUPPORTED_ENCODINGS:
        probe = _probe_image(encoding)
        try:
            theirs = np.asarray(bridge.imgmsg_to_cv2(probe, "bgr8"))
        except Exception:  # noqa: BLE001, S112 - cv_bridge cannot do this encoding
            continue
        ours = image_to_bgr(probe)
        if theirs.shape == ours.shape and np.abs(theirs.astype(int) - ours).max() <= 1:
            agreed.append(encoding)
    _BRIDGE["bridge"] = bridge if agreed else None
    _BRIDGE["encodings"] = frozenset(agreed)
    _BRIDGE["reason"] = (
        f"cv_bridge for {', '.join(agreed)}; own conversion for the rest"
        if agreed
        else "cv_bridge disagrees with the own conversion on every encoding: not used"
    )


def _bridge_convert(msg: Image) -> np.ndarray | None:
    if "bridge" not in _BRIDGE:
        _load_bridge()
    bridge = _BRIDGE["bridge"]
    if bridge is None or msg.encoding not in _BRIDGE["encodings"]:
        return None
    try:
        return np.ascontiguousarray(bridge.imgmsg_to_cv2(msg, "bgr8"))
    except Exception:  # noqa: BLE001 - fall back to the own path, which explains the failure
        return None


def conversion_backend() -> str:
    """Which conversion :func:`image_to_bgr` uses, in words (logged by the node at start)."""
    if "bridge" not in _BRIDGE:
        _load_bridge()
    return str(_BRIDGE["reason"])


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


def detection_array_to_detections(msg: Detection2DArray) -> tuple[Detections, list[str]]:
    """Upstream detections (tracking-only mode) as :class:`Detections`, one by one.

    Each Detection2D's best hypothesis (finite scores only) gives class and score, clamped
    to [0, 1]; a detection without results gets class "object" and score 1. A detection
    that cannot be tracked (non-finite, non-positive size, coordinates beyond
    :data:`mot_ros.types.MAX_COORDINATE`, no finite score) is left out and its reason
    returned, so one bad box does not cost the message its good ones.
    """
    dets = msg.detections
    n = len(dets)
    values = np.empty((n, 4), dtype=np.float64)
    scores = np.ones(n, dtype=np.float64)  # no results: score 1
    names = ["object"] * n
    has_score = np.ones(n, dtype=bool)
    for i, det in enumerate(dets):
        bbox = det.bbox
        values[i] = (bbox.center.position.x, bbox.center.position.y, bbox.size_x, bbox.size_y)
        if det.results:
            best = None
            for r in det.results:
                score = r.hypothesis.score
                if (
                    score == score
                    and abs(score) != float("inf")
                    and (best is None or score > best.hypothesis.score)
                ):
                    best = r
            if best is None:
                has_score[i] = False
                continue
            names[i] = best.hypothesis.class_id or "object"
            scores[i] = min(max(float(best.hypothesis.score), 0.0), 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        half = values[:, 2:] / 2.0
        xyxy = np.hstack([values[:, :2] - half, values[:, :2] + half])
        good_box = (values[:, 2] > 0) & (values[:, 3] > 0) & sane_boxes(xyxy)
    rejected = []
    for i in np.flatnonzero(~(good_box & has_score)):
        cx, cy, w, h = values[i]
        rejected.append(
            f"detection {i} has an invalid box (center {cx},{cy} size {w}x{h})"
            if not good_box[i]
            else f"detection {i} has no finite score"
        )
    keep = good_box & has_score
    if not keep.any():
        return Detections.empty(), rejected
    kept_names = tuple(name for name, k in zip(names, keep, strict=True) if k)
    return Detections(xyxy[keep], scores[keep], kept_names), rejected


def make_label_info(
    class_names: Sequence[str],
    threshold: float,
    header: Header,
    class_ids: Sequence[int] | None = None,
) -> LabelInfo:
    """``vision_msgs/LabelInfo``: the detector's class map. Ids are the label map's (counting
    from 0 without background, or as a numbered labels file gives them, e.g. the COCO ids with
    their gaps); ``None`` numbers ``class_names`` from 0."""
    msg = LabelInfo()
    msg.header = header
    msg.threshold = float(threshold)
    ids = range(len(class_names)) if class_ids is None else class_ids
    if len(ids) != len(class_names):
        raise ValueError(
            f"class_ids must have one id per class name ({len(class_names)}), got {len(ids)}"
        )
    for i, name in zip(ids, class_names, strict=True):
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
