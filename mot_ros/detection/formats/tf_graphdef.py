"""A small reader for TensorFlow frozen graphs (``GraphDef`` protobuf files), without TensorFlow.

Why hand-written: the project only needs to *read* the handful of message types a frozen graph
is made of (GraphDef, NodeDef, AttrValue, TensorProto, TensorShapeProto), and TensorFlow is a
~500 MB dependency for that. The protobuf wire format and these messages' field numbers are
public (tensorflow/core/framework/*.proto); this module decodes exactly those fields and
ignores the rest, as protobuf parsers do with unknown fields.

Trade-off: attribute values are decoded eagerly into plain Python/NumPy values (bytes, int,
float, bool, tuples, ``np.ndarray``), which is simple to use but not a general protobuf
library: ``func`` attributes and function libraries are skipped (SSD frozen graphs have none).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# tensorflow/core/framework/types.proto: DataType enum values -> NumPy dtypes.
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_UINT8, DT_INT16, DT_INT8 = 1, 2, 3, 4, 5, 6
DT_STRING, DT_INT64, DT_BOOL, DT_UINT16, DT_HALF, DT_UINT32, DT_UINT64 = 7, 9, 10, 17, 19, 22, 23
NUMPY_DTYPES: dict[int, np.dtype] = {
    DT_FLOAT: np.dtype("<f4"),
    DT_DOUBLE: np.dtype("<f8"),
    DT_INT32: np.dtype("<i4"),
    DT_UINT8: np.dtype("u1"),
    DT_INT16: np.dtype("<i2"),
    DT_INT8: np.dtype("i1"),
    DT_INT64: np.dtype("<i8"),
    DT_BOOL: np.dtype("bool"),
    DT_UINT16: np.dtype("<u2"),
    DT_HALF: np.dtype("<f2"),
    DT_UINT32: np.dtype("<u4"),
    DT_UINT64: np.dtype("<u8"),
}

_WIRE_VARINT, _WIRE_I64, _WIRE_LEN, _WIRE_I32 = 0, 1, 2, 5


class GraphDefError(ValueError):
    """The bytes are not a GraphDef this reader understands (truncated, not protobuf, ...)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise GraphDefError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise GraphDefError("varint longer than 10 bytes")


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _fields(buf: bytes, start: int = 0, end: int | None = None):
    """Yield ``(field_number, wire_type, value)``; LEN values are ``(start, end)`` offsets."""
    pos = start
    end = len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise GraphDefError(f"field number 0 at byte {pos}")
        if wire == _WIRE_VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _WIRE_LEN:
            length, pos = _varint(buf, pos)
            if pos + length > end:
                raise GraphDefError(f"length-delimited field {number} runs past its message")
            value = (pos, pos + length)
            pos += length
        elif wire == _WIRE_I32:
            value = buf[pos : pos + 4]
            pos += 4
        elif wire == _WIRE_I64:
            value = buf[pos : pos + 8]
            pos += 8
        else:
            raise GraphDefError(f"unsupported wire type {wire} for field {number} at byte {pos}")
        if pos > end:
            raise GraphDefError(f"field {number} runs past its message")
        yield number, wire, value


def _packed_varints(buf: bytes, span: tuple[int, int]) -> list[int]:
    pos, end = span
    out = []
    while pos < end:
        value, pos = _varint(buf, pos)
        out.append(_signed64(value))
    return out


def _text(buf: bytes, span: tuple[int, int]) -> str:
    try:
        return buf[span[0] : span[1]].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GraphDefError(f"invalid UTF-8 in a string field: {exc}") from None


