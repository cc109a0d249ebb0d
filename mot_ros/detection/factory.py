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
    tiles; raises :class:`ModelLoadError`."""
    base = _create_backend(config)
    if (config.tile_columns, config.tile_rows) == (1, 1):
        return base
    from mot_ros.detection.tiling import TiledDetector

    return TiledDetector(base, (config.tile_columns, config.tile_rows), config.tile_overlap)


def _create_backend(config: DetectorConfig) -> Detector:
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
