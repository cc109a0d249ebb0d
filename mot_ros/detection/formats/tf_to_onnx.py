"""Convert a TF Object Detection API SSD frozen graph (``.pb``) to ONNX, without TensorFlow.

Why: OpenCV DNN computes the last SSD head (a 3x3 depthwise convolution on a 1x1 feature map)
wrongly, and that head holds the six largest anchors -- a person filling the frame. onnxruntime
computes it right and runs the network about twice as fast, but needs an ONNX model, and the
usual converter (tf2onnx) needs TensorFlow. This module converts the part of the graph that is
plain convolutional network -- from the Preprocessor's output to the raw box-predictor heads --
and reads what follows (anchors, box coder, score function, NMS settings) from the graph into
metadata, for :mod:`mot_ros.detection.ssd_decoding` to apply in NumPy.

The ONNX model has one input and three outputs:

* ``image``: ``[1, 3, H, W]`` float32, RGB, already scaled as the Preprocessor would
  (``[-1, 1]`` for MobileNet SSDs); ``H`` and ``W`` are free, the network is fully convolutional;
* ``box_encodings``: ``[1, N, 4]`` raw ``(ty, tx, th, tw)`` per anchor;
* ``class_logits``: ``[1, N, num_classes + 1]``, background first, before sigmoid/softmax;
* ``feature_map_shapes``: ``[num_heads, 2]`` int64 ``(height, width)`` of every head, so
  anchors can be generated for whatever input size is used.

Layout: TF is NHWC, ONNX convolutions NCHW. Activations are kept NCHW; where TF reshapes a head
(``[1, H, W, A*4] -> [1, H*W*A, 4]``, i.e. flattening in H, W, anchor order) a transpose back to
NHWC is inserted first, so the anchor order is TF's.

Only the ops SSD feature extractors and box predictors use are mapped; anything else raises
:class:`SsdConversionError` naming the file, the node and the op.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mot_ros.detection.formats.tf_graphdef import (
    GraphDef,
    GraphDefError,
    NodeDef,
    node_name,
    output_index,
)
from mot_ros.detection.formats.tf_numpy import TfNumpyEvaluator
from mot_ros.detection.ssd_decoding import (
    DEFAULT_BOX_CODER_SCALES,
    SsdPostprocess,
    infer_anchor_layers,
)

CONVERTER_VERSION = 1
METADATA_KEY = "mot_ros.ssd"
OPSET = 17
IR_VERSION = 8  # onnxruntime >= 1.10 reads it; newer IR versions buy nothing here
INPUT_NAME = "image"
OUTPUT_BOXES = "box_encodings"
OUTPUT_CLASSES = "class_logits"
OUTPUT_SHAPES = "feature_map_shapes"

_UNKNOWN = -(2**40)  # a dimension only known at run time (height/width), in folded shapes
_NHWC_TO_NCHW = (0, 3, 1, 2)
_NCHW_TO_NHWC = (0, 2, 3, 1)
_AXIS_NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1}
# Shape plumbing that may carry an unknown dimension without using its value.
_SHAPE_OPS = {
    "Shape",
    "StridedSlice",
    "Slice",
    "Pack",
    "ConcatV2",
    "Identity",
    "Squeeze",
    "ExpandDims",
    "Const",
}


class SsdConversionError(ValueError):
    """The graph is not an SSD this converter understands; the message says what and where."""


@dataclass(frozen=True)
class SsdModelInfo:
    """What the converter learned about the SSD; stored as JSON in the ONNX metadata.

    ``anchor_box_sizes`` is ``None`` when the graph has no anchor generator that could be
    evaluated; the detector then uses the default SSD anchor generator.
    """

    source_sha256: str
    head_names: tuple[str, ...]
    anchors_per_location: tuple[int, ...]
    num_classes: int  # including background
    native_input_size: tuple[int, int] | None
    native_feature_map_shapes: tuple[tuple[int, int], ...] | None
    anchor_box_sizes: tuple[tuple[tuple[float, float], ...], ...] | None
    postprocess: dict = field(default_factory=dict)
    preprocess_scale: float | None = None
    preprocess_mean: float | None = None
    converter_version: int = CONVERTER_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SsdModelInfo:
        data = json.loads(text)

        def tuples(value):
            return tuple(tuples(v) for v in value) if isinstance(value, list) else value

        return cls(**{k: (v if k == "postprocess" else tuples(v)) for k, v in data.items()})

    def postprocess_config(self) -> SsdPostprocess:
        p = dict(self.postprocess)
        if "box_coder_scales" in p:
            p["box_coder_scales"] = tuple(p["box_coder_scales"])
        return SsdPostprocess(**p)


# --------------------------------------------------------------------------------------------
# Finding the SSD structure


def _head_index(prefix: str) -> tuple:
    """Natural sort key: ``BoxPredictor_10`` after ``BoxPredictor_2``."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", prefix))


