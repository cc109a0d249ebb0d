"""Per-class score thresholds on top of any detector.

A multi-class model is not equally sure of every class: on the sample video the OIDv4 model
scores people higher than it scores the tripod as a "Camera", and a robot may want cars only
when they are certain but people early. :class:`ClassThresholdFilter` runs the wrapped
detector at the lowest threshold any class needs and then drops each box below its own
class's threshold (``DetectorConfig.class_thresholds``, else ``confidence_threshold``). It wraps
the outermost detector (after tiling), so tiles are merged before the per-class cut.
"""

from __future__ import annotations

import numpy as np

from mot_ros.detection.config import Detector, WrappedDetector
from mot_ros.types import Detections


class ClassThresholdFilter(WrappedDetector):
    """``base`` with per-class score thresholds; ``threshold`` is the default for classes
    without their own (the node may change it at run time)."""

    def __init__(self, base: Detector, class_thresholds: dict[str, float], threshold: float):
        unknown = sorted(set(class_thresholds) - set(base.class_names))
        if unknown:
            raise ValueError(
                f"class_thresholds names {unknown}, which the model does not know; valid "
                f"names: {', '.join(base.class_names)}"
            )
        self.base = base
        self.class_thresholds = dict(class_thresholds)
        self._threshold = float(threshold)
        self._apply()

    def _apply(self) -> None:
        self.base.threshold = min([self._threshold, *self.class_thresholds.values()])

    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self._threshold = float(value)
        self._apply()

    def detect(self, image_bgr: np.ndarray) -> Detections:
        dets = self.base.detect(image_bgr)
        if len(dets) == 0:
            return dets
        need = np.array(
            [self.class_thresholds.get(n, self._threshold) for n in dets.class_names], np.float64
        )
        keep = np.flatnonzero(dets.scores >= need)
        if len(keep) == len(dets):
            return dets
        return Detections(
            dets.xyxy[keep], dets.scores[keep], tuple(dets.class_names[i] for i in keep)
        )
