"""Run Caffe SSD models (the original script's MobileNet-SSD) on OpenCV 5.

OpenCV 5 removed its Caffe importer (``readNetFromCaffe`` is gone; ``readNet`` answers "Caffe
importer has been removed. Please use ONNX-converted models"), yet the seed's model exists only
as ``MobileNetSSD_deploy.prototxt`` + ``.caffemodel``. So this module translates the model in
memory, at load time, with no external tools:

- the ``.prototxt`` is read with :func:`mot_ros.detection.formats.tf_text_graph.parse_text_proto`
and the
  ``.caffemodel`` with a small protobuf wire-format reader (only names and weight blobs);
- the convolutional part (up to the SSD's location and confidence outputs) becomes an ONNX
  graph run by OpenCV DNN (``cv2.dnn.readNetFromONNX``), so speed is OpenCV's;
- ``PriorBox`` and ``DetectionOutput``, which ONNX lacks, are computed in NumPy with Caffe-SSD
  semantics: the priors once at load time (they depend only on shapes), decoding and per-class
  NMS per frame. The result has the layout of Caffe's DetectionOutput,
  ``[image_id, class_id, score, x1, y1, x2, y2]`` normalized, so the detector parses both
  model formats with one function.

Translated layer types: Input, Convolution, ReLU, Sigmoid, TanH, BatchNorm, Scale, Eltwise,
Pooling, Permute, Flatten, Concat, Reshape, Softmax, Dropout, Split, PriorBox,
DetectionOutput (what MobileNet-SSD and similar SSDs use). Anything else is reported by name.
The DetectionOutput's own ``confidence_threshold`` is replaced by a low floor (0.01): the
detector applies the user's threshold afterwards.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from mot_ros.detection.formats.tf_text_graph import (
    NETWORK_SCORE_FLOOR,
    TextMessage,
    parse_text_proto,
)

SUPPORTED_LAYERS = (
    "Input",
    "Convolution",
    "ReLU",
    "Sigmoid",
    "TanH",
    "BatchNorm",
    "Scale",
    "Eltwise",
    "Pooling",
    "Permute",
    "Flatten",
    "Concat",
    "Reshape",
    "Softmax",
    "Dropout",
    "Split",
    "PriorBox",
    "DetectionOutput",
)


class CaffeFormatError(ValueError):
    """The prototxt/caffemodel pair cannot be translated; the message names file and cause."""


# --------------------------------------------------------------------------------------------
# .caffemodel: protobuf wire format, just enough for layer names and blobs
# --------------------------------------------------------------------------------------------


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: memoryview):
    """Yield ``(field_number, wire_type, value)``; value is int or a memoryview slice."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise ValueError("truncated length-delimited field")
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > end:
            raise ValueError("truncated field")
        yield number, wire, value


def _read_blob(buf: memoryview) -> np.ndarray:
    """BlobProto: data (5, packed or not), shape (7: BlobShape.dim), legacy num/channels/h/w."""
    data_parts: list[np.ndarray] = []
    doubles: list[np.ndarray] = []
    shape: list[int] = []
    legacy = {}
    for number, wire, value in _fields(buf):
        if number == 5:
            data_parts.append(np.frombuffer(bytes(value), "<f4"))
        elif number == 8:
            doubles.append(np.frombuffer(bytes(value), "<f8"))
        elif number == 7 and wire == 2:
            for n2, w2, v2 in _fields(value):
                if n2 == 1 and w2 == 2:  # packed int64
                    p = 0
                    while p < len(v2):
                        d, p = _varint(v2, p)
                        shape.append(d)
                elif n2 == 1:
                    shape.append(int(v2))
        elif number in (1, 2, 3, 4) and wire == 0:
            legacy[number] = int(value)
    data = np.concatenate(data_parts) if data_parts else np.zeros(0, np.float32)
    if not data.size and doubles:
        data = np.concatenate(doubles).astype(np.float32)
    if not shape and legacy:
        shape = [legacy.get(i, 1) for i in (1, 2, 3, 4)]
    if shape and int(np.prod(shape)) == data.size:
        return data.astype(np.float32).reshape(shape)
    return data.astype(np.float32)


