"""SSD detection on onnxruntime: the default model converted once, or a user's ONNX SSD.

Why this backend: OpenCV DNN computes the last head of the default SSDLite-MobileNetV2 graph
wrongly (a 3x3 depthwise convolution on the 1x1 feature map; box offsets off by up to 0.64,
scores by 0.34). Those are the six largest anchors -- a person filling the frame, which is what
a robot sees when someone stands in front of it. onnxruntime computes every head within 2e-5 of
a float64 NumPy reference and runs the network about twice as fast as OpenCV DNN on 2 cores.

Two model formats (``DetectorConfig.model_format``):

``tf_ssd``
    A TF Object Detection API SSD frozen graph (``model_path``, empty = the default person
    model). :func:`mot_ros.detection.formats.tf_to_onnx.cached_onnx_model` converts it once into
    ``cache_dir()/onnx/<sha256>.onnx``; anchors, box coder, score function and NMS settings are
    read from the graph itself.
``onnx_ssd``
    An ONNX SSD that stops at the raw heads. Expected layout:

    * one input, ``[1, 3, H, W]`` float32 (NCHW), preprocessed as ``DetectorConfig`` says
      (``(pixel - mean) * scale``, RGB when ``swap_rb``); fixed dims must equal
      ``input_height``/``input_width``;
    * an output ``[1, N, 4]`` (or ``[N, 4]``) of box encodings ``(ty, tx, th, tw)`` relative to
      the anchors, TF ``FasterRcnnBoxCoder`` with scales 10, 10, 5, 5;
    * an output ``[1, N, C + 1]`` of class *logits* (before sigmoid), background at index 0;
    * optionally ``feature_map_shapes`` ``[L, 2]`` int64; without it the usual MobileNet-SSD
      ladder is assumed (``ceil(size / 16)``, then halving, 6 layers);
    * anchors: the TF OD API default ``ssd_anchor_generator`` (6 layers, scales 0.2-0.95,
      aspect ratios 1, 2, 0.5, 3, 0.3333 + interpolated, reduced lowest layer), in TF's
      ``H, W, anchor`` order; scores by sigmoid; NMS IoU 0.6, 100 detections.

    Outputs are matched by name (``box_encodings``, ``class_logits``) or else by shape; an
    anchor count that does not match the layout raises :class:`ModelLoadError`. Models made by
    :mod:`mot_ros.detection.formats.tf_to_onnx` carry their own anchors and settings in their
    metadata.

The network input size is ``input_width`` x ``input_height`` (300x300 for the default model).
The converted network is fully convolutional and accepts other sizes: the feature maps follow,
anchors keep their trained size in pixels (see :mod:`mot_ros.detection.ssd_decoding`), and
``scripts/bench_detector.py`` shows the effect on speed and detections.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from mot_ros.detection.config import (
    DetectorConfig,
    ModelLoadError,
    check_model_file,
    resolve_labels,
    validate_image,
)
from mot_ros.detection.formats.tf_to_onnx import (
    METADATA_KEY,
    OUTPUT_BOXES,
    OUTPUT_CLASSES,
    OUTPUT_SHAPES,
    SsdConversionError,
    SsdModelInfo,
    cached_onnx_model,
    convert_ssd_graph,
)
from mot_ros.detection.ssd_decoding import (
    AnchorLayers,
    SsdPostprocess,
    default_anchor_layers,
    non_max_suppression,
    standard_feature_map_shapes,
    to_center_form,
)
from mot_ros.types import Detections


def _session_options(num_threads: int) -> ort.SessionOptions:
    """Session settings. Spinning is off: with 2 threads on 2 cores it saved ~1 ms/frame on an
    idle machine (9 vs 10 ms) but doubled the time when another process held a core (65 vs
    33 ms) and burnt ~30 % more CPU that the tracker, running next, could use."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initializers etc. are noise here
    return options


