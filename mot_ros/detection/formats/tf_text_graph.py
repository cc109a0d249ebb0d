"""Generate the text-graph config OpenCV DNN needs to run a TF Object Detection API SSD.

``cv2.dnn.readNetFromTensorflow(frozen_graph.pb)`` cannot run an Object Detection API SSD as
exported: the graph computes its anchors, decodes boxes and runs non-maximum suppression with
control flow (``while`` loops, ``TensorArray``) that OpenCV does not implement. OpenCV's
documented way around this is a second, *text* graph passed as ``config``: it keeps the
convolutional part of the frozen graph (the weights are still read from the ``.pb``), drops the
``Preprocessor``, ``Postprocessor`` and ``MultipleGridAnchorGenerator`` subgraphs, and replaces
them with OpenCV's own layers: one ``PriorBox`` per feature map (the anchors) and one
``DetectionOutput`` (box decoding + NMS).

This module builds that text graph from the frozen graph itself, so no hand-edited file has to
be shipped or kept in sync with the weights:

1. ``cv2.dnn.writeTextGraph`` dumps the graph's structure (tensor values are left out, shapes
   are kept) and :func:`parse_text_proto` reads it.
2. :func:`inspect_ssd_graph` derives what the graph states: the number of box predictors
   (``BoxPredictor_N``), anchors per location (box-encoding channels / 4), the number of
   classes (class-predictor channels / anchors), the box coder scales, the score converter,
   the NMS IoU threshold and detection limits (small constants of the post-processor), and the
   total anchor count the graph asserts (used to check the anchor layout).
3. What the graph does not state readably (the anchor generator's scales and aspect ratios)
   comes from the TF Object Detection API defaults in :class:`AnchorSpec`, or from the
   model's ``pipeline.config`` when one is given (:func:`ssd_params_from_pipeline_config`).
4. :func:`generate_text_graph` writes the config; :func:`cached_text_graph` stores it once per
   model under ``mot_ros.data.cache_dir()/graphs/`` (atomic write), keyed by the SHA-256 of the
   model (and of the pipeline config when given).

Only the text graph is generated; nothing is copied from OpenCV's own generator script.
Supported: SSD meta-architectures with ``BoxPredictor_N/{BoxEncodingPredictor,ClassPredictor}``
convolutional heads and a ``ssd_anchor_generator`` (MobileNet v1/v2 SSD and SSDLite). Not
supported: weight-shared (FPN/RetinaNet) heads, softmax score converters.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: Bump when the generated text changes, so stale cached configs are not reused.
GENERATOR_VERSION = 1

#: DetectionOutput's own score floor. Boxes below it never leave the network, so it bounds the
#: lowest usable ``confidence_threshold``; it is low enough not to matter in practice and keeps
#: NMS cheap by dropping the thousands of near-zero anchors.
NETWORK_SCORE_FLOOR = 0.01


class GraphStructureError(ValueError):
    """The frozen graph is not an SSD this generator understands (message says what is missing)."""


class GraphParseError(GraphStructureError):
    """The file is not a TensorFlow GraphDef at all."""


# --------------------------------------------------------------------------------------------
# Protobuf text format
# --------------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""\s*(?:
        \#[^\n]*                              # comment
      | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
      | (?P<punct>[{}<>:\[\],;])
      | (?P<word>[^\s{}<>:\[\],;"'\#]+)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> Iterator[str]:
    pos = 0
    end = len(text)
    while pos < end:
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip() == "":
                return
            raise ValueError(f"text proto: cannot read {text[pos : pos + 30]!r} at offset {pos}")
        pos = m.end()
        tok = m.group("str") or m.group("punct") or m.group("word")
        if tok:
            yield tok


class TextMessage:
    """A parsed protobuf text-format message: an ordered list of ``(field, value)`` pairs.

    A value is either a nested :class:`TextMessage` or the raw scalar token (``'"abc"'``,
    ``'1e-08'``, ``'DT_FLOAT'``, ``'true'``). Keeping raw tokens makes ``to_text`` a faithful
    round trip; :meth:`scalar` converts to Python values when reading. No schema is needed,
    so the same parser reads TF graphs, ``pipeline.config`` and Caffe ``.prototxt`` files.
    """

    __slots__ = ("fields",)

    def __init__(self, fields: list[tuple[str, object]] | None = None) -> None:
        self.fields: list[tuple[str, object]] = fields if fields is not None else []

    def get_all(self, name: str) -> list:
        return [v for k, v in self.fields if k == name]

    def message(self, name: str) -> TextMessage | None:
        for k, v in self.fields:
            if k == name and isinstance(v, TextMessage):
                return v
        return None

    def scalar(self, name: str, default=None):
        for k, v in self.fields:
            if k == name and not isinstance(v, TextMessage):
                return parse_scalar(v)
        return default

    def scalars(self, name: str) -> list:
        return [parse_scalar(v) for v in self.get_all(name) if not isinstance(v, TextMessage)]

    def add(self, name: str, value: object) -> TextMessage:
        """Append a field; Python values are converted to text tokens. Returns ``self``."""
        self.fields.append((name, value if isinstance(value, TextMessage) else _token(value)))
        return self

    def to_text(self, indent: int = 0) -> str:
        pad = " " * indent
        out = []
        for k, v in self.fields:
            if isinstance(v, TextMessage):
                out.append(f"{pad}{k} {{\n{v.to_text(indent + 2)}{pad}}}\n")
            else:
                out.append(f"{pad}{k}: {v}\n")
        return "".join(out)


def _token(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"cannot write {type(value).__name__} to a text proto")


class Enum(str):
    """An unquoted enum token (``DT_FLOAT``, ``SIGMOID``) as read by :func:`parse_scalar`."""


def parse_scalar(token: str):
    """Convert a raw scalar token to ``str`` (quoted), ``bool``, ``int``, ``float`` or Enum."""
    if token[:1] in "\"'":
        return bytes(token[1:-1], "utf-8").decode("unicode_escape")
    low = token.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(token, 0)
    except ValueError:
        pass
    try:
        return float(low[:-1] if low.endswith("f") and not low.startswith("inf") else low)
    except ValueError:
        return Enum(token)


def parse_text_proto(text: str) -> TextMessage:
    """Parse protobuf text format (``field: value``, ``field { ... }``, ``field: [a, b]``)."""
    root = TextMessage()
    stack = [root]
    toks = _tokens(text)
    for tok in toks:
        if tok in ("}", ">"):
            if len(stack) == 1:
                raise ValueError("text proto: unbalanced closing brace")
            stack.pop()
            continue
        if tok in (",", ";"):
            continue
        name = tok
        nxt = next(toks, None)
        if nxt == ":":
            nxt = next(toks, None)
        if nxt in ("{", "<"):
            child = TextMessage()
            stack[-1].fields.append((name, child))
            stack.append(child)
        elif nxt == "[":
            for item in toks:
                if item == "]":
                    break
                if item == ",":
                    continue
                if item in ("{", "<"):
                    raise ValueError("text proto: lists of messages are not supported")
                stack[-1].fields.append((name, item))
        elif nxt is None or nxt in ("}", ">", ":", "]"):
            raise ValueError(f"text proto: field {name!r} has no value")
        else:
            stack[-1].fields.append((name, nxt))
    if len(stack) != 1:
        raise ValueError("text proto: unbalanced opening brace (file truncated?)")
    return root


# --------------------------------------------------------------------------------------------
# SSD parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorSpec:
    """The TF Object Detection API ``ssd_anchor_generator`` (defaults are the API's own).

    Scales are linear from ``min_scale`` to ``max_scale`` over the feature maps unless
    ``scales`` lists them. Each feature map gets one anchor per aspect ratio plus one at the
    geometric mean of its scale and the next one; the lowest map, when
    ``reduce_boxes_in_lowest_layer``, gets only (0.1, 1), (scale, 2) and (scale, 0.5).
    """

    min_scale: float = 0.2
    max_scale: float = 0.95
    scales: tuple[float, ...] = ()
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0)
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = True
    base_anchor_height: float = 1.0
    base_anchor_width: float = 1.0

    def box_specs(self, num_layers: int) -> list[list[tuple[float, float]]]:
        """Per feature map, the ``(scale, aspect_ratio)`` of each anchor, in the graph's order."""
        if self.scales:
            if len(self.scales) != num_layers:
                raise GraphStructureError(
                    f"the anchor generator lists {len(self.scales)} scales, but the graph has "
                    f"{num_layers} box predictors"
                )
            scales = [float(s) for s in self.scales]
        elif num_layers == 1:
            scales = [self.min_scale]
        else:
            step = (self.max_scale - self.min_scale) / (num_layers - 1)
            scales = [self.min_scale + step * i for i in range(num_layers)]
        scales.append(1.0)
        specs = []
        for layer in range(num_layers):
            scale, scale_next = scales[layer], scales[layer + 1]
            if layer == 0 and self.reduce_boxes_in_lowest_layer:
                specs.append([(0.1, 1.0), (scale, 2.0), (scale, 0.5)])
                continue
            layer_specs = [(scale, float(ar)) for ar in self.aspect_ratios]
            if self.interpolated_scale_aspect_ratio > 0.0:
                layer_specs.append(
                    (math.sqrt(scale * scale_next), self.interpolated_scale_aspect_ratio)
                )
            specs.append(layer_specs)
        return specs


@dataclass(frozen=True)
class SsdParams:
    """Everything the generated text graph depends on besides the graph's node names.

    ``num_classes`` counts the background class. ``box_coder_scales`` are the Faster R-CNN
    box coder's (y, x, height, width) scales; OpenCV's PriorBox takes their inverses as
    variances. ``max_detections`` bounds both the per-class and the total count.
    """

    num_classes: int
    num_layers: int
    image_height: int = 300
    image_width: int = 300
    anchors: AnchorSpec = AnchorSpec()
    box_coder_scales: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)
    score_converter: str = "SIGMOID"
    nms_iou_threshold: float = 0.6
    max_detections: int = 100

    def anchor_sizes(self, layer: int) -> tuple[list[float], list[float]]:
        """Anchor widths and heights of one feature map, in pixels of the network input.

        The API measures anchors against the shorter image side so that a square anchor stays
        square on a non-square input; OpenCV's PriorBox wants pixels, hence the product.
        """
        side = float(min(self.image_height, self.image_width))
        widths, heights = [], []
        for scale, ar in self.anchors.box_specs(self.num_layers)[layer]:
            root = math.sqrt(ar)
            widths.append(scale * root * self.anchors.base_anchor_width * side)
            heights.append(scale / root * self.anchors.base_anchor_height * side)
        return widths, heights