def read_caffemodel(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Layer name -> weight blobs, from a ``.caffemodel`` (``layer`` or legacy ``layers``)."""
    buf = memoryview(Path(path).read_bytes())
    weights: dict[str, list[np.ndarray]] = {}
    try:
        for number, wire, value in _fields(buf):
            if wire != 2 or number not in (100, 2):
                continue
            # LayerParameter: name 1, blobs 7. V1LayerParameter: name 4, blobs 6.
            name_field, blob_field = (1, 7) if number == 100 else (4, 6)
            name, blobs = None, []
            for n2, w2, v2 in _fields(value):
                if n2 == name_field and w2 == 2:
                    name = bytes(v2).decode("utf-8")
                elif n2 == blob_field and w2 == 2:
                    blobs.append(_read_blob(v2))
            if name is not None and blobs:
                weights[name] = blobs
    except (ValueError, UnicodeDecodeError) as exc:
        raise CaffeFormatError(
            f"model_path {path} is not a Caffe .caffemodel (binary NetParameter): {exc}"
        ) from exc
    if not weights:
        raise CaffeFormatError(
            f"model_path {path} holds no layer weights: expected a Caffe .caffemodel"
        )
    return weights


# --------------------------------------------------------------------------------------------
# NumPy parts: PriorBox and DetectionOutput (Caffe SSD semantics)
# --------------------------------------------------------------------------------------------


def prior_boxes(
    param: TextMessage, layer_hw: tuple[int, int], image_hw: tuple[int, int]
) -> np.ndarray:
    """Caffe-SSD ``PriorBox`` output, shape ``(2, H*W*num_priors*4)``: boxes, then variances.

    Per location: each min size (square), then sqrt(min*max) (square), then the other aspect
    ratios (with their inverses when ``flip``); centers at ``(i + offset) * step``.
    """
    lh, lw = layer_hw
    img_h = param.scalar("img_h", param.scalar("img_size", image_hw[0]))
    img_w = param.scalar("img_w", param.scalar("img_size", image_hw[1]))
    step_h = param.scalar("step_h", param.scalar("step", img_h / lh))
    step_w = param.scalar("step_w", param.scalar("step", img_w / lw))
    offset = float(param.scalar("offset", 0.5))
    flip = bool(param.scalar("flip", True))
    min_sizes = [float(s) for s in param.scalars("min_size")]
    max_sizes = [float(s) for s in param.scalars("max_size")]
    if not min_sizes or (max_sizes and len(max_sizes) != len(min_sizes)):
        raise ValueError(f"needs min_size (and as many max_size), got {min_sizes}, {max_sizes}")
    ratios = [1.0]
    for ar in param.scalars("aspect_ratio"):
        for r in (float(ar), 1.0 / float(ar)) if flip else (float(ar),):
            if all(abs(r - x) > 1e-6 for x in ratios):
                ratios.append(r)
    sizes = []  # (w, h) per prior at one location
    for i, m in enumerate(min_sizes):
        sizes.append((m, m))
        if max_sizes:
            s = math.sqrt(m * max_sizes[i])
            sizes.append((s, s))
        for r in ratios[1:]:
            sizes.append((m * math.sqrt(r), m / math.sqrt(r)))
    wh = np.array(sizes, np.float64)
    cy, cx = np.meshgrid(
        (np.arange(lh) + offset) * step_h, (np.arange(lw) + offset) * step_w, indexing="ij"
    )
    centers = np.stack([cx.ravel(), cy.ravel()], axis=1)[:, None, :]  # (HW, 1, 2)
    half = wh[None, :, :] / 2.0
    boxes = np.concatenate([centers - half, centers + half], axis=2)  # (HW, P, 4)
    boxes /= np.array([img_w, img_h, img_w, img_h], np.float64)
    if param.scalar("clip", False):
        boxes = boxes.clip(0.0, 1.0)
    variance = [float(v) for v in param.scalars("variance")] or [0.1]
    if len(variance) == 1:
        variance *= 4
    if len(variance) != 4:
        raise ValueError(f"variance needs 1 or 4 values, got {variance}")
    boxes = boxes.reshape(-1)
    var = np.tile(np.array(variance, np.float64), boxes.size // 4)
    return np.stack([boxes, var]).astype(np.float32)


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int) -> np.ndarray:
    """Greedy NMS on normalized boxes, highest score first, among the ``top_k`` best (Caffe's
    ``ApplyNMSFast`` with eta 1); OpenCV's C++ implementation for speed."""
    xywh = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]]).astype(np.float64)
    idx = cv2.dnn.NMSBoxes(
        xywh, scores.astype(np.float32), 0.0, float(iou_threshold), 1.0, max(int(top_k), 0)
    )
    return np.asarray(idx, np.int64).reshape(-1)