def strip_identity(graph: GraphDef, tensor: str) -> str:
    """The tensor behind a chain of ``Identity`` nodes (TF's ``.../read`` of every weight)."""
    while True:
        node = graph.node(tensor)
        if node.op not in ("Identity", "StopGradient") or not node.inputs:
            return tensor
        tensor = node.inputs[0]


@dataclass(frozen=True)
class SsdHeads:
    """The box-predictor heads of an SSD graph, in feature-map order."""

    names: tuple[str, ...]  # the box predictor scopes, e.g. BoxPredictor_0
    box_outputs: tuple[str, ...]  # BiasAdd of each BoxEncodingPredictor
    class_outputs: tuple[str, ...]


def find_ssd_heads(graph: GraphDef, where: str) -> SsdHeads:
    """Pairs of ``<scope>/BoxEncodingPredictor`` and ``<scope>/ClassPredictor`` convolution
    outputs (the TF OD API convolutional box predictor), sorted by scope (BoxPredictor_0..)."""
    box: dict[str, str] = {}
    cls: dict[str, str] = {}
    for node in graph.nodes.values():
        m = re.match(r"^(.*)/(BoxEncodingPredictor|ClassPredictor)/(BiasAdd|add|Add)$", node.name)
        if m:
            (box if m.group(2) == "BoxEncodingPredictor" else cls)[m.group(1)] = node.name
    prefixes = sorted(set(box) & set(cls), key=_head_index)
    if not prefixes:
        raise SsdConversionError(
            f"{where}: no SSD box predictor heads found (expected nodes named "
            f"'<scope>/BoxEncodingPredictor/BiasAdd' and '<scope>/ClassPredictor/BiasAdd'); "
            f"is this a TF Object Detection API SSD frozen graph?"
        )
    if set(box) != set(cls):
        raise SsdConversionError(
            f"{where}: box and class heads do not pair up: box heads {sorted(box)}, "
            f"class heads {sorted(cls)}"
        )
    return SsdHeads(
        tuple(prefixes), tuple(box[p] for p in prefixes), tuple(cls[p] for p in prefixes)
    )


def _find_concat(graph: GraphDef, heads: Iterable[str]) -> str | None:
    """The ConcatV2 that joins the reshaped heads (TF's own output order), if there is one."""
    consumers = graph.consumers()
    heads = list(heads)
    reshapes = []
    for head in heads:
        nxt = [c for c in consumers[head] if graph.nodes[c].op == "Reshape"]
        if len(nxt) != 1:
            return None
        reshapes.append(nxt[0])
    for candidate in consumers[reshapes[0]]:
        node = graph.nodes[candidate]
        data_inputs = [node_name(i) for i in node.inputs[:-1]]
        if node.op == "ConcatV2" and sorted(data_inputs) == sorted(reshapes):
            return candidate
    return None


def find_network_input(graph: GraphDef, outputs: Iterable[str], where: str) -> str:
    """The tensor the network starts from: what the graph reads from the Preprocessor scope,
    or a float Placeholder when the graph has no Preprocessor."""
    boundary: set[str] = set()
    seen: set[str] = set()
    stack = [node_name(t) for t in outputs]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        node = graph.nodes[name]
        for tensor in node.inputs:
            if tensor.startswith("^"):
                continue
            src = graph.nodes.get(node_name(tensor))
            if src is None:
                raise SsdConversionError(
                    f"{where}: node {name!r} reads {tensor!r}, which is not in the graph"
                )
            if src.name.startswith("Preprocessor/") or src.op == "Placeholder":
                boundary.add(tensor)
            else:
                stack.append(src.name)
    if len(boundary) != 1:
        raise SsdConversionError(
            f"{where}: expected the heads to depend on exactly one input tensor (the "
            f"Preprocessor output or a Placeholder), found {sorted(boundary) or 'none'}"
        )
    tensor = boundary.pop()
    node = graph.node(tensor)
    if node.op == "Placeholder" and node.attr.get("dtype") != 1:
        raise SsdConversionError(
            f"{where}: the network input {tensor!r} is a Placeholder of dtype code "
            f"{node.attr.get('dtype')}, expected float32 (a graph whose Preprocessor was cut)"
        )
    return tensor