@dataclass(frozen=True)
class SsdGraphInfo:
    """What :func:`inspect_ssd_graph` read from a frozen graph's structure."""

    input_name: str
    preprocessed_name: str | None
    box_heads: tuple[str, ...]
    class_heads: tuple[str, ...]
    anchors_per_layer: tuple[int, ...]
    num_classes: int
    total_anchors: int | None
    box_coder_scales: tuple[float, float, float, float] | None
    score_converter: str | None
    nms_iou_threshold: float | None
    max_detections: int | None

    def default_params(self) -> SsdParams:
        """Graph facts filled into :class:`SsdParams`, API defaults for the rest."""
        params = SsdParams(num_classes=self.num_classes, num_layers=len(self.box_heads))
        overrides: dict = {}
        if self.box_coder_scales is not None:
            overrides["box_coder_scales"] = self.box_coder_scales
        if self.score_converter is not None:
            overrides["score_converter"] = self.score_converter
        if self.nms_iou_threshold is not None:
            overrides["nms_iou_threshold"] = self.nms_iou_threshold
        if self.max_detections is not None:
            overrides["max_detections"] = self.max_detections
        return dataclasses.replace(params, **overrides)


# --------------------------------------------------------------------------------------------
# Reading the frozen graph
# --------------------------------------------------------------------------------------------