@dataclass(frozen=True)
class NodeDef:
    """One graph node: ``inputs`` keep TF's spelling (``name``, ``name:1``, ``^control``)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attr: dict = field(default_factory=dict)


def _shape(buf: bytes, span: tuple[int, int]) -> tuple[int, ...] | None:
    """TensorShapeProto: dim=2 (Dim: size=1), unknown_rank=3. Unknown dims are -1."""
    dims: list[int] = []
    for number, _, value in _fields(buf, *span):
        if number == 2:
            size = 0  # proto3 default; an unknown dimension is an explicit -1
            for n2, _, v2 in _fields(buf, *value):
                if n2 == 1:
                    size = _signed64(v2)
            dims.append(size)
        elif number == 3 and value:
            return None
    return tuple(dims)


def _tensor(buf: bytes, span: tuple[int, int]) -> np.ndarray:
    """TensorProto: dtype=1, tensor_shape=2, tensor_content=4, typed *_val fields 5-17."""
    dtype_code = DT_FLOAT
    shape: tuple[int, ...] = ()
    content: bytes | None = None
    values: list = []
    for number, wire, value in _fields(buf, *span):
        if number == 1:
            dtype_code = value
        elif number == 2:
            shape = _shape(buf, value) or ()
        elif number == 4:
            content = buf[value[0] : value[1]]
        elif number == 5:  # float_val
            if wire == _WIRE_LEN:
                values.extend(np.frombuffer(buf[value[0] : value[1]], "<f4").tolist())
            else:
                values.append(struct.unpack("<f", value)[0])
        elif number == 6:  # double_val
            if wire == _WIRE_LEN:
                values.extend(np.frombuffer(buf[value[0] : value[1]], "<f8").tolist())
            else:
                values.append(struct.unpack("<d", value)[0])
        elif number in (7, 10, 11, 13, 16, 17):  # int, int64, bool, half (bits), uint32, uint64
            values.extend(_packed_varints(buf, value) if wire == _WIRE_LEN else [_signed64(value)])
        elif number == 8:  # string_val
            values.append(buf[value[0] : value[1]])
    if dtype_code == DT_STRING:
        return np.array(values, dtype=object).reshape(shape) if values else np.zeros(shape, object)
    dtype = NUMPY_DTYPES.get(dtype_code)
    if dtype is None:
        raise GraphDefError(f"unsupported tensor dtype code {dtype_code}")
    count = int(np.prod(shape)) if shape else 1
    if content is not None:
        array = np.frombuffer(content, dtype)
        if array.size != count:
            raise GraphDefError(
                f"tensor_content holds {array.size} values, shape {shape} needs {count}"
            )
        return array.reshape(shape).copy()
    if dtype_code == DT_HALF:
        array = np.array(values, np.uint16).view(np.float16)
    else:
        array = np.array(values, dtype)
    if array.size == count:
        return array.reshape(shape)
    if array.size == 0:
        return np.zeros(shape, dtype)
    if array.size < count:  # TF repeats the last value to fill the tensor
        return np.concatenate([array, np.full(count - array.size, array[-1], dtype)]).reshape(shape)
    raise GraphDefError(f"tensor has {array.size} values for shape {shape}")


def _list_value(buf: bytes, span: tuple[int, int]) -> tuple:
    """AttrValue.ListValue: s=2, i=3, f=4, b=5, type=6, shape=7, tensor=8."""
    items: list = []
    for number, wire, value in _fields(buf, *span):
        if number == 2:
            items.append(buf[value[0] : value[1]])
        elif number in (3, 5, 6):
            raw = _packed_varints(buf, value) if wire == _WIRE_LEN else [_signed64(value)]
            items.extend([bool(v) for v in raw] if number == 5 else raw)
        elif number == 4:
            if wire == _WIRE_LEN:
                items.extend(np.frombuffer(buf[value[0] : value[1]], "<f4").tolist())
            else:
                items.append(struct.unpack("<f", value)[0])
        elif number == 7:
            items.append(_shape(buf, value))
        elif number == 8:
            items.append(_tensor(buf, value))
    return tuple(items)


def _attr_value(buf: bytes, span: tuple[int, int]):
    """AttrValue oneof: list=1, s=2, i=3, f=4, b=5, type=6, shape=7, tensor=8, placeholder=9."""
    result = None
    for number, _, value in _fields(buf, *span):
        if number == 1:
            result = _list_value(buf, value)
        elif number == 2:
            result = buf[value[0] : value[1]]
        elif number == 3:
            result = _signed64(value)
        elif number == 4:
            result = struct.unpack("<f", value)[0]
        elif number == 5:
            result = bool(value)
        elif number == 6:
            result = int(value)
        elif number == 7:
            result = _shape(buf, value)
        elif number == 8:
            result = _tensor(buf, value)
        elif number == 9:
            result = _text(buf, value)
    return result


def _node(buf: bytes, span: tuple[int, int]) -> NodeDef:
    """NodeDef: name=1, op=2, input=3, device=4, attr=5 (map entry: key=1, value=2)."""
    name = op = ""
    inputs: list[str] = []
    attr: dict = {}
    for number, wire, value in _fields(buf, *span):
        if wire != _WIRE_LEN:
            continue
        if number == 1:
            name = _text(buf, value)
        elif number == 2:
            op = _text(buf, value)
        elif number == 3:
            inputs.append(_text(buf, value))
        elif number == 5:
            key, attr_value = "", None
            for n2, w2, v2 in _fields(buf, *value):
                if n2 == 1 and w2 == _WIRE_LEN:
                    key = _text(buf, v2)
                elif n2 == 2 and w2 == _WIRE_LEN:
                    attr_value = _attr_value(buf, v2)
            attr[key] = attr_value
    if not name or not op:
        raise GraphDefError("a node without a name or an op")
    return NodeDef(name, op, tuple(inputs), attr)


@dataclass(frozen=True)
class GraphDef:
    """The nodes of a frozen graph, by name, in file order."""

    nodes: dict[str, NodeDef]

    @classmethod
    def parse(cls, data: bytes) -> GraphDef:
        nodes: dict[str, NodeDef] = {}
        for number, wire, value in _fields(data):
            if number == 1:
                if wire != _WIRE_LEN:
                    raise GraphDefError("GraphDef.node (field 1) is not length-delimited")
                node = _node(data, value)
                nodes[node.name] = node
        if not nodes:
            raise GraphDefError("no nodes found")
        return cls(nodes)

    @classmethod
    def load(cls, path: str | Path) -> GraphDef:
        """Parse a ``.pb`` file; errors name the file."""
        path = Path(path)
        try:
            return cls.parse(path.read_bytes())
        except GraphDefError as exc:
            raise GraphDefError(f"{path} is not a readable TensorFlow GraphDef: {exc}") from None

    def node(self, tensor: str) -> NodeDef:
        """The node producing ``tensor`` (``name``, ``name:k`` or ``^name``)."""
        return self.nodes[node_name(tensor)]

    def consumers(self) -> dict[str, list[str]]:
        """Map node name -> names of the nodes that read one of its outputs (data inputs only)."""
        out: dict[str, list[str]] = {name: [] for name in self.nodes}
        for node in self.nodes.values():
            for tensor in node.inputs:
                if not tensor.startswith("^") and node_name(tensor) in out:
                    out[node_name(tensor)].append(node.name)
        return out


def node_spans(data: bytes) -> dict[str, tuple[int, int]]:
    """Byte ranges ``(start, end)`` of every serialized NodeDef in GraphDef bytes, by name, so a
    pruned graph can be written by copying the original node bytes unchanged."""
    spans = {}
    for number, wire, value in _fields(data):
        if number == 1 and wire == _WIRE_LEN:
            spans[_node(data, value).name] = value
    return spans


def node_name(tensor: str) -> str:
    """``'a/b:1'`` -> ``'a/b'``, ``'^a/b'`` -> ``'a/b'``."""
    return tensor.lstrip("^").split(":")[0]


def output_index(tensor: str) -> int:
    """``'a/b:1'`` -> 1, ``'a/b'`` -> 0."""
    _, _, index = tensor.partition(":")
    return int(index) if index else 0
