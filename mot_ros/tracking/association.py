"""Box geometry and matching detections to tracks (IoU cost, optimal assignment), pure NumPy.

Kept apart from the tracker so the cost and the gate can be read, tested and swapped
without touching track bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

# Cost given to pairs that must never match (class mismatch, below the IoU gate). Finite,
# because linear_sum_assignment rejects an all-infinite row; pairs at this cost are
# dropped after the assignment.
_FORBIDDEN = 1e6


def _intersections(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0.0, None) * np.clip(iy2 - iy1, 0.0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter, area_a, area_b


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (N, 4) with every box in ``b`` (M, 4)."""
    inter, area_a, area_b = _intersections(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0.0, inter / np.maximum(union, 1e-12), 0.0)


def coverage_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fraction of each box in ``a`` (N, 4) covered by each box in ``b`` (M, 4).

    Unlike IoU this is asymmetric: a small box fully inside a big one is covered 1.0.
    """
    inter, area_a, _ = _intersections(a, b)
    return np.where(area_a[:, None] > 0.0, inter / np.maximum(area_a[:, None], 1e-12), 0.0)


def inside_fraction(xyxy: np.ndarray, width: int, height: int) -> float:
    """Fraction of one box's area that lies inside a ``width`` x ``height`` image."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    area = max(x2 - x1, 0.0) * max(y2 - y1, 0.0)
    if area <= 0.0:
        return 0.0
    cw = max(min(x2, width) - max(x1, 0.0), 0.0)
    ch = max(min(y2, height) - max(y1, 0.0), 0.0)
    return cw * ch / area


def clip_box(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """One box clipped to a ``width`` x ``height`` image (may become empty)."""
    return np.clip(np.asarray(xyxy, dtype=np.float64), 0.0, [width, height, width, height])


def associate(
    track_xyxy: np.ndarray,
    track_classes: Sequence[str],
    det_xyxy: np.ndarray,
    det_classes: Sequence[str],
    iou_threshold: float,
    class_aware: bool = True,
    extra_cost: np.ndarray | None = None,
    extra_allowed: np.ndarray | None = None,
    despite_iou: np.ndarray | None = None,
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Globally optimal one-to-one matching of tracks to detections by IoU.

    Cost is ``1 - IoU``; pairs below ``iou_threshold`` or (when ``class_aware``) with
    different class names cannot match. Optimal assignment (Hungarian) rather than greedy
    matters when boxes overlap: a greedy pass can give the best detection to the wrong one
    of two crossing objects and leave the other unmatched.

    ``extra_cost`` (N, M), if given, is added to ``1 - IoU`` (e.g. a weighted appearance
    distance) and ``extra_allowed`` (N, M, bool) is a further gate (e.g. appearance or
    motion consistency). ``despite_iou`` (N, M, bool) marks pairs allowed below the IoU
    gate (e.g. near the prediction and alike in appearance); the class and
    ``extra_allowed`` gates still apply to them.

    Returns ``(matches, unmatched_track_indices, unmatched_detection_indices)``; matches are
    ``(track_index, detection_index)`` pairs sorted by track index.
    """
    n, m = len(track_classes), len(det_classes)
    if n == 0 or m == 0:
        return [], list(range(n)), list(range(m))
    iou = iou_matrix(track_xyxy, det_xyxy)
    allowed = iou >= iou_threshold
    if despite_iou is not None:
        allowed |= np.asarray(despite_iou, dtype=bool)
    if class_aware:
        allowed &= (
            np.asarray(track_classes, dtype=object)[:, None]
            == np.asarray(det_classes, dtype=object)[None, :]
        )
    if extra_allowed is not None:
        allowed &= np.asarray(extra_allowed, dtype=bool)
    cost = 1.0 - iou
    if extra_cost is not None:
        cost = cost + np.asarray(extra_cost, dtype=np.float64)
    cost = np.where(allowed, cost, _FORBIDDEN)
    rows, cols = linear_sum_assignment(cost)
    matches = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]
    matched_t = {r for r, _ in matches}
    matched_d = {c for _, c in matches}
    return (
        matches,
        [i for i in range(n) if i not in matched_t],
        [j for j in range(m) if j not in matched_d],
    )