_HEAD_RE = re.compile(r"^BoxPredictor_(\d+)/(BoxEncodingPredictor|ClassPredictor)/BiasAdd$")
_POST = "Postprocessor/"
_NMS = _POST + "BatchMultiClassNonMaxSuppression/map/while/MultiClassNonMaxSuppression/"


def dump_graph_structure(pb_path: str | os.PathLike) -> TextMessage:
    """The frozen graph's nodes without tensor values, via ``cv2.dnn.writeTextGraph``.

    Raises ``GraphStructureError`` when OpenCV cannot parse the file as a TF ``GraphDef``.
    """
    import cv2

    with tempfile.TemporaryDirectory(prefix="mot_ros_graph_") as tmp:
        out = os.path.join(tmp, "graph.pbtxt")
        try:
            cv2.dnn.writeTextGraph(str(pb_path), out)
        except cv2.error as exc:
            raise GraphParseError(
                "OpenCV cannot parse it as a TensorFlow frozen graph (binary GraphDef)"
            ) from exc
        with open(out, encoding="utf-8") as f:
            text = f.read()
    return parse_text_proto(text)


def _nodes(graph: TextMessage) -> dict[str, TextMessage]:
    return {n.scalar("name"): n for n in graph.get_all("node")}


def _inputs(node: TextMessage) -> list[str]:
    return node.scalars("input")


