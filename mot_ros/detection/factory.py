"""create_detector(): the only place that picks a detector backend.

Backends are imported only when asked for, so that ``import mot_ros.detection`` stays cheap
and a missing optional dependency (onnxruntime) fails with a message naming it.
"""

from __future__ import annotations

from mot_ros.detection.config import Detector, DetectorConfig, ModelLoadError
from mot_ros.detection.opencv_backend import OpenCvSsdDetector


def create_detector(config: DetectorConfig) -> Detector:
    """Build the detector for ``config.model_format`` on ``config.backend``, wrapped in a
    :class:`mot_ros.detection.tiling.TiledDetector` when ``tile_columns``/``tile_rows`` ask for
    tiles (or in an :class:`~mot_ros.detection.tiling.AutoTiledDetector` when
    ``time_budget_ms`` > 0) and in a :class:`mot_ros.detection.thresholds.ClassThresholdFilter` when
    ``class_thresholds`` are set; raises :class:`ModelLoadError`."""
    detector = _create_backend(config)
    if config.time_budget_ms > 0:
        from mot_ros.detection.tiling import AutoTiledDetector

        detector = AutoTiledDetector(detector, config.time_budget_ms, config.tile_overlap)
    elif (config.tile_columns, config.tile_rows) != (1, 1):
        from mot_ros.detection.tiling import TiledDetector

        detector = TiledDetector(
            detector, (config.tile_columns, config.tile_rows), config.tile_overlap
        )
    if config.class_thresholds:
        from mot_ros.detection.thresholds import ClassThresholdFilter

        try:
            detector = ClassThresholdFilter(
                detector, dict(config.class_thresholds), float(config.confidence_threshold)
            )
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from exc
    return detector


def _create_backend(config: DetectorConfig) -> Detector:
    if config.model_format == "tflite_ssd":
        from mot_ros.detection.tflite_backend import TfliteSsdDetector

        return TfliteSsdDetector(config)
    if config.backend == "onnxruntime":
        try:
            from mot_ros.detection.onnx_backend import OnnxSsdDetector
        except ModuleNotFoundError as exc:
            if exc.name == "mot_ros.detection.onnx_backend":
                raise ModelLoadError(
                    "backend 'onnxruntime' needs the module mot_ros.detection.onnx_backend, "
                    "which is not part of this installation; use backend 'opencv' or install a "
                    "mot_ros with ONNX support"
                ) from exc
            raise ModelLoadError(
                f"backend 'onnxruntime' needs the Python package '{exc.name}', which is not "
                f"installed (pip install onnxruntime onnx)"
            ) from exc
        return OnnxSsdDetector(config)
    return OpenCvSsdDetector(config)
