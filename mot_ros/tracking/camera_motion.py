"""Global (camera) motion between consecutive frames, for moving cameras.

A constant-velocity model predicts every track wrongly when the camera itself pans, zooms,
shakes or drives: the whole image moves, and tracks fall off their objects before the
association even starts. This module estimates that motion the way BoT-SORT's GMC does:
corners (Shi-Tomasi) on the previous frame, tracked into the current one with pyramidal
Lucas-Kanade optical flow, and a RANSAC fit of a 4-degree-of-freedom similarity (rotation,
uniform scale, translation) to the pairs. All three steps are OpenCV; what is written here
is only the glue and the decisions:

* it runs on a copy downscaled to at most ``max_width`` pixels wide (240 by default:
  ~1-2 ms per frame on this project's machines instead of ~6-10 ms at 768 px; the
  translation is scaled back up, so sub-pixel accuracy at 320 px is ~2 px at 768);
* corners inside the tracked objects' boxes are left out, because people walking move
  differently from the background (with many of them the fit would follow the crowd);
* a similarity rather than a full affine or a homography: two fewer parameters, so fewer
  points suffice and a bad fit cannot shear boxes; forward motion (zoom about the focus of
  expansion) and pans are both similarities to first order;
* when too few corners survive (a blank wall, a dark frame, a cut), the estimate is the
  identity: "the camera did not move" is the model the tracker used before anyway.

Cost: measured by ``scripts/bench_tracker.py`` (the ``gmc_ms`` figure) and reported in
:attr:`CameraMotionEstimator.last_ms`. Turn it off (``camera_motion_compensation``) for a
camera known to be static, where it can only add noise and time.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


class CameraMotionEstimator:
    """Frame-to-frame similarity transform of the background, from sparse optical flow.

    ``max_width``: frames wider than this are downscaled first (cost vs precision).
    ``max_corners``: corners tracked per frame (more: steadier fit, more time).
    ``min_inliers``: RANSAC inliers needed to trust a fit; fewer gives the identity.
    Call :meth:`estimate` once per frame, in order; :meth:`reset` after a gap.
    """

    def __init__(self, max_width: int = 240, max_corners: int = 100, min_inliers: int = 12):
        if not isinstance(max_width, int) or max_width < 32:
            raise ValueError(f"max_width must be an integer >= 32, but got {max_width!r}")
        if not isinstance(max_corners, int) or max_corners < 8:
            raise ValueError(f"max_corners must be an integer >= 8, but got {max_corners!r}")
        if not isinstance(min_inliers, int) or not 3 <= min_inliers <= max_corners:
            raise ValueError(
                f"min_inliers must be an integer in [3, max_corners], but got {min_inliers!r}"
            )
        self.max_width = max_width
        self.max_corners = max_corners
        self.min_inliers = min_inliers
        self.last_ms = 0.0
        self.last_inliers = 0
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None
        self._prev_scale = 1.0

    def estimate(self, gray: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray | None:
        """The 2x3 transform taking previous-frame pixels to this frame's, or None for the
        first frame (or after a size change). ``exclude``: (N, 4) xyxy boxes, in the
        previous frame's pixels, whose corners are not used (the tracked objects)."""
        start = time.perf_counter()
        height, width = gray.shape[:2]
        scale = min(1.0, self.max_width / float(width))
        small = (
            gray
            if scale == 1.0
            else cv2.resize(
                gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
            )
        )
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            self.last_ms = (time.perf_counter() - start) * 1e3
            return None
        affine = self._fit(prev, small, scale, exclude)
        self.last_ms = (time.perf_counter() - start) * 1e3
        return affine

    def _fit(
        self, prev: np.ndarray, cur: np.ndarray, scale: float, exclude: np.ndarray | None
    ) -> np.ndarray:
        mask = np.full(prev.shape, 255, dtype=np.uint8)
        if exclude is not None and len(exclude):
            h, w = prev.shape
            boxes = np.clip(np.asarray(exclude, dtype=np.float64) * scale, 0, [w, h, w, h])
            for x1, y1, x2, y2 in boxes.astype(int):
                mask[y1:y2, x1:x2] = 0
        min_distance = max(3, prev.shape[1] // 40)
        corners = cv2.goodFeaturesToTrack(
            prev, self.max_corners, qualityLevel=0.01, minDistance=min_distance, mask=mask
        )
        self.last_inliers = 0
        if corners is None or len(corners) < self.min_inliers:
            return IDENTITY.copy()
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            prev, cur, corners, None, winSize=(15, 15), maxLevel=3
        )
        ok = status.reshape(-1) == 1
        if ok.sum() < self.min_inliers:
            return IDENTITY.copy()
        fit, inliers = cv2.estimateAffinePartial2D(
            corners[ok], moved[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0
        )
        if fit is None or inliers is None or int(inliers.sum()) < self.min_inliers:
            return IDENTITY.copy()
        self.last_inliers = int(inliers.sum())
        fit = fit.astype(np.float64)
        fit[:, 2] /= scale  # the linear part is scale-free; the shift is in small pixels
        return fit


def warp_boxes(boxes: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy boxes moved by a 2x3 similarity: centres mapped, sizes scaled."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    a = np.asarray(affine, dtype=np.float64).reshape(2, 3)
    scale = float(np.sqrt(abs(np.linalg.det(a[:, :2]))))
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
    half = (boxes[:, 2:] - boxes[:, :2]) / 2.0 * scale
    moved = centres @ a[:, :2].T + a[:, 2]
    return np.concatenate([moved - half, moved + half], axis=1)