def detection_output(
    loc: np.ndarray,
    conf: np.ndarray,
    priors: np.ndarray,
    param: TextMessage,
    score_floor: float = NETWORK_SCORE_FLOOR,
) -> np.ndarray:
    """Caffe-SSD ``DetectionOutput`` (shared locations, CENTER_SIZE code) as ``(N, 7)`` rows."""
    num_classes = int(param.scalar("num_classes"))
    background = int(param.scalar("background_label_id", 0))
    nms = param.message("nms_param") or TextMessage()
    nms_threshold = float(nms.scalar("nms_threshold", 0.3))
    top_k = int(nms.scalar("top_k", -1))
    keep_top_k = int(param.scalar("keep_top_k", -1))
    loc = loc.reshape(-1, 4).astype(np.float64)
    conf = conf.reshape(loc.shape[0], num_classes)
    boxes, var = priors[0].reshape(-1, 4), priors[1].reshape(-1, 4)
    pw, ph = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    pcx, pcy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    cx = var[:, 0] * loc[:, 0] * pw + pcx
    cy = var[:, 1] * loc[:, 1] * ph + pcy
    w = np.exp(var[:, 2] * loc[:, 2]) * pw
    h = np.exp(var[:, 3] * loc[:, 3]) * ph
    decoded = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    rows = []
    for c in range(num_classes):
        if c == background:
            continue
        cand = np.flatnonzero(conf[:, c] > score_floor)
        if cand.size == 0:
            continue
        kept = cand[_nms(decoded[cand], conf[cand, c], nms_threshold, top_k)]
        for i in kept:
            rows.append((0.0, float(c), float(conf[i, c]), *decoded[i]))
    out = np.array(rows, np.float32).reshape(-1, 7)
    if keep_top_k > -1 and out.shape[0] > keep_top_k:
        out = out[np.argsort(-out[:, 2], kind="stable")[:keep_top_k]]
    return out


# --------------------------------------------------------------------------------------------
# Translation to ONNX
# --------------------------------------------------------------------------------------------


def _pair(p: TextMessage, name: str, default: int) -> tuple[int, int]:
    """Caffe's ``kernel_size``/``stride``/``pad`` (repeated, or ``*_h``/``*_w``) as (h, w)."""
    h, w = p.scalar(f"{name}_h"), p.scalar(f"{name}_w")
    if h is not None or w is not None:
        return int(h if h is not None else default), int(w if w is not None else default)
    vals = [int(v) for v in p.scalars(name)]
    if not vals:
        return default, default
    return (vals[0], vals[0]) if len(vals) == 1 else (vals[0], vals[1])


