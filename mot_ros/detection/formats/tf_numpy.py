"""Evaluate parts of a TensorFlow GraphDef in NumPy, with TensorFlow's semantics (NHWC).

Two uses:

* constant folding for the ONNX converter: the anchor generator of an exported SSD is a
  sub-graph of constants (Range, Meshgrid, Tile, ...) whose value *is* the anchor set the model
  was trained with; evaluating it beats re-deriving anchors from documentation;
* an independent reference for checking converted models: the convolutions here are written
  directly from TF's definitions (NHWC, ``SAME`` padding split as TF splits it, depthwise channel
  multiplier order), sharing nothing with the ONNX mapping but the protobuf reader. It computes in
  float64 by default, so it is the "truth" a float32 engine is compared to. It is slow
  (~1 s for a 300x300 MobileNetV2-SSD) and meant for tests and benchmarks, not for inference.

Only the ops SSD graphs use are implemented; anything else raises ``NotImplementedError``
naming the node and op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from mot_ros.detection.formats.tf_graphdef import (
    NUMPY_DTYPES,
    GraphDef,
    NodeDef,
    node_name,
    output_index,
)


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int, int]:
    """TF ``SAME`` padding: ``(output_size, pad_before, pad_after)``; the odd pixel goes after."""
    out = -(-size // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return out, total // 2, total - total // 2


def _pad_nhwc(x: np.ndarray, kh: int, kw: int, strides, dilations, padding: bytes):
    sh, sw = strides[1], strides[2]
    dh, dw = dilations[1], dilations[2]
    if padding == b"SAME":
        _, top, bottom = same_padding(x.shape[1], kh, sh, dh)
        _, left, right = same_padding(x.shape[2], kw, sw, dw)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    elif padding != b"VALID":
        raise NotImplementedError(f"padding {padding!r}")
    out_h = (x.shape[1] - ((kh - 1) * dh + 1)) // sh + 1
    out_w = (x.shape[2] - ((kw - 1) * dw + 1)) // sw + 1
    return x, out_h, out_w


def _taps(x: np.ndarray, kh: int, kw: int, out_h: int, out_w: int, strides, dilations):
    """Yield ``(dy, dx, view)``: the input pixels each kernel tap sees, one view per tap."""
    sh, sw = strides[1], strides[2]
    dh, dw = dilations[1], dilations[2]
    for dy in range(kh):
        for dx in range(kw):
            y0, x0 = dy * dh, dx * dw
            y1, x1 = y0 + (out_h - 1) * sh + 1, x0 + (out_w - 1) * sw + 1
            yield dy, dx, x[:, y0:y1:sh, x0:x1:sw]


def conv2d_nhwc(x: np.ndarray, w: np.ndarray, strides, padding: bytes, dilations=(1, 1, 1, 1)):
    """TF ``Conv2D``: ``x`` NHWC, ``w`` HWIO, sums over taps (one matmul per tap)."""
    kh, kw, cin, cout = w.shape
    if x.shape[3] != cin:
        raise ValueError(f"Conv2D input has {x.shape[3]} channels, weights expect {cin}")
    x, out_h, out_w = _pad_nhwc(x, kh, kw, strides, dilations, padding)
    out = np.zeros((x.shape[0], out_h, out_w, cout), np.result_type(x, w))
    for dy, dx, view in _taps(x, kh, kw, out_h, out_w, strides, dilations):
        out += view @ w[dy, dx]
    return out


def depthwise_conv2d_nhwc(x, w, strides, padding: bytes, dilations=(1, 1, 1, 1)):
    """TF ``DepthwiseConv2dNative``: ``w`` is ``[kh, kw, in, multiplier]``; output channel
    ``c * multiplier + m`` is input channel ``c`` filtered by ``w[:, :, c, m]``."""
    kh, kw, cin, mult = w.shape
    if x.shape[3] != cin:
        raise ValueError(f"depthwise input has {x.shape[3]} channels, weights expect {cin}")
    x, out_h, out_w = _pad_nhwc(x, kh, kw, strides, dilations, padding)
    out = np.zeros((x.shape[0], out_h, out_w, cin, mult), np.result_type(x, w))
    for dy, dx, view in _taps(x, kh, kw, out_h, out_w, strides, dilations):
        out += view[..., None] * w[dy, dx]
    return out.reshape(x.shape[0], out_h, out_w, cin * mult)


def _strided_slice(x: np.ndarray, begin, end, strides, attr: Mapping) -> np.ndarray:
    if attr.get("ellipsis_mask", 0):
        raise NotImplementedError("StridedSlice with ellipsis_mask")
    index: list = []
    shrink = attr.get("shrink_axis_mask", 0)
    new_axis = attr.get("new_axis_mask", 0)
    for i, (b, e, s) in enumerate(zip(begin, end, strides, strict=True)):
        if new_axis & (1 << i):
            index.append(None)
        elif shrink & (1 << i):
            index.append(int(b))
        else:
            b = None if attr.get("begin_mask", 0) & (1 << i) else int(b)
            e = None if attr.get("end_mask", 0) & (1 << i) else int(e)
            index.append(slice(b, e, int(s)))
    return np.asarray(x[tuple(index)])


def _relu6(x):
    return np.clip(x, 0, 6)


def _fused_batch_norm(x, scale, offset, mean, var, attr):
    if attr.get("is_training", False):
        raise NotImplementedError("FusedBatchNorm with is_training=true")
    if attr.get("data_format", b"NHWC") != b"NHWC":
        raise NotImplementedError("FusedBatchNorm with data_format other than NHWC")
    eps = attr.get("epsilon", 1e-3)
    return (x - mean) * (scale / np.sqrt(var + eps)) + offset


def _concat(*args):
    *values, axis = args
    return np.concatenate(values, axis=int(axis))


def _squeeze(x, attr):
    dims = attr.get("squeeze_dims") or ()
    return np.squeeze(x, axis=tuple(int(d) for d in dims) if dims else None)


_ELEMENTWISE: dict[str, Callable] = {
    "Identity": lambda x: x,
    "StopGradient": lambda x: x,
    "Add": np.add,
    "AddV2": np.add,
    "BiasAdd": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "RealDiv": np.divide,
    "Maximum": np.maximum,
    "Minimum": np.minimum,
    "Relu": lambda x: np.maximum(x, 0),
    "Relu6": _relu6,
    "Sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "Sqrt": np.sqrt,
    "Exp": np.exp,
    "Equal": np.equal,
    "Greater": np.greater,
    "Less": np.less,
    "LogicalAnd": np.logical_and,
}


class TfNumpyEvaluator:
    """Evaluate tensors of a :class:`GraphDef` on demand, memoising every value.

    ``feeds`` maps tensor names (``"node"`` or ``"node:1"``) to arrays and cuts the graph there
    (for example the Preprocessor output, so its TensorArray loop never runs). ``float_dtype``
    is the precision of float constants (float64 for reference use).
    """

    def __init__(
        self,
        graph: GraphDef,
        feeds: Mapping[str, np.ndarray] | None = None,
        float_dtype=np.float64,
    ) -> None:
        self.graph = graph
        self.float_dtype = np.dtype(float_dtype)
        self._values: dict[str, np.ndarray] = {}
        for name, value in (feeds or {}).items():
            self._values[self._key(name)] = np.asarray(value)

    @staticmethod
    def _key(tensor: str) -> str:
        return f"{node_name(tensor)}:{output_index(tensor)}"

    def evaluate(self, tensors: str | Iterable[str]):
        """Value of one tensor name, or a list of values for several."""
        if isinstance(tensors, str):
            return self._value(tensors)
        return [self._value(t) for t in tensors]

    def _value(self, tensor: str) -> np.ndarray:
        key = self._key(tensor)
        if key in self._values:
            return self._values[key]
        # Iterative post-order walk: SSD graphs are a few hundred nodes deep.
        stack = [node_name(tensor)]
        while stack:
            name = stack[-1]
            if f"{name}:0" in self._values:
                stack.pop()
                continue
            node = self.graph.nodes.get(name)
            if node is None:
                raise KeyError(f"tensor {tensor!r} needs node {name!r}, which the graph lacks")
            pending = [
                node_name(i)
                for i in node.inputs
                if not i.startswith("^") and self._key(i) not in self._values
            ]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            self._run(node)
        if key not in self._values:
            raise KeyError(f"node {node_name(tensor)!r} has no output {output_index(tensor)}")
        return self._values[key]

    def _run(self, node: NodeDef) -> None:
        args = [self._values[self._key(i)] for i in node.inputs if not i.startswith("^")]
        outputs = self.compute_node(node, args)
        if not isinstance(outputs, list):
            outputs = [outputs]
        for k, value in enumerate(outputs):
            self._values[f"{node.name}:{k}"] = value

    def compute_node(self, node: NodeDef, args: list[np.ndarray]):  # noqa: C901 - dispatch table
        """The output(s) of ``node`` for input values ``args`` (a list for multi-output ops)."""
        op, attr = node.op, node.attr
        if op == "Const":
            value = attr["value"]
            return value.astype(self.float_dtype) if value.dtype.kind == "f" else value
        if op in _ELEMENTWISE:
            return np.asarray(_ELEMENTWISE[op](*args))
        if op == "Placeholder":
            raise ValueError(f"placeholder {node.name!r} was not fed")
        if op == "Conv2D":
            if attr.get("data_format", b"NHWC") != b"NHWC":
                raise NotImplementedError(f"{node.name}: Conv2D data_format {attr['data_format']}")
            return conv2d_nhwc(
                args[0],
                args[1],
                attr["strides"],
                attr["padding"],
                attr.get("dilations") or (1, 1, 1, 1),
            )
        if op == "DepthwiseConv2dNative":
            return depthwise_conv2d_nhwc(
                args[0],
                args[1],
                attr["strides"],
                attr["padding"],
                attr.get("dilations") or (1, 1, 1, 1),
            )
        if op in ("FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"):
            return _fused_batch_norm(*args[:5], attr)
        if op == "Reshape":
            return args[0].reshape(tuple(int(d) for d in args[1]))
        if op == "ConcatV2":
            return _concat(*args)
        if op == "Squeeze":
            return _squeeze(args[0], attr)
        if op == "ExpandDims":
            return np.expand_dims(args[0], int(args[1]))
        if op == "Shape":
            return np.array(args[0].shape, NUMPY_DTYPES[attr.get("out_type", 3)])
        if op == "Rank":
            return np.array(args[0].ndim, np.int32)
        if op == "Size":
            return np.array(args[0].size, np.int32)
        if op == "StridedSlice":
            return _strided_slice(args[0], args[1], args[2], args[3], attr)
        if op == "Slice":
            begin, size = args[1], args[2]
            index = tuple(
                slice(int(b), None if int(s) == -1 else int(b) + int(s))
                for b, s in zip(begin, size, strict=True)
            )
            return args[0][index]
        if op == "Pack":
            return np.stack(args, axis=attr.get("axis", 0))
        if op == "Unpack":
            axis = attr.get("axis", 0)
            return [np.take(args[0], i, axis=axis) for i in range(args[0].shape[axis])]
        if op == "Fill":
            return np.full(tuple(int(d) for d in args[0]), args[1])
        if op == "Tile":
            return np.tile(args[0], tuple(int(m) for m in args[1]))
        if op == "Range":
            return np.arange(args[0], args[1], args[2]).astype(np.result_type(*args))
        if op == "Cast":
            dst = NUMPY_DTYPES[attr["DstT"]]
            return args[0].astype(self.float_dtype if dst.kind == "f" else dst)
        if op == "Transpose":
            return np.transpose(args[0], tuple(int(p) for p in args[1]))
        if op == "All":
            axes = tuple(int(a) for a in np.atleast_1d(args[1]))
            return np.all(args[0], axis=axes, keepdims=bool(attr.get("keep_dims", False)))
        raise NotImplementedError(f"node {node.name!r}: op {op!r} is not implemented in NumPy")
