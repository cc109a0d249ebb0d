"""SSD detection, ROS-free: images in, checked :class:`~mot_ros.types.Detections` out.

``config``      DetectorConfig, ModelLoadError and the checks every backend shares
``factory``     create_detector(): the only place that picks a backend
``opencv_backend``, ``onnx_backend``   the inference backends
``tiling``      full frame plus overlapping tiles, merged
``ssd_decoding`` anchors, box coder and NMS of SSD heads
``formats/``    model-format readers and converters (TF GraphDef, TF -> ONNX, OpenCV text
                graph, Caffe, NumPy references)

The public names below are imported lazily, so ``import mot_ros.detection`` loads no
inference library.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "Detector": "mot_ros.detection.config",
    "DetectorConfig": "mot_ros.detection.config",
    "ModelLoadError": "mot_ros.detection.config",
    "create_detector": "mot_ros.detection.factory",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