class _Translator:
    """Builds the ONNX graph layer by layer; keeps NumPy-side constants (priors) aside."""

    def __init__(
        self, weights: dict[str, list[np.ndarray]], proto_path: str, model_path: str
    ) -> None:
        import onnx
        from onnx import helper, numpy_helper

        self.onnx, self.helper, self.numpy_helper = onnx, helper, numpy_helper
        self.weights = weights
        self.proto_path, self.model_path = proto_path, model_path
        self.nodes: list = []
        self.initializers: list = []
        self.tensor: dict[str, str] = {}  # Caffe blob name -> current ONNX tensor name
        self.consts: dict[str, np.ndarray] = {}  # Caffe blob name -> NumPy value (priors)
        self.prior_layers: list[tuple[str, TextMessage, str]] = []  # (top, param, bottom)
        self.detection: tuple[str, str, str, TextMessage] | None = None
        self.input_name = "data"
        self.input_shape: list[int] = []
        self._n = 0

    def fail(self, layer: str, msg: str) -> CaffeFormatError:
        return CaffeFormatError(f"config_path {self.proto_path}: layer {layer!r}: {msg}")

    def init(self, name: str, array: np.ndarray) -> str:
        self._n += 1
        tname = f"w{self._n}:{name}"
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), tname))
        return tname

    def node(self, op: str, inputs: list[str], top: str, layer: str, **attrs) -> None:
        self._n += 1
        out = f"t{self._n}:{layer}"
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        self.tensor[top] = out

    def blobs(self, layer: str, count: int) -> list[np.ndarray]:
        blobs = self.weights.get(layer)
        if blobs is None or len(blobs) < count:
            raise CaffeFormatError(
                f"model_path {self.model_path} has {'no' if not blobs else len(blobs)} weight "
                f"blobs for layer {layer!r} of config_path {self.proto_path} (expected {count}): "
                f"the .caffemodel does not belong to this .prototxt"
            )
        return blobs

    def translate(self, net: TextMessage) -> None:
        if net.scalars("input"):
            self.input_name = net.scalars("input")[0]
            shape = net.message("input_shape")
            dims = shape.scalars("dim") if shape is not None else net.scalars("input_dim")
            self.input_shape = [int(d) for d in dims]
            self.tensor[self.input_name] = self.input_name
        layers = net.get_all("layer") or net.get_all("layers")
        if not layers:
            raise CaffeFormatError(
                f"config_path {self.proto_path} has no 'layer {{ ... }}' entries: expected a "
                f"Caffe deploy .prototxt"
            )
        for layer in layers:
            self.layer(layer)
        if self.detection is None:
            raise CaffeFormatError(
                f"config_path {self.proto_path} has no DetectionOutput layer: it is not an SSD"
            )
        if len(self.input_shape) != 4:
            raise CaffeFormatError(
                f"config_path {self.proto_path} declares no 4-D input shape (got "
                f"{self.input_shape}); expected 'input_shape {{ dim: 1 dim: 3 dim: H dim: W }}'"
            )

    def layer(self, layer: TextMessage) -> None:  # noqa: C901 - one branch per layer type
        name, kind = layer.scalar("name", "?"), str(layer.scalar("type", ""))
        bottoms, tops = layer.scalars("bottom"), layer.scalars("top")
        if any(inc.scalar("phase") == "TRAIN" for inc in layer.get_all("include")):
            return
        if kind not in SUPPORTED_LAYERS:
            raise self.fail(
                name, f"type {kind!r} is not supported (supported: {', '.join(SUPPORTED_LAYERS)})"
            )
        missing = [b for b in bottoms if b not in self.tensor and b not in self.consts]
        if missing:
            raise self.fail(name, f"input blob(s) {missing} are not produced by earlier layers")
        ins = [self.tensor.get(b, "") for b in bottoms]
        top = tops[0] if tops else name

        if kind == "Input":
            p = layer.message("input_param") or TextMessage()
            shape = p.message("shape")
            self.input_name = top
            self.input_shape = [int(d) for d in shape.scalars("dim")] if shape else []
            self.tensor[top] = top
        elif kind == "Convolution":
            p = layer.message("convolution_param") or TextMessage()
            bias = bool(p.scalar("bias_term", True))
            blobs = self.blobs(name, 2 if bias else 1)
            w = blobs[0]
            kh, kw = (
                _pair(p, "kernel", 0)
                if p.scalar("kernel_h") is not None
                else _pair(p, "kernel_size", 0)
            )
            group = int(p.scalar("group", 1))
            out_ch = int(p.scalar("num_output", 0))
            if w.size % max(out_ch * kh * kw, 1) or out_ch * kh * kw == 0:
                raise self.fail(
                    name,
                    f"weights of {w.size} values do not fit num_output "
                    f"{out_ch} and kernel {kh}x{kw}",
                )
            w = w.reshape(out_ch, -1, kh, kw)
            sh, sw = _pair(p, "stride", 1)
            ph, pw = _pair(p, "pad", 0)
            dil = [int(d) for d in p.scalars("dilation")] or [1]
            dil = dil * 2 if len(dil) == 1 else dil
            inputs = [ins[0], self.init(name + "/W", w)]
            if bias:
                inputs.append(self.init(name + "/b", blobs[1].reshape(-1)))
            self.node(
                "Conv",
                inputs,
                top,
                name,
                kernel_shape=[kh, kw],
                strides=[sh, sw],
                pads=[ph, pw, ph, pw],
                dilations=dil[:2],
                group=group,
            )
        elif kind == "ReLU":
            p = layer.message("relu_param") or TextMessage()
            slope = float(p.scalar("negative_slope", 0.0))
            if slope:
                self.node("LeakyRelu", ins[:1], top, name, alpha=slope)
            else:
                self.node("Relu", ins[:1], top, name)
        elif kind in ("Sigmoid", "TanH"):
            self.node("Sigmoid" if kind == "Sigmoid" else "Tanh", ins[:1], top, name)
        elif kind == "BatchNorm":
            p = layer.message("batch_norm_param") or TextMessage()
            mean, var, factor = self.blobs(name, 3)[:3]
            f = float(factor.reshape(-1)[0])
            f = 0.0 if f == 0 else 1.0 / f
            c = mean.size
            self.node(
                "BatchNormalization",
                [
                    ins[0],
                    self.init(name + "/gamma", np.ones(c, np.float32)),
                    self.init(name + "/beta", np.zeros(c, np.float32)),
                    self.init(name + "/mean", (mean.reshape(-1) * f).astype(np.float32)),
                    self.init(name + "/var", (var.reshape(-1) * f).astype(np.float32)),
                ],
                top,
                name,
                epsilon=float(p.scalar("eps", 1e-5)),
            )
        elif kind == "Scale":
            p = layer.message("scale_param") or TextMessage()
            bias = bool(p.scalar("bias_term", False))
            blobs = self.blobs(name, 2 if bias else 1)
            gamma = blobs[0].reshape(-1, 1, 1)
            self.node("Mul", [ins[0], self.init(name + "/gamma", gamma)], top + "/mul", name)
            if bias:
                beta = blobs[1].reshape(-1, 1, 1)
                self.node(
                    "Add", [self.tensor[top + "/mul"], self.init(name + "/beta", beta)], top, name
                )
            else:
                self.tensor[top] = self.tensor[top + "/mul"]
        elif kind == "Eltwise":
            p = layer.message("eltwise_param") or TextMessage()
            op = str(p.scalar("operation", "SUM"))
            if any(float(c) != 1.0 for c in p.scalars("coeff")):
                raise self.fail(name, "Eltwise coefficients other than 1 are not supported")
            onnx_op = {
                "SUM": "Sum",
                "PROD": "Mul",
                "MAX": "Max",
                "1": "Sum",
                "0": "Mul",
                "2": "Max",
            }.get(op)
            if onnx_op is None:
                raise self.fail(name, f"Eltwise operation {op!r} is not supported")
            if onnx_op == "Mul" and len(ins) > 2:
                raise self.fail(name, "PROD of more than two inputs is not supported")
            self.node(onnx_op, ins, top, name)
        elif kind == "Pooling":
            p = layer.message("pooling_param") or TextMessage()
            pool = str(p.scalar("pool", "MAX"))
            is_max = pool in ("MAX", "0")
            if pool not in ("MAX", "AVE", "0", "1"):
                raise self.fail(name, f"pooling {pool!r} is not supported")
            if p.scalar("global_pooling", False):
                self.node("GlobalMaxPool" if is_max else "GlobalAveragePool", ins[:1], top, name)
            else:
                kh, kw = (
                    _pair(p, "kernel", 0)
                    if p.scalar("kernel_h") is not None
                    else _pair(p, "kernel_size", 0)
                )
                sh, sw = _pair(p, "stride", 1)
                ph, pw = _pair(p, "pad", 0)
                attrs = dict(
                    kernel_shape=[kh, kw], strides=[sh, sw], pads=[ph, pw, ph, pw], ceil_mode=1
                )  # Caffe rounds pooled sizes up
                if not is_max:
                    attrs["count_include_pad"] = 1
                self.node("MaxPool" if is_max else "AveragePool", ins[:1], top, name, **attrs)
        elif kind == "Permute":
            p = layer.message("permute_param") or TextMessage()
            order = [int(o) for o in p.scalars("order")]
            order += [i for i in range(4) if i not in order]
            self.node("Transpose", ins[:1], top, name, perm=order)
        elif kind == "Flatten":
            p = layer.message("flatten_param") or TextMessage()
            if int(p.scalar("end_axis", -1)) != -1:
                raise self.fail(name, "Flatten with end_axis other than -1 is not supported")
            self.node("Flatten", ins[:1], top, name, axis=int(p.scalar("axis", 1)))
        elif kind == "Concat":
            p = layer.message("concat_param") or TextMessage()
            axis = int(p.scalar("axis", p.scalar("concat_dim", 1)))
            if all(b in self.consts for b in bottoms):
                self.consts[top] = np.zeros(0, np.float32)  # priors: filled once shapes are known
            elif any(b in self.consts for b in bottoms):
                raise self.fail(name, "cannot concatenate prior boxes with network outputs")
            else:
                self.node("Concat", ins, top, name, axis=axis)
        elif kind == "Reshape":
            p = layer.message("reshape_param") or TextMessage()
            if int(p.scalar("axis", 0)) != 0 or int(p.scalar("num_axes", -1)) != -1:
                raise self.fail(name, "Reshape with axis/num_axes is not supported")
            shape = p.message("shape")
            dims = np.array([int(d) for d in shape.scalars("dim")] if shape else [], np.int64)
            self.node("Reshape", [ins[0], self.init(name + "/shape", dims)], top, name)
        elif kind == "Softmax":
            p = layer.message("softmax_param") or TextMessage()
            self.node("Softmax", ins[:1], top, name, axis=int(p.scalar("axis", 1)))
        elif kind in ("Dropout", "Split"):
            for t in tops or [top]:
                self.tensor[t] = ins[0]
        elif kind == "PriorBox":
            if len(bottoms) < 2:
                raise self.fail(name, "PriorBox needs a feature map and the image as inputs")
            self.prior_layers.append(
                (top, layer.message("prior_box_param") or TextMessage(), ins[0])
            )
            self.consts[top] = np.zeros(0, np.float32)  # filled once shapes are known
        elif kind == "DetectionOutput":
            if len(bottoms) < 3 or bottoms[2] not in self.consts:
                raise self.fail(name, "DetectionOutput needs (loc, conf, PriorBox output) inputs")
            self.detection = (
                ins[0],
                ins[1],
                bottoms[2],
                layer.message("detection_output_param") or TextMessage(),
            )

    def build(self):
        """The serialized ONNX model and the shapes of every tensor (from ONNX inference)."""
        helper, onnx = self.helper, self.onnx
        loc, conf, _, _ = self.detection  # type: ignore[misc]
        x = helper.make_tensor_value_info(self.input_name, onnx.TensorProto.FLOAT, self.input_shape)
        outs = [helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in (loc, conf)]
        graph = helper.make_graph(self.nodes, "caffe_ssd", [x], outs, self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", 13)],
            producer_name="mot_ros.detection.formats.caffe_ssd",
        )
        model.ir_version = 8
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        except Exception as exc:  # onnx raises its own error types; report them as one
            raise CaffeFormatError(
                f"config_path {self.proto_path} and model_path {self.model_path} do not form a "
                f"consistent network: {str(exc).splitlines()[0]}"
            ) from exc
        shapes = {
            v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*inferred.graph.value_info, *inferred.graph.output]
        }
        shapes[self.input_name] = self.input_shape
        # OpenCV's importer wants shaped outputs.
        del model.graph.output[:]
        for t in (loc, conf):
            model.graph.output.append(
                helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, shapes[t])
            )
        return model.SerializeToString(), shapes


