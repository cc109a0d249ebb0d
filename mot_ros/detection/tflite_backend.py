"""The ``tflite_ssd`` format: TFLite SSD models on LiteRT, or on onnxruntime after conversion.

Two kinds of TFLite SSD are recognised from their outputs:

post-processed
    The model ends in TFLite's ``TFLite_Detection_PostProcess`` op and outputs boxes
    ``[1, K, 4]`` (``ymin, xmin, ymax, xmax``, normalised), class ids ``[1, K]`` (counting from
    0 without background: the ids of the labels file), scores ``[1, K]`` and a count ``[1]``,
    in that order (the TF1 export order; output names ending in ``:1``/``:2`` are used when
    present). The network's own anchors and NMS are used; the model runs only at its input size.
    Example: the ``coco`` preset (Google Coral's quantized COCO SSD, at most 20 boxes per frame).
raw outputs
    Box encodings ``[1, N, 4]`` (``ty, tx, th, tw``) and class scores before the sigmoid
    ``[1, N, C + 1]`` (background first). Decoded here: anchors from
    :class:`~mot_ros.detection.ssd_decoding.SsdAnchorOptions` (MediaPipe's
    ``SsdAnchorsCalculator`` settings; the preset's, else the defaults, which are those of the
    OIDv4 model), box coder scales 10/10/5/5, per-class NMS at IoU 0.6. An anchor count that does
    not match the model raises :class:`ModelLoadError`. Such a model is fully convolutional, so on
    LiteRT it may run at another ``input_width`` x ``input_height`` than it was exported for
    (anchors keep their trained size in pixels) -- unless the graph reshapes to fixed sizes, as
    the OIDv4 model does (XNNPACK refuses to reshape it; the error names the native size).
    Example: the ``oidv4`` preset.

Inputs are NHWC: ``float32`` models get ``(pixel - mean) * scale`` of the resized image
(RGB when ``swap_rb``), ``uint8`` models the resized RGB pixels as they are (the model's own
quantisation maps them; ``scale``/``mean`` do not apply).

Backends (``DetectorConfig.backend``):

``litert`` (default)
    Google's ``ai-edge-litert`` interpreter (XNNPACK on CPU), for every TFLite SSD.
``onnxruntime``
    The model converted once by ``tflite2onnx`` into ``cache_dir()/onnx/`` and run by
    onnxruntime -- only raw-output models convert (tflite2onnx has no
    ``TFLite_Detection_PostProcess``), and only at their native input size. Measured within
    5e-5 of LiteRT on the OIDv4 model; speed in ``make bench-detector``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import cv2
import numpy as np

from mot_ros.data import cache_dir
from mot_ros.detection.config import (
    HOW_TO_GET,
    DetectorConfig,
    ModelLoadError,
    check_model_file,
    detections_from_ssd_rows,
    resolve_label_map,
    validate_image,
)
from mot_ros.detection.ssd_decoding import SsdAnchorOptions, SsdPostprocess
from mot_ros.types import Detections

TFLITE_EXPECTED = "a TFLite SSD (.tflite flatbuffer; see mot_ros.detection.tflite_backend)"
#: Version tag of converted models in the cache (the converter's version changes the graph).
CONVERTER_TAG = "tflite2onnx-0.4.1"


def _is_tflite(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(8)
    return len(head) == 8 and head[4:8] == b"TFL3"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _LiteRtRunner:
    """One LiteRT interpreter; ``run`` is serialised (an interpreter is not re-entrant)."""

    def __init__(self, path: Path, num_threads: int, size: tuple[int, int] | None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ModuleNotFoundError as exc:
            raise ModelLoadError(
                f"backend 'litert' needs the Python package '{exc.name}' "
                f"(pip install ai-edge-litert), which is not installed"
            ) from exc
        try:
            self._it = Interpreter(model_path=str(path), num_threads=num_threads)
            self._it.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(
                f"LiteRT could not load model_path {path}: {exc}; expected {TFLITE_EXPECTED}"
            ) from exc
        inp = self._it.get_input_details()
        if len(inp) == 1 and size is not None and tuple(inp[0]["shape"][1:3]) != size:
            native = tuple(int(v) for v in inp[0]["shape"][1:3])
            try:
                self._it.resize_tensor_input(inp[0]["index"], [1, size[0], size[1], 3])
                self._it.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise ModelLoadError(
                    f"model_path {path} does not run at {size[1]}x{size[0]} (its graph is "
                    f"fixed to {native[1]}x{native[0]}: {str(exc).splitlines()[0]}); set "
                    f"input_width/input_height to {native[1]}/{native[0]} and use tiles for "
                    f"large images"
                ) from exc
        self._lock = threading.Lock()
        inputs = self._it.get_input_details()
        if len(inputs) != 1:
            raise ModelLoadError(
                f"model_path {path}: expected one image input, found {[d['name'] for d in inputs]}"
            )
        self.input = inputs[0]
        self.input_shape = tuple(int(v) for v in self.input["shape"])
        self.input_dtype = np.dtype(self.input["dtype"])
        self.layout = "nhwc"
        self.outputs = [
            (d["name"], tuple(int(v) for v in d["shape"]), d["index"])
            for d in self._it.get_output_details()
        ]

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            self._it.set_tensor(self.input["index"], blob)
            self._it.invoke()
            return [self._it.get_tensor(index).copy() for _, _, index in self.outputs]


class _OnnxRunner:
    """The converted model on onnxruntime (sessions may be shared between threads)."""

    def __init__(self, path: Path, num_threads: int) -> None:
        import onnxruntime as ort

        from mot_ros.detection.onnx_backend import _session_options

        onnx_model = cached_onnx_conversion(path)
        try:
            self._session = ort.InferenceSession(
                onnx_model, _session_options(num_threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several private types
            raise ModelLoadError(
                f"onnxruntime could not load the ONNX conversion of {path}: {exc}"
            ) from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(f"{path}: expected one image input, found {len(inputs)}")
        self._input_name = inputs[0].name
        shape = tuple(int(v) if isinstance(v, int) else 1 for v in inputs[0].shape)
        self.layout = "nchw" if shape[1] == 3 else "nhwc"
        self.input_shape = (
            (shape[0], shape[2], shape[3], shape[1]) if self.layout == "nchw" else shape
        )
        self.input_dtype = np.dtype(np.float32)
        self.outputs = [
            (o.name, tuple(int(v) if isinstance(v, int) else 1 for v in o.shape), k)
            for k, o in enumerate(self._session.get_outputs())
        ]
        self._names = [o[0] for o in self.outputs]

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        if self.layout == "nchw":
            blob = np.ascontiguousarray(blob.transpose(0, 3, 1, 2))
        return self._session.run(self._names, {self._input_name: blob})


def cached_onnx_conversion(path: Path) -> str:
    """``tflite2onnx``'s conversion of ``path``, done once and cached under
    ``cache_dir()/onnx/<sha256>-<converter>.onnx``; returns the ONNX file (or raises
    :class:`ModelLoadError` naming the file and why it does not convert)."""
    try:
        import tflite2onnx
    except ModuleNotFoundError as exc:
        raise ModelLoadError(
            f"backend 'onnxruntime' for tflite_ssd needs the Python package '{exc.name}' "
            f"(pip install tflite2onnx), which is not installed; or use backend 'litert'"
        ) from exc
    target = cache_dir() / "onnx" / f"{_sha256(path)}-{CONVERTER_TAG}.onnx"
    if target.is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(f".{os.getpid()}.part")
    # tflite2onnx warns once per fp16 tensor on its logger; the result is checked in tests.
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)
    try:
        tflite2onnx.convert(str(path), str(part))
    except Exception as exc:  # noqa: BLE001 - the converter raises bare Exceptions and asserts
        part.unlink(missing_ok=True)
        raise ModelLoadError(
            f"tflite2onnx cannot convert model_path {path} ({type(exc).__name__}: {exc}); "
            f"models with TFLite's built-in post-processing (TFLite_Detection_PostProcess) "
            f"do not convert: use backend 'litert'"
        ) from exc
    part.replace(target)
    return str(target)


class TfliteSsdDetector:
    """SSD detector for ``tflite_ssd`` models (see the module docstring).

    Attributes: ``class_names`` (without background), ``class_ids`` (their ids in the model's
    label map, for ``label_info``), ``threshold``, ``kind`` (``"raw"`` or
    ``"postprocessed"``), ``model_path``, ``input_size`` ``(width, height)``.
    """

    def __init__(self, config: DetectorConfig) -> None:
        if config.model_format != "tflite_ssd":
            raise ValueError(
                f"TfliteSsdDetector cannot run model_format {config.model_format!r}; "
                f"it runs 'tflite_ssd'"
            )
        self.config = config
        self.threshold = float(config.confidence_threshold)
        self._pre = config.preprocessing()
        preset = config.applied_preset
        if config.model_path:
            source = config.model_path
        else:
            source = str(preset.model_path())
            if not Path(source).is_file():
                raise ModelLoadError(
                    f"the model of preset {preset.name!r} is not at {source}: {preset.how_to_get()}"
                )
        self.model_path = check_model_file(source, "model_path", config, TFLITE_EXPECTED)
        if not _is_tflite(self.model_path):
            from mot_ros.detection.config import describe_file

            raise ModelLoadError(
                f"model_path {self.model_path} is not a TFLite flatbuffer (no 'TFL3' "
                f"identifier; it looks like {describe_file(self.model_path)}); expected "
                f"{TFLITE_EXPECTED}. {HOW_TO_GET['tflite_ssd']}"
            )
        want = (config.input_height, config.input_width)
        if config.backend == "onnxruntime":
            self._runner = _OnnxRunner(self.model_path, config.num_threads)
        else:
            self._runner = _LiteRtRunner(self.model_path, config.num_threads, want)
        shape = self._runner.input_shape
        if len(shape) != 4 or shape[3] != 3:
            raise ModelLoadError(
                f"model_path {self.model_path}: input shape {list(shape)}; expected "
                f"[1, H, W, 3] (NHWC RGB)"
            )
        if self._runner.input_dtype not in (np.dtype(np.float32), np.dtype(np.uint8)):
            raise ModelLoadError(
                f"model_path {self.model_path}: input dtype {self._runner.input_dtype}; "
                f"expected float32 or uint8"
            )
        self.input_size = (shape[2], shape[1])
        outs = self._runner.outputs
        shapes = [s for _, s, _ in outs]
        if len(outs) == 4 and len(shapes[0]) == 3 and shapes[0][2] == 4:
            self.kind = "postprocessed"
            self._order = self._postprocess_order([n for n, _, _ in outs])
            num_classes = None
        elif len(outs) == 2:
            self.kind = "raw"
            four = [k for k, s in enumerate(shapes) if len(s) == 3 and s[2] == 4]
            if len(four) != 1 or len(shapes[1 - four[0]]) != 3:
                raise ModelLoadError(
                    f"model_path {self.model_path}: outputs "
                    f"{[(n, list(s)) for n, s, _ in outs]}; expected box encodings [1, N, 4] "
                    f"and class scores [1, N, C+1]"
                )
            self._box_out, self._cls_out = four[0], 1 - four[0]
            n = shapes[self._box_out][1]
            if shapes[self._cls_out][1] != n:
                raise ModelLoadError(
                    f"model_path {self.model_path}: {n} box encodings but "
                    f"{shapes[self._cls_out][1]} class-score rows"
                )
            num_classes = shapes[self._cls_out][2]
            options = (preset.anchors if preset else None) or SsdAnchorOptions()
            self.anchors = options.anchors((shape[1], shape[2]))
            if len(self.anchors) != n:
                layers, fmaps = options.layers((shape[1], shape[2]))
                raise ModelLoadError(
                    f"model_path {self.model_path} gives {n} anchors at "
                    f"{shape[2]}x{shape[1]}, but the anchor settings ({options}) make "
                    f"{len(self.anchors)} (feature maps {fmaps}, "
                    f"{layers.anchors_per_location} per location)"
                )
            self.postprocess = SsdPostprocess(iou_threshold=0.6)
        else:
            raise ModelLoadError(
                f"model_path {self.model_path}: outputs "
                f"{[(n, list(s)) for n, s, _ in outs]} are neither raw SSD heads (box "
                f"encodings + class scores) nor TFLite_Detection_PostProcess's four outputs"
            )
        if (shape[2], shape[1]) != (config.input_width, config.input_height):
            raise ModelLoadError(
                f"model_path {self.model_path} runs at {shape[2]}x{shape[1]}, but input_width/"
                f"input_height are {config.input_width}x{config.input_height}"
                + (
                    "; only raw-output models on backend 'litert' can change input size"
                    if self.kind == "postprocessed" or config.backend == "onnxruntime"
                    else ""
                )
            )
        label_map = resolve_label_map(config, num_classes)
        self.class_names: tuple[str, ...] = tuple(name for _, name in label_map)
        self.class_ids: tuple[int, ...] = tuple(i for i, _ in label_map)
        # postprocessed outputs carry label-map ids; rows below want 1-based positions
        self._id_to_row = {i: k + 1 for k, (i, _) in enumerate(label_map)}
        self._class_rows = (
            [k + 1 for k, n in enumerate(self.class_names) if n in config.classes]
            if config.classes
            else None
        )
        self._runner.run(self._blob(np.zeros((shape[1], shape[2], 3), np.uint8)))  # warm up

    @staticmethod
    def _postprocess_order(names: list[str]) -> tuple[int, int, int, int]:
        """Indices of (boxes, classes, scores, count) among the four outputs."""
        by_suffix = {n.rsplit(":", 1)[-1] if ":" in n else "0": k for k, n in enumerate(names)}
        if set(by_suffix) == {"0", "1", "2", "3"}:
            return by_suffix["0"], by_suffix["1"], by_suffix["2"], by_suffix["3"]
        return 0, 1, 2, 3

    def _blob(self, image_bgr: np.ndarray) -> np.ndarray:
        w, h = self.input_size
        resized = cv2.resize(image_bgr, (w, h), interpolation=cv2.INTER_LINEAR)
        if self._pre.swap_rb:
            resized = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
        if self._runner.input_dtype == np.uint8:
            return resized[None]
        blob = (resized.astype(np.float32) - np.asarray(self._pre.mean, np.float32)) * np.float32(
            self._pre.scale
        )
        return blob[None]

    def raw_outputs(self, image_bgr: np.ndarray) -> list[np.ndarray]:
        """The model's outputs for one BGR image, in the model's output order."""
        return self._runner.run(self._blob(validate_image(image_bgr)))

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Detections in pixels of ``image_bgr`` (uint8 BGR ``HxWx3`` or mono), best first."""
        image = validate_image(image_bgr)
        h, w = image.shape[:2]
        outputs = self._runner.run(self._blob(image))
        if self.kind == "raw":
            boxes, scores, rows_ids = self.postprocess.run(
                outputs[self._box_out].reshape(-1, 4),
                outputs[self._cls_out].reshape(len(self.anchors), -1),
                self.anchors,
                self.threshold,
                self._class_rows,
            )
        else:
            b, c, s, n = (outputs[k] for k in self._order)
            count = int(np.clip(np.asarray(n).reshape(-1)[0], 0, b.shape[1]))
            boxes = b.reshape(-1, 4)[:count].astype(np.float64)
            scores = s.reshape(-1)[:count].astype(np.float64)
            model_ids = np.rint(c.reshape(-1)[:count]).astype(np.int64)
            rows_ids = np.array([self._id_to_row.get(int(i), 0) for i in model_ids], np.int64)
        rows = np.zeros((len(scores), 7), np.float32)
        rows[:, 1] = rows_ids
        rows[:, 2] = scores
        rows[:, 3:7] = np.clip(boxes[:, [1, 0, 3, 2]], 0.0, 1.0)
        return detections_from_ssd_rows(
            rows,
            w,
            h,
            self.class_names,
            self.threshold,
            self.config.classes,
            self.config.nms_threshold,
        )