def _const_value(graph: GraphDef, name: str):
    node = graph.nodes.get(name)
    if node is None:
        return None
    node = graph.node(strip_identity(graph, name))
    if node.op != "Const":
        return None
    return node.attr.get("value")


def _read_postprocess(graph: GraphDef) -> dict:
    """Box coder scales, score function, NMS settings from the Postprocessor, where present."""
    out: dict = {}
    scales = dict(enumerate(DEFAULT_BOX_CODER_SCALES))
    found_scales = 0
    for node in graph.nodes.values():
        if node.op == "RealDiv" and re.match(
            r"^(.*/)?Postprocessor/Decode/truediv(_\d+)?$", node.name
        ):
            src = node.inputs[0]
            if re.search(r"Decode/unstack(:\d)?$", src):
                value = _const_value(graph, node_name(node.inputs[1]))
                if value is not None and value.size == 1:
                    scales[output_index(src)] = float(value)
                    found_scales += 1
    if found_scales == 4:
        out["box_coder_scales"] = [scales[i] for i in range(4)]
    for node in graph.nodes.values():
        if not node.name.startswith("Postprocessor/"):
            continue
        if node.name.endswith("/convert_scores") or node.name == "Postprocessor/convert_scores":
            if node.op == "Sigmoid":
                out["score_converter"] = "sigmoid"
            elif node.op == "Softmax":
                out["score_converter"] = "softmax"
            elif node.op == "Identity":
                out["score_converter"] = "identity"
        elif node.name.endswith("/scale_logits") and node.op == "RealDiv":
            value = _const_value(graph, node_name(node.inputs[1]))
            if value is not None and value.size == 1:
                out["logit_scale"] = float(value)
        elif node.op in ("NonMaxSuppressionV2", "NonMaxSuppressionV3") and len(node.inputs) >= 4:
            value = _const_value(graph, node_name(node.inputs[3]))
            if value is not None and value.size == 1:
                out["iou_threshold"] = float(value)
        elif node.op == "Const" and node.name.endswith("MultiClassNonMaxSuppression/Minimum/x"):
            out["max_detections_per_class"] = int(node.attr["value"])
        elif node.op == "Const" and node.name.endswith("MultiClassNonMaxSuppression/Minimum_1/x"):
            out["max_total_detections"] = int(node.attr["value"])
    return out


def _read_preprocess(graph: GraphDef, input_tensor: str):
    """``(native (h, w), scale, mean)`` from a ``Resize*`` + ``Mul``/``Sub`` Preprocessor."""
    size = None
    for node in graph.nodes.values():
        if (
            node.name.startswith("Preprocessor/")
            and node.op.startswith("Resize")
            and len(node.inputs) > 1
        ):
            value = _const_value(graph, node_name(node.inputs[1]))
            if value is not None and value.size == 2:
                size = (int(value[0]), int(value[1]))
    scale = mean = None
    node = graph.node(input_tensor)
    if node.op == "Sub":
        mul = graph.node(node.inputs[0])
        offset = _const_value(graph, node_name(node.inputs[1]))
        if mul.op == "Mul" and offset is not None and offset.size == 1:
            factor = _const_value(graph, node_name(mul.inputs[0]))
            if factor is None:
                factor = _const_value(graph, node_name(mul.inputs[1]))
            if factor is not None and factor.size == 1 and float(factor) != 0:
                scale = float(factor)
                mean = float(offset) / scale
    return size, scale, mean


def _read_anchors(graph: GraphDef, anchors_per_location, where: str):
    """Evaluate the anchor generator (a sub-graph of constants in exported SSDs)."""
    names = ("Concatenate/concat", "MultipleGridAnchorGenerator/Concatenate/concat")
    candidates = [n for n in names if n in graph.nodes]
    if not candidates:
        return None, None
    try:
        anchors = TfNumpyEvaluator(graph, float_dtype=np.float32).evaluate(candidates[0])
    except (NotImplementedError, KeyError, ValueError):
        return None, None  # e.g. depends on the image shape at run time: use the defaults
    try:
        layers, shapes = infer_anchor_layers(anchors, anchors_per_location)
    except ValueError as exc:
        raise SsdConversionError(f"{where}: cannot use the graph's anchors: {exc}") from None
    return layers.box_sizes, shapes


# --------------------------------------------------------------------------------------------
# Op mapping