class OnnxSsdDetector:
    """SSD detector on onnxruntime for ``tf_ssd`` (converted) and ``onnx_ssd`` models.

    ``detect`` keeps no state between calls (onnxruntime sessions may be shared between
    threads). ``num_threads`` sets onnxruntime's intra-op threads for this session only, unlike
    OpenCV's process-wide setting. ``config.engine`` and ``config.config_path`` are not used:
    the anchors and post-processing settings come from the graph itself.
    """

    def __init__(self, config: DetectorConfig) -> None:
        if config.model_format not in ("tf_ssd", "onnx_ssd"):
            raise ValueError(
                f"OnnxSsdDetector cannot run model_format {config.model_format!r}; "
                f"it runs 'tf_ssd' and 'onnx_ssd'"
            )
        self.config = config
        self.threshold = float(config.confidence_threshold)
        self._pre = config.preprocessing()
        self._size = (config.input_width, config.input_height)
        session, info, self.model_path = self._load(config)
        self._session = session
        self._info = info
        self._bind_outputs(session, config)
        num_classes = self._probe(info)
        self.class_names: tuple[str, ...] = resolve_labels(config, num_classes)
        self._class_ids = (
            [i + 1 for i, n in enumerate(self.class_names) if n in config.classes]
            if config.classes
            else None
        )

    # -- loading --------------------------------------------------------------------------

    @staticmethod
    def _load(config: DetectorConfig):
        options = _session_options(config.num_threads)
        providers = ["CPUExecutionProvider"]
        if config.model_format == "tf_ssd":
            if config.model_path:
                source = Path(config.model_path).expanduser()
            else:
                try:
                    from mot_ros.data import default_model_path

                    source = default_model_path()
                except FileNotFoundError as exc:
                    raise ModelLoadError(str(exc)) from exc
            source = check_model_file(
                str(source),
                "model_path",
                config,
                "a TF Object Detection API SSD frozen graph (.pb)",
            )
            try:
                try:
                    model: str | bytes = str(cached_onnx_model(source))
                except OSError:  # cache not writable: convert in memory every start
                    model = convert_ssd_graph(source).SerializeToString()
            except SsdConversionError as exc:
                raise ModelLoadError(f"cannot use model_path as tf_ssd: {exc}") from exc
        else:
            source = check_model_file(
                config.model_path,
                "model_path",
                config,
                "an ONNX SSD (see mot_ros.detection.onnx_backend for the expected outputs)",
            )
            model = str(source)
        try:
            session = ort.InferenceSession(model, options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several private types
            raise ModelLoadError(
                f"onnxruntime could not load {source}: {exc}. Expected an ONNX model"
                + (" converted from it" if config.model_format == "tf_ssd" else "")
            ) from exc
        meta = session.get_modelmeta().custom_metadata_map
        info = SsdModelInfo.from_json(meta[METADATA_KEY]) if METADATA_KEY in meta else None
        return session, info, source

    def _bind_outputs(self, session: ort.InferenceSession, config: DetectorConfig) -> None:
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(
                f"{self.model_path}: expected one image input, found {[i.name for i in inputs]}"
            )
        spec = inputs[0]
        shape = list(spec.shape)
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise ModelLoadError(
                f"{self.model_path}: input {spec.name!r} has shape {shape}; expected "
                f"[1, 3, H, W] (NCHW)"
            )
        for dim, want, field in (
            (shape[2], config.input_height, "input_height"),
            (shape[3], config.input_width, "input_width"),
        ):
            if isinstance(dim, int) and dim != want:
                raise ModelLoadError(
                    f"{self.model_path}: the model's input is fixed at {shape[2]}x{shape[3]} "
                    f"(HxW) but {field} is {want}"
                )
        self._input_name = spec.name
        outputs = {o.name: o for o in session.get_outputs()}
        if OUTPUT_BOXES in outputs and OUTPUT_CLASSES in outputs:
            boxes, classes = OUTPUT_BOXES, OUTPUT_CLASSES
        else:
            four = [
                n
                for n, o in outputs.items()
                if o.shape and o.shape[-1] == 4 and len(o.shape) in (2, 3)
            ]
            rest = [
                n
                for n, o in outputs.items()
                if n not in four and n != OUTPUT_SHAPES and o.shape and len(o.shape) in (2, 3)
            ]
            if len(four) != 1 or len(rest) != 1:
                raise ModelLoadError(
                    f"{self.model_path}: cannot tell the box-encoding and class-logit outputs "
                    f"apart among {[(n, o.shape) for n, o in outputs.items()]}; name them "
                    f"'{OUTPUT_BOXES}' ([1, N, 4]) and '{OUTPUT_CLASSES}' ([1, N, C+1])"
                )
            boxes, classes = four[0], rest[0]
        self._outputs = [boxes, classes]
        self._shapes_output = OUTPUT_SHAPES if OUTPUT_SHAPES in outputs else None

    def _probe(self, info: SsdModelInfo | None) -> int:
        """Run once on a blank image: warms the session up, gives N and the feature maps,
        and builds the anchors for this input size. Returns the class count with background."""
        w, h = self._size
        blank = np.zeros((1, 3, h, w), np.float32)
        names = self._outputs + ([self._shapes_output] if self._shapes_output else [])
        try:
            results = self._session.run(names, {self._input_name: blank})
        except Exception as exc:  # noqa: BLE001 - onnxruntime's error types are private
            raise ModelLoadError(
                f"{self.model_path}: the model does not run on a {w}x{h} input: {exc}"
            ) from exc
        boxes = results[0].reshape(-1, 4)
        classes = (
            results[1].reshape(boxes.shape[0], -1)
            if results[1].size % boxes.shape[0] == 0
            else None
        )
        if classes is None or classes.shape[1] < 2:
            raise ModelLoadError(
                f"{self.model_path}: outputs {self._outputs} do not pair up: box encodings "
                f"{results[0].shape}, class logits {results[1].shape}"
            )
        if self._shapes_output:
            shapes = tuple((int(a), int(b)) for a, b in np.asarray(results[2]).reshape(-1, 2))
        else:
            shapes = standard_feature_map_shapes((h, w))
        if info is not None and info.anchor_box_sizes is not None:
            layers = AnchorLayers(info.anchor_box_sizes)
        else:
            layers = default_anchor_layers(num_layers=len(shapes))
        #: Decoding and NMS settings (read from the graph for converted models).
        self.postprocess = info.postprocess_config() if info is not None else SsdPostprocess()
        expected = layers.num_anchors(shapes)
        if expected != boxes.shape[0]:
            raise ModelLoadError(
                f"{self.model_path}: the model gives {boxes.shape[0]} anchors at {w}x{h}, but "
                f"feature maps {shapes} with {layers.anchors_per_location} anchors per location "
                f"make {expected}; the anchor layout is not the default SSD one"
            )
        native = info.native_input_size if info is not None else None
        scale = (native[0] / h, native[1] / w) if native else (1.0, 1.0)
        #: Anchors ``(N, 4)`` in centre form ``(yc, xc, h, w)``, normalised, for this input size.
        self.anchors = to_center_form(layers.generate(shapes, scale))
        self.feature_map_shapes = shapes
        return int(classes.shape[1])

    # -- inference ------------------------------------------------------------------------

    def preprocess(self, image_bgr: np.ndarray) -> np.ndarray:
        """The network input ``[1, 3, H, W]`` float32 for a BGR image (same numbers as
        ``cv2.dnn.blobFromImage(img, scale, size, mean, swapRB, crop=False)``)."""
        pre = self._pre
        return cv2.dnn.blobFromImage(
            image_bgr, pre.scale, self._size, pre.mean, swapRB=pre.swap_rb, crop=False
        )

    def raw_outputs(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Box encodings ``(N, 4)`` and class logits ``(N, C + 1)`` for one input blob."""
        boxes, classes = self._session.run(self._outputs, {self._input_name: blob})
        boxes = boxes.reshape(-1, 4)
        return boxes, classes.reshape(boxes.shape[0], -1)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Detections in pixels of ``image_bgr`` (uint8 BGR ``HxWx3`` or mono), best first."""
        image = validate_image(image_bgr)
        h, w = image.shape[:2]
        boxes, logits = self.raw_outputs(self.preprocess(image))
        norm, scores, ids = self.postprocess.run(
            boxes, logits, self.anchors, self.threshold, self._class_ids
        )
        nms = self.config.nms_threshold
        if len(scores) > 1 and nms < self.postprocess.iou_threshold:
            # DetectorConfig's extra per-class NMS, the same safety net the OpenCV backend runs.
            keep = np.concatenate(
                [
                    np.flatnonzero(ids == c)[
                        non_max_suppression(norm[ids == c], scores[ids == c], nms, len(scores))
                    ]
                    for c in np.unique(ids)
                ]
            )
            keep = keep[np.argsort(-scores[keep], kind="stable")]
            norm, scores, ids = norm[keep], scores[keep], ids[keep]
        xyxy = norm[:, [1, 0, 3, 2]] * np.array([w, h, w, h], np.float64)
        ok = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        if not ok.all():
            xyxy, scores, ids = xyxy[ok], scores[ok], ids[ok]
        return Detections(
            xyxy, np.clip(scores, 0.0, 1.0), tuple(self.class_names[i - 1] for i in ids)
        )