def _base(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _const_shape(node: TextMessage) -> list[int] | None:
    value = next(
        (a.message("value") for a in node.get_all("attr") if a.scalar("key") == "value"), None
    )
    tensor = value.message("tensor") if value else None
    shape = tensor.message("tensor_shape") if tensor else None
    if shape is None:
        return None
    return [d.scalar("size", 0) for d in shape.get_all("dim")]


def _const_scalar(nodes: dict[str, TextMessage], name: str):
    node = nodes.get(name)
    if node is None or node.scalar("op") != "Const":
        return None
    value = next(
        (a.message("value") for a in node.get_all("attr") if a.scalar("key") == "value"), None
    )
    tensor = value.message("tensor") if value else None
    if tensor is None:
        return None
    for field in ("float_val", "int_val"):
        vals = tensor.scalars(field)
        if len(vals) == 1:
            return vals[0]
    return None


def _weights_shape(nodes: dict[str, TextMessage], bias_add: str) -> list[int] | None:
    """Shape of the convolution kernel feeding ``.../BiasAdd`` (through Identity ``/read``)."""
    conv = nodes.get(_base(_inputs(nodes[bias_add])[0]))
    if conv is None or len(_inputs(conv)) < 2:
        return None
    w = nodes.get(_base(_inputs(conv)[1]))
    while w is not None and w.scalar("op") == "Identity":
        w = nodes.get(_base(_inputs(w)[0]))
    return _const_shape(w) if w is not None and w.scalar("op") == "Const" else None


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def inspect_ssd_graph(graph: TextMessage) -> SsdGraphInfo:
    """Read the SSD's head layout and post-processing constants from the graph structure."""
    nodes = _nodes(graph)
    heads: dict[int, dict[str, str]] = {}
    for name in nodes:
        m = _HEAD_RE.match(name)
        if m:
            heads.setdefault(int(m.group(1)), {})[m.group(2)] = name
    if not heads:
        raise GraphStructureError(
            "the graph has no 'BoxPredictor_N/BoxEncodingPredictor/BiasAdd' nodes, so it is not "
            "a TF Object Detection API SSD with convolutional box predictors"
        )
    if sorted(heads) != list(range(len(heads))) or any(len(h) != 2 for h in heads.values()):
        raise GraphStructureError(
            f"box predictors are incomplete: found {sorted(heads)} with heads "
            f"{[sorted(h) for _, h in sorted(heads.items())]}"
        )
    box_heads = tuple(heads[i]["BoxEncodingPredictor"] for i in range(len(heads)))
    class_heads = tuple(heads[i]["ClassPredictor"] for i in range(len(heads)))

    anchors, classes = [], []
    for box, cls in zip(box_heads, class_heads, strict=True):
        box_shape, cls_shape = _weights_shape(nodes, box), _weights_shape(nodes, cls)
        if not box_shape or not cls_shape or box_shape[-1] % 4:
            raise GraphStructureError(f"cannot read the kernel shape of {box} / {cls}")
        a = box_shape[-1] // 4
        if cls_shape[-1] % a:
            raise GraphStructureError(
                f"{cls} has {cls_shape[-1]} channels, not a multiple of {a} anchors"
            )
        anchors.append(a)
        classes.append(cls_shape[-1] // a)
    if len(set(classes)) != 1:
        raise GraphStructureError(f"box predictors disagree on the number of classes: {classes}")

    placeholders = [n for n, node in nodes.items() if node.scalar("op") == "Placeholder"]
    if len(placeholders) != 1:
        raise GraphStructureError(f"expected one input placeholder, found {placeholders}")

    # The first node outside the preprocessor that consumes a preprocessor output.
    preprocessed = None
    for node in nodes.values():
        if node.scalar("name").startswith("Preprocessor/"):
            continue
        for inp in _inputs(node):
            if _base(inp).startswith("Preprocessor/"):
                preprocessed = _base(inp)
                break
        if preprocessed:
            break

    scales = [_const_scalar(nodes, f"{_POST}Decode/truediv{s}/y") for s in ("", "_1", "_2", "_3")]
    if any(
        nodes.get(n, TextMessage()).scalar("op") == "Sigmoid" for n in nodes if n.startswith(_POST)
    ):
        converter = "SIGMOID"
    elif any(node.scalar("op") == "Softmax" for n, node in nodes.items() if n.startswith(_POST)):
        converter = "SOFTMAX"
    else:
        converter = None
    iou = _const_scalar(nodes, _NMS + "non_max_suppression/iou_threshold")
    max_det = _const_scalar(nodes, _NMS + "Minimum_1/x")
    total = _const_scalar(nodes, "MultipleGridAnchorGenerator/assert_equal/x")
    return SsdGraphInfo(
        input_name=placeholders[0],
        preprocessed_name=preprocessed,
        box_heads=box_heads,
        class_heads=class_heads,
        anchors_per_layer=tuple(anchors),
        num_classes=classes[0],
        total_anchors=int(total) if isinstance(total, int) else None,
        box_coder_scales=(
            tuple(float(s) for s in scales) if all(_is_number(s) for s in scales) else None
        ),
        score_converter=converter,
        nms_iou_threshold=float(iou) if _is_number(iou) else None,
        max_detections=int(max_det) if isinstance(max_det, int) else None,
    )


def ssd_params_from_pipeline_config(path: str | os.PathLike, base: SsdParams) -> SsdParams:
    """Override ``base`` with what a TF OD API ``pipeline.config`` says about the model.

    Read: ``num_classes``, ``fixed_shape_resizer``, ``faster_rcnn_box_coder``,
    ``ssd_anchor_generator``, ``batch_non_max_suppression`` and ``score_converter``. Fields the
    file leaves out keep the API defaults, as the API itself does.
    """
    text = Path(path).read_text(encoding="utf-8")
    root = parse_text_proto(text)
    ssd = (root.message("model") or TextMessage()).message("ssd")
    if ssd is None:
        raise GraphStructureError("it has no 'model { ssd { ... } }' section")
    out: dict = {}
    if ssd.scalar("num_classes") is not None:
        out["num_classes"] = int(ssd.scalar("num_classes")) + 1
    resizer = (ssd.message("image_resizer") or TextMessage()).message("fixed_shape_resizer")
    if resizer is not None:
        out["image_height"] = int(resizer.scalar("height", base.image_height))
        out["image_width"] = int(resizer.scalar("width", base.image_width))
    coder = (ssd.message("box_coder") or TextMessage()).message("faster_rcnn_box_coder")
    if coder is not None:
        out["box_coder_scales"] = tuple(
            float(coder.scalar(k, d))
            for k, d in zip(
                ("y_scale", "x_scale", "height_scale", "width_scale"),
                (10.0, 10.0, 5.0, 5.0),
                strict=True,
            )
        )
    gen = (ssd.message("anchor_generator") or TextMessage()).message("ssd_anchor_generator")
    if gen is not None:
        d = AnchorSpec()
        anchors = AnchorSpec(
            min_scale=float(gen.scalar("min_scale", d.min_scale)),
            max_scale=float(gen.scalar("max_scale", d.max_scale)),
            scales=tuple(float(s) for s in gen.scalars("scales")),
            aspect_ratios=tuple(float(a) for a in gen.scalars("aspect_ratios")) or d.aspect_ratios,
            interpolated_scale_aspect_ratio=float(
                gen.scalar("interpolated_scale_aspect_ratio", d.interpolated_scale_aspect_ratio)
            ),
            reduce_boxes_in_lowest_layer=bool(gen.scalar("reduce_boxes_in_lowest_layer", True)),
            base_anchor_height=float(gen.scalar("base_anchor_height", 1.0)),
            base_anchor_width=float(gen.scalar("base_anchor_width", 1.0)),
        )
        out["anchors"] = anchors
        layers = gen.scalar("num_layers")
        if layers is not None and int(layers) != base.num_layers:
            raise GraphStructureError(
                f"it says num_layers: {layers}, but the graph has {base.num_layers} box predictors"
            )
    post = ssd.message("post_processing")
    if post is not None:
        nms = post.message("batch_non_max_suppression")
        if nms is not None:
            if nms.scalar("iou_threshold") is not None:
                out["nms_iou_threshold"] = float(nms.scalar("iou_threshold"))
            if nms.scalar("max_total_detections") is not None:
                out["max_detections"] = int(nms.scalar("max_total_detections"))
        if post.scalar("score_converter") is not None:
            out["score_converter"] = str(post.scalar("score_converter"))
    return dataclasses.replace(base, **out)


# --------------------------------------------------------------------------------------------
# Generating the text graph
# --------------------------------------------------------------------------------------------


def _attr(node: TextMessage, key: str, kind: str, value) -> None:
    """Add ``attr { key: ... value { <kind>: value } }``.

    Float lists go in as a 1-D ``DT_FLOAT`` tensor (``kind="tensor"``): that is how OpenCV's
    importer reads PriorBox's ``width``/``height``/``variance``.
    """
    v = TextMessage()
    if kind == "tensor":
        shape = TextMessage().add("dim", TextMessage().add("size", len(value)))
        tensor = TextMessage([("dtype", "DT_FLOAT")]).add("tensor_shape", shape)
        for item in value:
            tensor.add("float_val", float(item))
        v.add("tensor", tensor)
    elif kind == "type":
        v.fields.append(("type", value))
    else:
        v.add(kind, value)
    node.add("attr", TextMessage().add("key", key).add("value", v))


def _node(name: str, op: str, inputs: list[str]) -> TextMessage:
    node = TextMessage().add("name", name)
    node.fields.append(("op", f'"{op}"'))
    for i in inputs:
        node.add("input", i)
    return node


def build_text_graph(graph: TextMessage, info: SsdGraphInfo, params: SsdParams) -> str:
    """The OpenCV config for ``graph``: its convolutional part plus PriorBox/DetectionOutput."""
    _check_params(info, params)
    nodes = _nodes(graph)

    def resolve(name: str) -> str:
        """Follow Identity chains; map anything of the preprocessor onto the input."""
        base = _base(name)
        while True:
            node = nodes.get(base)
            if node is None:
                raise GraphStructureError(f"node {base!r} is referenced but not defined")
            if base.startswith("Preprocessor/") or node.scalar("op") in ("Cast", "Placeholder"):
                return info.input_name
            if node.scalar("op") != "Identity":
                return name if base == _base(name) and not name.startswith("^") else base
            name = base = _base(_inputs(node)[0])

    kept: dict[str, TextMessage] = {}
    stack = list(info.box_heads + info.class_heads)
    while stack:
        name = _base(stack.pop())
        if name in kept:
            continue
        node = nodes[name]
        op = node.scalar("op")
        if op == "Const":  # values come from the binary graph
            continue
        if name.startswith(("Preprocessor/", "Postprocessor/", "MultipleGridAnchorGenerator/")):
            raise GraphStructureError(f"the feature extractor depends on {name!r} ({op})")
        out = TextMessage()
        for k, v in node.fields:
            if k == "input":
                if v.startswith('"^'):
                    continue  # control dependencies are meaningless without the training graph
                target = resolve(parse_scalar(v))
                out.add("input", target)
                if nodes[_base(target)].scalar("op") != "Const":
                    stack.append(target)
            elif k == "attr" and isinstance(v, TextMessage) and v.scalar("key") == "_class":
                continue
            else:
                out.fields.append((k, v))
        kept[name] = out
    kept[info.input_name] = nodes[info.input_name]

    new: list[TextMessage] = []
    axis = "mot_ros/concat_axis"
    axis_node = _node(axis, "Const", [])
    _attr(axis_node, "dtype", "type", "DT_INT32")
    axis_tensor = TextMessage([("dtype", "DT_INT32"), ("tensor_shape", TextMessage())])
    axis_node.add(
        "attr",
        TextMessage()
        .add("key", "value")
        .add("value", TextMessage().add("tensor", axis_tensor.add("int_val", -1))),
    )
    new.append(axis_node)

    def concat(name: str, inputs: list[str]) -> str:
        node = _node(name, "ConcatV2", [*inputs, axis])
        _attr(node, "N", "i", len(inputs))
        new.append(node)
        return name

    box_flat, cls_flat, priors = [], [], []
    variances = [1.0 / s for s in params.box_coder_scales]
    for layer, (box, cls) in enumerate(zip(info.box_heads, info.class_heads, strict=True)):
        for head, acc in ((box, box_flat), (cls, cls_flat)):
            flat = f"mot_ros/{head.rsplit('/', 1)[0]}/Flatten"
            new.append(_node(flat, "Flatten", [head]))
            acc.append(flat)
        prior = _node(f"mot_ros/PriorBox_{layer}", "PriorBox", [box, info.input_name])
        widths, heights = params.anchor_sizes(layer)
        _attr(prior, "width", "tensor", widths)
        _attr(prior, "height", "tensor", heights)
        _attr(prior, "variance", "tensor", variances)
        _attr(prior, "flip", "b", False)
        _attr(prior, "clip", "b", False)
        _attr(prior, "offset", "f", 0.5)
        new.append(prior)
        priors.append(prior.scalar("name"))

    boxes = concat("mot_ros/box_encodings", box_flat)
    logits = concat("mot_ros/class_logits", cls_flat)
    anchors = concat("mot_ros/anchors", priors)
    scores = "mot_ros/class_scores"
    new.append(_node(scores, "Sigmoid", [logits]))

    det = _node("detection_out", "DetectionOutput", [boxes, scores, anchors])
    _attr(det, "num_classes", "i", params.num_classes)
    _attr(det, "share_location", "b", True)
    _attr(det, "background_label_id", "i", 0)
    _attr(det, "nms_threshold", "f", params.nms_iou_threshold)
    _attr(det, "top_k", "i", params.max_detections)
    _attr(det, "keep_top_k", "i", params.max_detections)
    _attr(det, "code_type", "s", "CENTER_SIZE")
    _attr(det, "confidence_threshold", "f", NETWORK_SCORE_FLOOR)
    # TF encodes boxes as (ty, tx, th, tw); Caffe's DetectionOutput expects (tx, ty, tw, th).
    _attr(det, "loc_pred_transposed", "b", True)
    new.append(det)

    body = "".join("node {\n" + n.to_text(2) + "}\n" for n in [*kept.values(), *new])
    header = (
        f"# Generated by mot_ros.detection.formats.tf_text_graph v{GENERATOR_VERSION}; "
        "do not edit.\n"
        f"# classes (with background): {params.num_classes}, feature maps: {params.num_layers}, "
        f"anchors/location: {list(info.anchors_per_layer)}, input: "
        f"{params.image_width}x{params.image_height}\n"
    )
    return header + body


def _check_params(info: SsdGraphInfo, params: SsdParams) -> None:
    if params.score_converter.upper() != "SIGMOID":
        raise GraphStructureError(
            f"score converter {params.score_converter!r} is not supported (only SIGMOID)"
        )
    if params.num_layers != len(info.box_heads):
        raise GraphStructureError(
            f"{params.num_layers} feature maps configured, graph has {len(info.box_heads)}"
        )
    if params.num_classes != info.num_classes:
        raise GraphStructureError(
            f"{params.num_classes - 1} classes configured, but the class predictors output "
            f"{info.num_classes - 1} (+ background)"
        )
    expected = [len(s) for s in params.anchors.box_specs(params.num_layers)]
    if expected != list(info.anchors_per_layer):
        raise GraphStructureError(
            f"the anchor generator gives {expected} anchors per location, but the box predictors "
            f"have {list(info.anchors_per_layer)}; pass the model's pipeline.config"
        )


def expected_anchor_count(info: SsdGraphInfo, params: SsdParams) -> int:
    """Total anchors for the configured input size, for the check against the graph's assert.

    The SSD feature maps halve the size with 'SAME' padding from stride 16 on
    (19, 10, 5, 3, 2, 1 for 300 px), which is how the API computes them too.
    """
    h, w = math.ceil(params.image_height / 16), math.ceil(params.image_width / 16)
    total = 0
    for a in info.anchors_per_layer:
        total += h * w * a
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    return total


def generate_text_graph(
    pb_path: str | os.PathLike,
    pipeline_config: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
) -> str:
    """Build the OpenCV text-graph config for an SSD frozen graph (see the module docstring).

    ``input_size`` ``(width, height)`` is the network input the detector will feed. The API's
    anchors are relative to the image, OpenCV's PriorBox sizes are pixels, so they are
    computed for this size (default: the model's own, 300x300 unless the pipeline.config says
    otherwise). The anchor-count check against the graph always uses the model's own size.
    """
    graph = dump_graph_structure(pb_path)
    info = inspect_ssd_graph(graph)
    params = info.default_params()
    if pipeline_config:
        params = ssd_params_from_pipeline_config(pipeline_config, params)
    if info.total_anchors is not None:
        expected = expected_anchor_count(info, params)
        if expected != info.total_anchors:
            raise GraphStructureError(
                f"the graph asserts {info.total_anchors} anchors, but a "
                f"{params.image_width}x{params.image_height} input gives {expected}; "
                f"pass the model's pipeline.config"
            )
    if input_size is not None:
        params = dataclasses.replace(
            params, image_width=int(input_size[0]), image_height=int(input_size[1])
        )
    return build_text_graph(graph, info, params)


def _sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cached_text_graph(
    pb_path: str | os.PathLike,
    pipeline_config: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    input_size: tuple[int, int] | None = None,
) -> Path:
    """Path of the generated config, generating it on first use.

    The file name is the model's SHA-256 (plus the pipeline config's, the input size when
    given, and the generator version), so a changed model never meets a stale config. Written
    to a temporary file and renamed, so concurrent processes never read a half-written one.
    Raises ``OSError`` when the cache directory is not writable (callers can fall back to
    :func:`generate_text_graph` and an in-memory buffer).
    """
    if cache_dir is None:
        from mot_ros.data import cache_dir as default_cache_dir

        cache_dir = default_cache_dir()
    key = _sha256(pb_path)
    if pipeline_config:
        key += "-" + _sha256(pipeline_config)[:16]
    if input_size is not None:
        key += f"-{int(input_size[0])}x{int(input_size[1])}"
    folder = Path(cache_dir) / "graphs"
    path = folder / f"{key}-v{GENERATOR_VERSION}.pbtxt"
    if path.is_file():
        return path
    text = generate_text_graph(pb_path, pipeline_config, input_size)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pbtxt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