@dataclass
class _Tensor:
    """A converted TF tensor: its ONNX name, whether it is NCHW (TF NHWC activations are), its
    TF-order shape (None = known only at run time), or its constant value."""

    name: str | None
    nchw: bool = False
    shape: tuple | None = None
    const: np.ndarray | None = None
    tf_node: str | None = None  # the TF node whose output this is (for folding decisions)


class _Converter:
    def __init__(self, graph: GraphDef, input_tensor: str, where: str) -> None:
        from onnx import helper, numpy_helper

        self.helper = helper
        self.numpy_helper = numpy_helper
        self.graph = graph
        self.where = where
        self.nodes: list = []
        self.initializers: dict[str, np.ndarray] = {}
        self.tensors: dict[str, _Tensor] = {}
        self.producers: dict[str, int] = {}  # ONNX output name -> index in self.nodes
        self.tf_uses: dict[str, int] = {}  # TF node -> data uses by converted nodes
        self._names: set[str] = set()
        key = f"{node_name(input_tensor)}:{output_index(input_tensor)}"
        self.tensors[key] = _Tensor(INPUT_NAME, nchw=True, shape=(1, None, None, 3))
        self.input_key = key

    # -- helpers ------------------------------------------------------------------------------

    def fail(self, node: NodeDef, why: str):
        raise SsdConversionError(
            f"{self.where}: cannot convert node {node.name!r} (op {node.op}): {why}"
        )

    def unique(self, base: str) -> str:
        name = base
        k = 1
        while name in self._names:
            name = f"{base}__{k}"
            k += 1
        self._names.add(name)
        return name

    def add_node(self, op: str, inputs: list[str], base: str, **attrs) -> str:
        out = self.unique(base)
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=out, **attrs))
        self.producers[out] = len(self.nodes) - 1
        return out

    def initializer(self, value: np.ndarray, base: str) -> str:
        name = self.unique(base)
        self.initializers[name] = np.ascontiguousarray(value)
        return name

    def get(self, tensor: str) -> _Tensor:
        key = f"{node_name(tensor)}:{output_index(tensor)}"
        return self.tensors[key]

    def to_nchw(self, t: _Tensor, base: str) -> str:
        if t.const is not None:
            return self.initializer(self.const_like_nchw(t.const), base + "/const")
        if t.nchw or t.shape is None or len(t.shape) != 4:
            return t.name
        return self.add_node("Transpose", [t.name], base + "/to_nchw", perm=list(_NHWC_TO_NCHW))

    def to_tf(self, t: _Tensor, base: str) -> str:
        if t.const is not None:
            return self.initializer(t.const, base + "/const")
        if not t.nchw:
            return t.name
        return self.add_node("Transpose", [t.name], base + "/to_nhwc", perm=list(_NCHW_TO_NHWC))

    @staticmethod
    def const_like_nchw(value: np.ndarray) -> np.ndarray:
        """A constant that TF broadcasts against an NHWC tensor, re-laid for NCHW."""
        if value.ndim == 4:
            return value.transpose(_NHWC_TO_NCHW)
        if value.ndim == 1 and value.size > 1:
            return value.reshape(-1, 1, 1)
        if value.ndim in (2, 3):
            raise ValueError("rank-2/3 constants broadcast against NHWC are not supported")
        return value

    # -- conversion ---------------------------------------------------------------------------

    def convert(self, targets: list[str]) -> None:
        order = self.topological_order(targets)
        for node in order:
            if node.op == "Shape":
                continue  # reads only the static shape, never the values
            for tensor in node.inputs:
                if not tensor.startswith("^"):
                    name = node_name(tensor)
                    self.tf_uses[name] = self.tf_uses.get(name, 0) + 1
        for node in order:
            self.convert_node(node)

    def topological_order(self, targets: list[str]) -> list[NodeDef]:
        order: list[NodeDef] = []
        done: set[str] = {node_name(self.input_key)}
        stack = [(node_name(t), False) for t in targets]
        while stack:
            name, expanded = stack.pop()
            if name in done:
                continue
            node = self.graph.nodes[name]
            if expanded:
                done.add(name)
                order.append(node)
                continue
            stack.append((name, True))
            for tensor in node.inputs:
                if not tensor.startswith("^") and node_name(tensor) not in done:
                    stack.append((node_name(tensor), False))
        return order

    def convert_node(self, node: NodeDef) -> None:  # noqa: C901 - one dispatch per op
        op = node.op
        ins = [self.get(t) for t in node.inputs if not t.startswith("^")]
        key = f"{node.name}:0"
        if op == "Const":
            self.tensors[key] = _Tensor(None, const=node.attr["value"])
            return
        if all(t.const is not None for t in ins) and op != "Placeholder" or op == "Shape":
            self.tensors.update(self.fold(node, ins))
            return
        if op in ("Identity", "StopGradient"):
            self.tensors[key] = ins[0]
            return
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            self.tensors[key] = self.conv(node, ins)
        elif op in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
            self.tensors[key] = self.batch_norm(node, ins)
        elif op in ("BiasAdd", "Add", "AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum"):
            self.tensors[key] = self.binary(node, ins)
        elif op in ("Relu6", "Relu", "Sigmoid"):
            x = ins[0]
            if op == "Relu6":
                lo = self.initializer(np.array(0, np.float32), node.name + "/min")
                hi = self.initializer(np.array(6, np.float32), node.name + "/max")
                out = self.add_node("Clip", [x.name, lo, hi], node.name)
            else:
                out = self.add_node(op, [x.name], node.name)
            self.tensors[key] = _Tensor(out, x.nchw, x.shape)
        elif op == "Reshape":
            self.tensors[key] = self.reshape(node, ins)
        elif op == "ConcatV2":
            self.tensors[key] = self.concat(node, ins)
        elif op == "Squeeze":
            x = ins[0]
            axes = [int(a) for a in node.attr.get("squeeze_dims") or ()]
            if not axes or x.shape is None:
                self.fail(node, "Squeeze without explicit axes")
            rank = len(x.shape)
            axes = [a % rank for a in axes]
            src = self.to_tf(x, node.name)
            axes_name = self.initializer(np.array(axes, np.int64), node.name + "/axes")
            out = self.add_node("Squeeze", [src, axes_name], node.name)
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
            self.tensors[key] = _Tensor(out, False, shape)
        else:
            self.fail(node, "op not supported by the SSD converter")

    def fold(self, node: NodeDef, ins: list[_Tensor]) -> dict[str, _Tensor]:
        """Constant-fold a node whose inputs are constants (and Shape of activations)."""
        if node.op == "Shape":
            shape = ins[0].shape
            if shape is None:
                self.fail(node, "Shape of a tensor of unknown rank")
            value = np.array([_UNKNOWN if d is None else d for d in shape], np.int64)
            dtype = np.int64 if node.attr.get("out_type", 3) == 9 else np.int32
            return {f"{node.name}:0": _Tensor(None, const=value.astype(dtype))}
        if node.op not in _SHAPE_OPS and any(
            t.const.dtype.kind == "i" and np.any(t.const == _UNKNOWN) for t in ins
        ):
            self.fail(
                node,
                "depends on the input's height or width; only graphs whose shape "
                "arithmetic needs the batch size alone are supported",
            )
        evaluator = TfNumpyEvaluator(self.graph, float_dtype=np.float32)
        try:
            values = evaluator.compute_node(node, [t.const for t in ins])
        except NotImplementedError as exc:
            self.fail(node, f"cannot fold constant: {exc}")
        if not isinstance(values, list):
            values = [values]
        return {
            f"{node.name}:{k}": _Tensor(None, const=np.asarray(v)) for k, v in enumerate(values)
        }

    def conv(self, node: NodeDef, ins: list[_Tensor]) -> _Tensor:
        x, w = ins
        if w.const is None:
            self.fail(node, "weights are not a constant")
        if node.attr.get("data_format", b"NHWC") != b"NHWC":
            self.fail(node, f"data_format {node.attr.get('data_format')!r}")
        strides = node.attr.get("strides") or (1, 1, 1, 1)
        dilations = node.attr.get("dilations") or (1, 1, 1, 1)
        if strides[0] != 1 or strides[3] != 1:
            self.fail(node, f"strides {strides} on batch/channels")
        padding = node.attr.get("padding")
        weights = w.const.astype(np.float32)
        kh, kw, cin, cout = weights.shape
        attrs = {
            "strides": [int(strides[1]), int(strides[2])],
            "dilations": [int(dilations[1]), int(dilations[2])],
            "kernel_shape": [kh, kw],
        }
        if node.op == "Conv2D":
            onnx_w = weights.transpose(3, 2, 0, 1)  # HWIO -> OIHW
            channels = cout
        else:  # depthwise: [kh, kw, in, mult] -> [in*mult, 1, kh, kw], channel c*mult + m
            onnx_w = weights.reshape(kh, kw, cin * cout).transpose(2, 0, 1)[:, None]
            attrs["group"] = cin
            channels = cin * cout
        if padding == b"VALID":
            attrs["pads"] = [0, 0, 0, 0]
        elif padding == b"SAME":
            if strides[1] == 1 and strides[2] == 1 and kh % 2 and kw % 2:
                ph, pw = (kh - 1) // 2 * dilations[1], (kw - 1) // 2 * dilations[2]
                attrs["pads"] = [ph, pw, ph, pw]  # symmetric whatever the input size
            else:
                attrs["auto_pad"] = "SAME_UPPER"  # TF puts the odd pixel after, as SAME_UPPER
        else:
            self.fail(node, f"padding {padding!r}")
        src = self.to_nchw(x, node.name)
        w_name = self.initializer(onnx_w, node.name + "/W")
        b_name = self.initializer(np.zeros(channels, np.float32), node.name + "/B")
        out = self.add_node("Conv", [src, w_name, b_name], node.name, **attrs)
        return _Tensor(out, True, (1, None, None, channels), tf_node=node.name)

    def _foldable_conv(self, t: _Tensor):
        """The Conv node producing ``t`` if nothing else reads it (so it can absorb a BN)."""
        if t.const is not None or t.name not in self.producers or t.tf_node is None:
            return None
        if self.tf_uses.get(t.tf_node, 0) != 1:
            return None
        onnx_node = self.nodes[self.producers[t.name]]
        return onnx_node if onnx_node.op_type == "Conv" else None

    def batch_norm(self, node: NodeDef, ins: list[_Tensor]) -> _Tensor:
        x, scale, offset, mean, var = ins[:5]
        if node.attr.get("is_training", False):
            self.fail(node, "is_training is true (not a frozen inference graph)")
        if node.attr.get("data_format", b"NHWC") != b"NHWC":
            self.fail(node, f"data_format {node.attr.get('data_format')!r}")
        if any(t.const is None for t in (scale, offset, mean, var)):
            self.fail(node, "batch-norm parameters are not constants")
        eps = float(node.attr.get("epsilon", 1e-3))
        factor = scale.const.astype(np.float64) / np.sqrt(var.const.astype(np.float64) + eps)
        shift = offset.const.astype(np.float64) - mean.const.astype(np.float64) * factor
        conv = self._foldable_conv(x)
        if conv is not None:
            w_name, b_name = conv.input[1], conv.input[2]
            w = self.initializers[w_name]
            self.initializers[w_name] = (w * factor.reshape(-1, 1, 1, 1)).astype(np.float32)
            bias = self.initializers[b_name].astype(np.float64)
            self.initializers[b_name] = (bias * factor + shift).astype(np.float32)
            return _Tensor(x.name, x.nchw, x.shape, tf_node=node.name)
        src = self.to_nchw(x, node.name)
        names = [
            self.initializer(v.astype(np.float32), f"{node.name}/{n}")
            for n, v in (
                ("scale", factor),
                ("bias", shift),
                ("mean", np.zeros_like(factor)),
                ("var", np.ones_like(factor)),
            )
        ]
        out = self.add_node("BatchNormalization", [src, *names], node.name, epsilon=0.0)
        return _Tensor(out, True, x.shape)

    def binary(self, node: NodeDef, ins: list[_Tensor]) -> _Tensor:
        a, b = ins
        op = {
            "BiasAdd": "Add",
            "AddV2": "Add",
            "RealDiv": "Div",
            "Maximum": "Max",
            "Minimum": "Min",
        }.get(node.op, node.op)
        if op == "Add" and (a.const is not None or b.const is not None):
            x, c = (b, a) if a.const is not None else (a, b)
            conv = self._foldable_conv(x)
            if conv is not None and c.const.size in (1, self.initializers[conv.input[2]].size):
                b_name = conv.input[2]
                self.initializers[b_name] = (
                    self.initializers[b_name] + c.const.astype(np.float32).reshape(-1)
                ).astype(np.float32)
                return _Tensor(x.name, x.nchw, x.shape, tf_node=node.name)
        act = a if a.const is None else b
        nchw = act.nchw and act.shape is not None and len(act.shape) == 4
        try:
            names = [
                self.to_nchw(t, node.name) if nchw else self.to_tf(t, node.name) for t in (a, b)
            ]
        except ValueError as exc:
            self.fail(node, str(exc))
        if nchw:
            for t, name in zip((a, b), names, strict=True):
                if t.const is None and not t.nchw:
                    self.fail(node, f"mixes layouts ({name})")
        out = self.add_node(op, names, node.name)
        return _Tensor(out, nchw, act.shape)

    def reshape(self, node: NodeDef, ins: list[_Tensor]) -> _Tensor:
        x, shape = ins
        if shape.const is None:
            self.fail(node, "target shape is computed at run time")
        target = [int(d) for d in shape.const.reshape(-1)]
        if any(d == _UNKNOWN for d in target) or any(d < -1 for d in target):
            self.fail(node, f"target shape {target} depends on the input's height or width")
        if 0 in target:
            self.fail(node, f"target shape {target} has a zero dimension")
        src = self.to_tf(x, node.name)
        shape_name = self.initializer(np.array(target, np.int64), node.name + "/shape")
        out = self.add_node("Reshape", [src, shape_name], node.name)
        return _Tensor(out, False, tuple(None if d == -1 else d for d in target))

    def concat(self, node: NodeDef, ins: list[_Tensor]) -> _Tensor:
        *parts, axis_t = ins
        if axis_t.const is None:
            self.fail(node, "axis is not a constant")
        shapes = [p.shape for p in parts]
        if any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
            self.fail(node, "inputs of unknown or different ranks")
        rank = len(shapes[0])
        axis = int(axis_t.const) % rank
        all_nchw = rank == 4 and all(p.nchw or p.const is not None for p in parts)
        if all_nchw:
            names = [self.to_nchw(p, node.name) for p in parts]
            onnx_axis = _AXIS_NHWC_TO_NCHW[axis]
        else:
            names = [self.to_tf(p, node.name) for p in parts]
            onnx_axis = axis
        out = self.add_node("Concat", names, node.name, axis=onnx_axis)
        dims = [s[axis] for s in shapes]
        shape = list(shapes[0])
        shape[axis] = None if any(d is None for d in dims) else sum(dims)
        return _Tensor(out, all_nchw, tuple(shape))

    # -- model ------------------------------------------------------------------------------

    def flatten_heads(self, heads: tuple[str, ...], per_anchor: int, base: str) -> str:
        """``[1, H, W, A*k]`` per head -> ``[1, sum(H*W*A), k]`` in TF's H, W, anchor order."""
        parts = []
        shape_name = self.initializer(np.array([1, -1, per_anchor], np.int64), base + "/shape")
        for head in heads:
            t = self.get(head)
            src = self.to_tf(t, head)
            parts.append(self.add_node("Reshape", [src, shape_name], head + "/flat"))
        if len(parts) == 1:
            return self.add_node("Identity", parts, base)
        return self.add_node("Concat", parts, base, axis=1)

    def model(self, outputs: dict[str, str], shapes_output: list[str], metadata: str):
        helper = self.helper
        from onnx import TensorProto

        shape_parts = [
            self.add_node("Shape", [self.get(h).name], h + "/hw", start=2, end=4)
            for h in shapes_output
        ]
        flat = self.add_node("Concat", shape_parts, OUTPUT_SHAPES + "/flat", axis=0)
        shape2 = self.initializer(np.array([-1, 2], np.int64), OUTPUT_SHAPES + "/shape")
        self.nodes.append(
            helper.make_node("Reshape", [flat, shape2], [OUTPUT_SHAPES], name=OUTPUT_SHAPES)
        )
        for name, src in outputs.items():
            self.nodes.append(helper.make_node("Identity", [src], [name], name=name))
        used = {i for n in self.nodes for i in n.input}
        inits = [
            self.numpy_helper.from_array(v, k) for k, v in self.initializers.items() if k in used
        ]
        graph = helper.make_graph(
            self.nodes,
            "ssd_heads",
            [
                helper.make_tensor_value_info(
                    INPUT_NAME, TensorProto.FLOAT, [1, 3, "height", "width"]
                )
            ],
            [
                helper.make_tensor_value_info(OUTPUT_BOXES, TensorProto.FLOAT, [1, "anchors", 4]),
                helper.make_tensor_value_info(
                    OUTPUT_CLASSES, TensorProto.FLOAT, [1, "anchors", "classes"]
                ),
                helper.make_tensor_value_info(
                    OUTPUT_SHAPES, TensorProto.INT64, [len(shapes_output), 2]
                ),
            ],
            initializer=inits,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="mot_ros.detection.formats.tf_to_onnx",
            producer_version=str(CONVERTER_VERSION),
        )
        model.ir_version = IR_VERSION
        helper.set_model_props(model, {METADATA_KEY: metadata})
        return model


