"""The checked value types that flow between the detector, the tracker and the outputs.

Every stage speaks these two types, so a shape or range error is caught where it is
made (in ``__post_init__``) instead of three stages later inside OpenCV or a message.
Boxes are ``(x1, y1, x2, y2)`` in pixels of the input image, x to the right, y down,
``x2 > x1`` and ``y2 > y1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Largest |coordinate| a box may have, in pixels. No camera is 100,000 px wide; beyond this a
# value is garbage (1e155 from a broken driver), and squared inside the motion model's
# covariance it would overflow to inf/NaN.
MAX_COORDINATE = 1e5
# A box may be at most this many times the image's width/height and must overlap the
# image: detections of partly visible objects extend past the border, a box many times
# the image is no detection of anything in it.
MAX_BOX_IMAGE_RATIO = 4.0


def sane_boxes(xyxy: np.ndarray, image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Boolean mask of the ``(N, 4)`` boxes that can be tracked.

    A sane box is finite, has ``x2 > x1`` and ``y2 > y1``, every coordinate within
    ``MAX_COORDINATE``, and, when the image size ``(width, height)`` is known, is at most
    ``MAX_BOX_IMAGE_RATIO`` times the image in each direction and overlaps it.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.isfinite(xyxy).all(axis=1) & (np.abs(xyxy) <= MAX_COORDINATE).all(axis=1)
        w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
        ok &= (w > 0) & (h > 0)
        if image_size is not None:
            width, height = image_size
            ok &= (w <= MAX_BOX_IMAGE_RATIO * width) & (h <= MAX_BOX_IMAGE_RATIO * height)
            ok &= (xyxy[:, 2] > 0) & (xyxy[:, 3] > 0) & (xyxy[:, 0] < width) & (xyxy[:, 1] < height)
    return ok


@dataclass(frozen=True)
class Detections:
    """All detections of one frame.

    ``xyxy`` is an ``(N, 4)`` float array of pixel boxes, ``scores`` an ``(N,)`` array in
    ``[0, 1]``, ``class_names`` a tuple of ``N`` strings. An empty frame is ``Detections.empty()``.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float64)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), but got shape {xyxy.shape}")
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        names = tuple(str(n) for n in self.class_names)
        n = xyxy.shape[0]
        if scores.shape[0] != n or len(names) != n:
            raise ValueError(
                f"xyxy, scores and class_names must have the same length, but got "
                f"{n}, {scores.shape[0]} and {len(names)}"
            )
        if n and not np.all(np.isfinite(xyxy)):
            raise ValueError("xyxy must be finite")
        if n and np.any((xyxy[:, 2] <= xyxy[:, 0]) | (xyxy[:, 3] <= xyxy[:, 1])):
            raise ValueError("every box must have x2 > x1 and y2 > y1")
        if n and (np.any(~np.isfinite(scores)) or scores.min() < 0.0 or scores.max() > 1.0):
            raise ValueError(
                f"scores must be in [0, 1], but got range [{scores.min()}, {scores.max()}]"
            )
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_names", names)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros((0,)), ())

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def select(self, mask_or_indices) -> Detections:
        """A subset, by boolean mask or integer indices."""
        idx = np.arange(len(self))[np.asarray(mask_or_indices)] if len(self) else np.zeros(0, int)
        return Detections(self.xyxy[idx], self.scores[idx], tuple(self.class_names[i] for i in idx))


@dataclass(frozen=True)
class TrackedObject:
    """A snapshot of one track after a frame, as the outputs (messages, drawing, files) see it.

    ``track_id`` is unique for the lifetime of a
    :class:`~mot_ros.tracking.tracker.MultiObjectTracker`
    and never reused. ``score`` is the score of the detection last matched to the track.
    ``frames_since_detection`` is 0 when a detection confirmed the box on this frame, and
    counts frames carried by the correlation tracker or the motion model otherwise.
    """

    track_id: int
    xyxy: tuple[float, float, float, float]
    score: float
    class_name: str
    frames_since_detection: int = 0
    hits: int = 1

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = (float(v) for v in self.xyxy)
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"xyxy must have x2 > x1 and y2 > y1, but got {self.xyxy}")
        if not all(abs(v) <= MAX_COORDINATE for v in (x1, y1, x2, y2)):
            raise ValueError(
                f"xyxy must be finite and within +-{MAX_COORDINATE:g}, got {self.xyxy}"
            )
        if not np.isfinite(self.score):
            raise ValueError(f"score must be finite, but got {self.score!r}")
        object.__setattr__(self, "xyxy", (x1, y1, x2, y2))
