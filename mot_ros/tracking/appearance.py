"""A cheap appearance descriptor for telling nearby people apart: colour histograms.

Association by IoU alone cannot tell which of two crossing or side-by-side people a
detection belongs to: both predicted boxes overlap it. Their clothes usually differ, and a
colour histogram of the box's centre says so at a cost of a few microseconds per box (no
network). The box is shrunk to its centre (the margins are mostly background) and split
into a top and a bottom half (shirt and trousers), each described by a hue-saturation
histogram; on a grayscale frame, by an intensity histogram instead.

Measured on the PETS09-S2L1 ground truth boxes (boxes of the same person 3 and 10 frames
apart against those of another person within 1.5 box widths): the top/bottom hue x
saturation histogram ranked the same person closer with an AUC of 0.94 (median distance
0.28 same person, 0.54 other person); an intensity histogram 0.93; single-region or Lab
histograms 0.87-0.92.
"""

from __future__ import annotations

import cv2
import numpy as np

# Fraction of the width / height cut off each side of the box: the margins of a person's
# box are mostly background.
_MARGIN_X = 0.2
_MARGIN_Y = 0.1
# Smallest crop (px) that gives a histogram worth comparing.
_MIN_SIDE = 4
_HUE_BINS = 8
_SAT_BINS = 4
_GRAY_BINS = 16


def box_descriptors(frame: np.ndarray, boxes: np.ndarray) -> list[np.ndarray | None]:
    """One L1-normalised histogram per ``boxes`` row (xyxy, px) on ``frame``.

    ``frame`` is uint8 BGR (H, W, 3) or grayscale (H, W); the descriptors of the two kinds
    have different lengths and are never compared with each other. ``None`` where the box
    is too small or mostly outside the frame.
    """
    height, width = frame.shape[:2]
    colour = frame.ndim == 3
    out: list[np.ndarray | None] = []
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        w, h = x2 - x1, y2 - y1
        left = max(int(round(x1 + _MARGIN_X * w)), 0)
        right = min(int(round(x2 - _MARGIN_X * w)), width)
        top = max(int(round(y1 + _MARGIN_Y * h)), 0)
        bottom = min(int(round(y2 - _MARGIN_Y * h)), height)
        if right - left < _MIN_SIDE or bottom - top < 2 * _MIN_SIDE:
            out.append(None)
            continue
        crop = frame[top:bottom, left:right]
        if colour:
            crop = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
        middle = crop.shape[0] // 2
        halves = []
        for part in (crop[:middle], crop[middle:]):
            if colour:
                hist = cv2.calcHist([part], [0, 1], None, [_HUE_BINS, _SAT_BINS], [0, 180, 0, 256])
            else:
                hist = cv2.calcHist([part], [0], None, [_GRAY_BINS], [0, 256])
            hist = hist.ravel().astype(np.float64)
            halves.append(hist / max(hist.sum(), 1e-9))
        out.append(np.concatenate(halves) / 2.0)
    return out


def descriptor_distances(
    tracks: list[np.ndarray | None], detections: list[np.ndarray | None]
) -> np.ndarray:
    """Hellinger distance (0 same histogram, 1 disjoint) between every track descriptor and
    every detection descriptor; NaN where either is missing or they are of different kinds.
    """
    out = np.full((len(tracks), len(detections)), np.nan)
    for size in {len(d) for d in (*tracks, *detections) if d is not None}:
        rows = [i for i, t in enumerate(tracks) if t is not None and len(t) == size]
        cols = [j for j, d in enumerate(detections) if d is not None and len(d) == size]
        if not rows or not cols:
            continue
        a = np.sqrt(np.array([tracks[i] for i in rows]))
        b = np.sqrt(np.array([detections[j] for j in cols]))
        out[np.ix_(rows, cols)] = np.sqrt(np.clip(1.0 - a @ b.T, 0.0, 1.0))
    return out