# --------------------------------------------------------------------------------------------
# Public API


def convert_ssd_graph(pb_path: str | Path):
    """Convert an SSD frozen graph to an ``onnx.ModelProto`` (not cached; see
    :func:`cached_onnx_model`). Raises :class:`SsdConversionError` when it cannot."""
    import onnx

    pb_path = Path(pb_path)
    data = pb_path.read_bytes()
    where = str(pb_path)
    try:
        graph = GraphDef.parse(data)
    except GraphDefError as exc:
        raise SsdConversionError(
            f"{where} is not a TensorFlow frozen graph (GraphDef): {exc}"
        ) from None
    heads = find_ssd_heads(graph, where)
    input_tensor = find_network_input(graph, heads.box_outputs + heads.class_outputs, where)
    conv = _Converter(graph, input_tensor, where)
    conv.convert(list(heads.box_outputs + heads.class_outputs))

    anchors_per_location, num_classes = [], None
    for name, box, cls in zip(heads.names, heads.box_outputs, heads.class_outputs, strict=True):
        box_c, cls_c = conv.get(box).shape[3], conv.get(cls).shape[3]
        if box_c is None or box_c % 4:
            raise SsdConversionError(
                f"{where}: head {name} has {box_c} box channels, not a multiple of 4"
            )
        a = box_c // 4
        if cls_c % a:
            raise SsdConversionError(
                f"{where}: head {name} has {cls_c} class channels for {a} anchors per location"
            )
        if num_classes not in (None, cls_c // a):
            raise SsdConversionError(f"{where}: heads disagree on the number of classes")
        num_classes = cls_c // a
        anchors_per_location.append(a)

    # TF's own concat order of the heads, when the graph has one, decides the anchor order.
    concat = _find_concat(graph, heads.box_outputs)
    if concat is not None:
        reshapes = [node_name(i) for i in graph.nodes[concat].inputs[:-1]]
        order = [
            next(k for k, b in enumerate(heads.box_outputs) if graph.nodes[r].inputs[0] == b)
            for r in reshapes
        ]
        if order != list(range(len(order))):
            raise SsdConversionError(
                f"{where}: the graph concatenates its heads in order "
                f"{order}, not by name; not supported"
            )
    box_out = conv.flatten_heads(heads.box_outputs, 4, OUTPUT_BOXES + "/concat")
    cls_out = conv.flatten_heads(heads.class_outputs, num_classes, OUTPUT_CLASSES + "/concat")

    size, scale, mean = _read_preprocess(graph, input_tensor)
    box_sizes, native_shapes = _read_anchors(graph, anchors_per_location, where)
    info = SsdModelInfo(
        source_sha256=hashlib.sha256(data).hexdigest(),
        head_names=heads.names,
        anchors_per_location=tuple(anchors_per_location),
        num_classes=int(num_classes),
        native_input_size=size,
        native_feature_map_shapes=native_shapes,
        anchor_box_sizes=box_sizes,
        postprocess=_read_postprocess(graph),
        preprocess_scale=scale,
        preprocess_mean=mean,
    )
    info.postprocess_config()  # validate what was read
    model = conv.model(
        {OUTPUT_BOXES: box_out, OUTPUT_CLASSES: cls_out}, list(heads.box_outputs), info.to_json()
    )
    onnx.checker.check_model(model)
    return model


def read_model_info(onnx_path: str | Path) -> SsdModelInfo | None:
    """The converter's metadata of an ONNX file, or None for an ONNX model made elsewhere."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return SsdModelInfo.from_json(prop.value)
    return None


def cached_onnx_model(pb_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The converted model for ``pb_path``, converting only when the cache lacks it.

    The file is ``<cache>/onnx/<sha256 of the .pb>.onnx`` (``mot_ros.data.cache_dir()`` by
    default), written to a temporary file and renamed, so a crash or a concurrent process
    never leaves a half-written model behind. A cached file from an older converter version
    is replaced.
    """
    pb_path = Path(pb_path)
    if not pb_path.is_file():
        raise FileNotFoundError(f"model file not found: {pb_path}")
    if cache_dir is None:
        from mot_ros.data import cache_dir as default_cache_dir

        cache_dir = default_cache_dir()
    digest = hashlib.sha256(pb_path.read_bytes()).hexdigest()
    target = Path(cache_dir) / "onnx" / f"{digest}.onnx"
    if target.is_file():
        try:
            info = read_model_info(target)
        except Exception:  # noqa: BLE001 - a corrupt cache entry is rebuilt, whatever the error
            info = None
        if info is not None and info.converter_version == CONVERTER_VERSION:
            return target
    model = convert_ssd_graph(pb_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{digest}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
