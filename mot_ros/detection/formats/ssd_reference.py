"""Independent references for checking an SSD conversion: NumPy (TF semantics) and OpenCV DNN.

Used by the tests and ``scripts/bench_detector.py``, not at run time. Why two references:

* :meth:`SsdReference.numpy_heads` evaluates the frozen graph itself in float64 with
  :mod:`mot_ros.detection.formats.tf_numpy` (NHWC, TF's ``SAME`` padding, TF's depthwise channel
  order). It shares
  only the protobuf reader with the ONNX converter, none of the op mapping or layout handling.
* :meth:`SsdReference.opencv_heads` runs the same heads in OpenCV DNN from a pruned copy of the
  graph (the feature extractor and box predictors only; OpenCV parses the original NodeDef
  bytes with its own reader). OpenCV is right on heads 0..n-2 and on the feature maps, but gets
  the last head (3x3 depthwise on a 1x1 map) wrong; :meth:`numpy_head_from_feature_map`
  recomputes any head in NumPy from the feature map OpenCV produced, so the last head also has
  a reference whose input did not come from the code under test.

Heads are returned flattened the way TF flattens them (``H, W, anchor``): ``(H*W*A, 4)`` box
encodings and ``(H*W*A, C+1)`` class logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mot_ros.detection.formats.tf_graphdef import GraphDef, node_name, node_spans
from mot_ros.detection.formats.tf_numpy import TfNumpyEvaluator
from mot_ros.detection.formats.tf_to_onnx import find_network_input, find_ssd_heads, strip_identity


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _float_placeholder(name: str) -> bytes:
    """NodeDef{name, op: "Placeholder", attr {key: "dtype" value {type: DT_FLOAT}}}."""
    dtype = _varint(6 << 3) + _varint(1)  # AttrValue.type = DT_FLOAT
    entry = _field(1, b"dtype") + _field(2, dtype)
    return _field(1, name.encode()) + _field(2, b"Placeholder") + _field(5, entry)


@dataclass(frozen=True)
class HeadOutputs:
    boxes: np.ndarray  # (H*W*A, 4)
    logits: np.ndarray  # (H*W*A, C+1)


def flatten_nhwc(x: np.ndarray, per_anchor: int) -> np.ndarray:
    """``[1, H, W, A*k]`` -> ``[H*W*A, k]`` (TF's head reshape)."""
    return np.asarray(x).reshape(-1, per_anchor)


class SsdReference:
    """References for the heads of one SSD frozen graph."""

    def __init__(self, pb_path: str | Path) -> None:
        self.pb_path = Path(pb_path)
        self._data = self.pb_path.read_bytes()
        self.graph = GraphDef.parse(self._data)
        where = str(self.pb_path)
        self.heads = find_ssd_heads(self.graph, where)
        self.input_tensor = find_network_input(
            self.graph, self.heads.box_outputs + self.heads.class_outputs, where
        )
        self.feature_maps = tuple(self._feature_map(i) for i in range(len(self.heads.names)))

    def _feature_map(self, index: int) -> str:
        """The feature-map tensor head ``index`` reads (first input from outside its scope)."""
        scope = self.heads.names[index] + "/"
        stack = [self.heads.box_outputs[index]]
        seen = set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            for tensor in self.graph.nodes[name].inputs:
                src = node_name(tensor)
                if src.startswith(scope):
                    stack.append(src)
                elif (
                    self.graph.nodes[src].op not in ("Const", "Identity")
                    or self.graph.node(strip_identity(self.graph, tensor)).op != "Const"
                ):
                    return strip_identity(self.graph, tensor)
        raise ValueError(f"head {self.heads.names[index]} reads no feature map")

    # -- NumPy --------------------------------------------------------------------------------

    def _split(self, boxes_nhwc: list[np.ndarray], logits_nhwc: list[np.ndarray]):
        out = []
        for b, c in zip(boxes_nhwc, logits_nhwc, strict=True):
            anchors = b.shape[-1] // 4
            out.append(HeadOutputs(flatten_nhwc(b, 4), flatten_nhwc(c, c.shape[-1] // anchors)))
        return out

    def numpy_heads(self, blob_nchw: np.ndarray) -> list[HeadOutputs]:
        """All heads evaluated in float64 from the network input (NCHW, as fed to ONNX)."""
        feed = np.asarray(blob_nchw, np.float64).transpose(0, 2, 3, 1)
        ev = TfNumpyEvaluator(self.graph, {self.input_tensor: feed})
        return self._split(
            ev.evaluate(self.heads.box_outputs), ev.evaluate(self.heads.class_outputs)
        )

    def numpy_head_from_feature_map(self, index: int, feature_map_nchw: np.ndarray) -> HeadOutputs:
        """Head ``index`` evaluated in float64 from its feature map (NCHW, e.g. OpenCV's)."""
        feed = np.asarray(feature_map_nchw, np.float64).transpose(0, 2, 3, 1)
        ev = TfNumpyEvaluator(self.graph, {self.feature_maps[index]: feed})
        return self._split(
            [ev.evaluate(self.heads.box_outputs[index])],
            [ev.evaluate(self.heads.class_outputs[index])],
        )[0]

    # -- OpenCV -------------------------------------------------------------------------------

    def pruned_graph_bytes(self) -> bytes:
        """A GraphDef of the heads' sub-graph: the original NodeDef bytes, input replaced by a
        float Placeholder of the same name."""
        spans = node_spans(self._data)
        start = node_name(self.input_tensor)
        keep: set[str] = set()
        stack = list(self.heads.box_outputs + self.heads.class_outputs)
        while stack:
            name = stack.pop()
            if name in keep or name == start:
                continue
            keep.add(name)
            stack.extend(
                node_name(t) for t in self.graph.nodes[name].inputs if not t.startswith("^")
            )
        out = bytearray(_field(1, _float_placeholder(start)))
        for name in self.graph.nodes:  # file order keeps producers before consumers
            if name in keep:
                s, e = spans[name]
                out += _field(1, self._data[s:e])
        return bytes(out)

    def opencv_net(self, engine: str = "classic"):
        import cv2

        buffer = np.frombuffer(self.pruned_graph_bytes(), np.uint8)
        engines = {
            "classic": cv2.dnn.ENGINE_CLASSIC,
            "auto": cv2.dnn.ENGINE_AUTO,
            "new": cv2.dnn.ENGINE_NEW,
        }
        return cv2.dnn.readNetFromTensorflow(buffer, None, engines[engine])

    def _opencv_layer(self, tensor: str) -> str:
        """OpenCV fuses BiasAdd into the convolution: its layer keeps the Conv2D's name."""
        node = self.graph.node(tensor)
        if node.op == "BiasAdd":
            return node_name(node.inputs[0])
        return node.name

    def opencv_heads(self, net, blob_nchw: np.ndarray):
        """``(heads, feature_maps)`` from an :meth:`opencv_net`: flattened heads and the NCHW
        feature maps each head reads (``None`` for OpenCV's new engine, which only gives the
        graph's outputs)."""
        import cv2

        heads = [self._opencv_layer(t) for t in self.heads.box_outputs] + [
            self._opencv_layer(t) for t in self.heads.class_outputs
        ]
        net.setInput(np.ascontiguousarray(blob_nchw, np.float32))
        try:
            outs = net.forward(heads + list(self.feature_maps))
            feature_maps = [np.asarray(o) for o in outs[len(heads) :]]
        except cv2.error:
            net.setInput(np.ascontiguousarray(blob_nchw, np.float32))
            outs = net.forward(heads)
            feature_maps = None
        n = len(self.heads.names)
        boxes = [o.transpose(0, 2, 3, 1) for o in outs[:n]]
        logits = [o.transpose(0, 2, 3, 1) for o in outs[n : 2 * n]]
        return self._split(boxes, logits), feature_maps
