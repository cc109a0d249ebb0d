"""Annotating frames with tracks for rviz and the demo video.

Drawing is the only optional stage: the node calls it only when someone subscribes to
``annotated_image``. Colors are derived from the track id so a person keeps their color
for as long as they keep their id, which is what makes id switches visible at a glance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from mot_ros.types import TrackedObject


@dataclass(frozen=True)
class DrawingConfig:
    """What to draw. ``line_thickness`` in pixels; ``font_scale`` is OpenCV's Hershey scale."""

    line_thickness: int = 2
    font_scale: float = 0.5
    show_ids: bool = True
    show_class: bool = True
    show_score: bool = True
    show_rate: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.line_thickness <= 20:
            raise ValueError(f"line_thickness must be in [1, 20], but got {self.line_thickness}")
        if not 0.1 <= self.font_scale <= 5.0:
            raise ValueError(f"font_scale must be in [0.1, 5.0], but got {self.font_scale}")


def track_color(track_id: int) -> tuple[int, int, int]:
    """A saturated BGR color, stable per id, with neighbouring ids far apart in hue."""
    hue = int((track_id * 47) % 180)  # 47 is coprime with 180: consecutive ids jump in hue
    hsv = np.array([[[hue, 220, 255]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def label_text(track: TrackedObject, config: DrawingConfig) -> str:
    parts = []
    if config.show_ids:
        parts.append(f"#{track.track_id}")
    if config.show_class:
        parts.append(track.class_name)
    if config.show_score:
        parts.append(f"{track.score:.2f}")
    return " ".join(parts)


def draw_tracks(
    image: np.ndarray,
    tracks: Iterable[TrackedObject],
    config: DrawingConfig = DrawingConfig(),  # noqa: B008 - frozen, immutable default
    rate_hz: float | None = None,
) -> np.ndarray:
    """A copy of ``image`` (HxWx3 uint8 BGR) with a box and label per track and the rate."""
    out = image.copy()
    h, w = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    t = config.line_thickness
    for track in tracks:
        color = track_color(track.track_id)
        x1, y1, x2, y2 = (int(round(v)) for v in track.xyxy)
        x1, x2 = max(0, min(x1, w - 1)), max(0, min(x2, w - 1))
        y1, y2 = max(0, min(y1, h - 1)), max(0, min(y2, h - 1))
        cv2.rectangle(out, (x1, y1), (x2, y2), color, t)
        text = label_text(track, config)
        if text:
            (tw, th), base = cv2.getTextSize(text, font, config.font_scale, 1)
            ty = y1 - 4 if y1 - th - base - 4 >= 0 else min(h - 1, y2 + th + 4)
            cv2.rectangle(out, (x1, ty - th - 2), (x1 + tw + 2, ty + base - 2), color, -1)
            cv2.putText(
                out, text, (x1 + 1, ty - 2), font, config.font_scale, (0, 0, 0), 1, cv2.LINE_AA
            )
    if config.show_rate and rate_hz is not None:
        text = f"{rate_hz:.1f} Hz"
        cv2.putText(out, text, (8, 24), font, 0.7, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(out, text, (8, 24), font, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return out