class CaffeSsdNet:
    """A Caffe SSD translated for OpenCV 5: ``forward(blob)`` returns DetectionOutput rows.

    Attributes: ``num_classes`` (with background), ``input_width``/``input_height`` (from the
    prototxt), ``num_priors``.
    """

    def __init__(
        self, prototxt: str | os.PathLike, caffemodel: str | os.PathLike, engine: int | None = None
    ) -> None:
        proto_path, model_path = str(prototxt), str(caffemodel)
        try:
            net_def = parse_text_proto(Path(proto_path).read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise CaffeFormatError(
                f"config_path {proto_path} is not a Caffe .prototxt: expected protobuf text, "
                f"found a binary file (is it the .caffemodel?)"
            ) from exc
        except ValueError as exc:
            raise CaffeFormatError(
                f"config_path {proto_path} is not a Caffe .prototxt (protobuf text): {exc}"
            ) from exc
        weights = read_caffemodel(model_path)
        tr = _Translator(weights, proto_path, model_path)
        tr.translate(net_def)
        data, shapes = tr.build()
        _, _, ih, iw = tr.input_shape
        for top, param, feature in tr.prior_layers:
            fh, fw = shapes[feature][2:4]
            try:
                tr.consts[top] = prior_boxes(param, (fh, fw), (ih, iw))[None]
            except ValueError as exc:
                raise tr.fail(top, f"PriorBox {exc}") from exc
        # Concats of priors were recorded before shapes were known: recompute them in order.
        for layer in net_def.get_all("layer") or net_def.get_all("layers"):
            if str(layer.scalar("type")) == "Concat" and all(
                b in tr.consts for b in layer.scalars("bottom")
            ):
                p = layer.message("concat_param") or TextMessage()
                axis = int(p.scalar("axis", p.scalar("concat_dim", 1)))
                tops = layer.scalars("top") or [layer.scalar("name")]
                tr.consts[tops[0]] = np.concatenate(
                    [tr.consts[b] for b in layer.scalars("bottom")], axis=axis
                )
        loc, conf, prior_blob, self._param = tr.detection  # type: ignore[misc]
        self._priors = tr.consts[prior_blob].reshape(2, -1)
        self.num_priors = self._priors.shape[1] // 4
        self.num_classes = int(self._param.scalar("num_classes", 0))
        if self.num_classes < 2:
            raise tr.fail("DetectionOutput", "num_classes must be at least 2 (with background)")
        if (
            int(np.prod(shapes[loc][1:])) != self.num_priors * 4
            or int(np.prod(shapes[conf][1:])) != self.num_priors * self.num_classes
        ):
            raise CaffeFormatError(
                f"config_path {proto_path}: {self.num_priors} prior boxes, but the location output "
                f"has shape {shapes[loc]} and the confidence output {shapes[conf]} for "
                f"{self.num_classes} classes"
            )
        if not bool(self._param.scalar("share_location", True)):
            raise tr.fail("DetectionOutput", "share_location: false is not supported")
        code = str(self._param.scalar("code_type", "CORNER"))
        if code not in ("CENTER_SIZE", "2"):
            raise tr.fail("DetectionOutput", f"code_type {code} is not supported (CENTER_SIZE)")
        self.input_height, self.input_width = ih, iw
        buf = np.frombuffer(data, np.uint8)
        try:
            net = (
                cv2.dnn.readNetFromONNX(buf)
                if engine is None
                else cv2.dnn.readNetFromONNX(buf, engine)
            )
        except cv2.error as exc:
            raise CaffeFormatError(
                f"OpenCV could not run the translated {proto_path}: "
                f"{str(exc).strip().splitlines()[-1]}"
            ) from exc
        self._net = net
        self._outputs = [loc, conf]

    def forward(self, blob: np.ndarray) -> np.ndarray:
        self._net.setInput(blob)
        loc, conf = self._net.forward(self._outputs)
        return detection_output(loc[0], conf[0], self._priors, self._param)
