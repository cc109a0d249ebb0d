"""SSD anchors, box decoding and non-maximum suppression in NumPy.

This is the part of a TF Object Detection API SSD that runs after the network (the
``MultipleGridAnchorGenerator``, the ``FasterRcnnBoxCoder`` decode and
``BatchMultiClassNonMaxSuppression``), re-implemented so any engine that produces the raw heads
(onnxruntime here) gives the detections TensorFlow would.

Conventions (TF's): boxes are ``(ymin, xmin, ymax, xmax)`` normalised to ``[0, 1]`` of the
network input; anchors of one feature map are laid out row by row, column by column, then
anchor by anchor (``H, W, A``), which is also the order the heads are flattened in.

Anchor shapes (per layer: the normalised ``(height, width)`` of each anchor at one location)
are kept apart from the grid, so the same trained model can be run at another input size: the
grid follows the feature-map sizes, and the shapes keep their size *in pixels* (the network
learned its size priors in pixels: at 512x384 input, anchors kept normalised come out 28 %
too tall, pixel-constant ones give the same boxes as at 300x300 and as OpenCV's PriorBox).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_BOX_CODER_SCALES = (10.0, 10.0, 5.0, 5.0)


@dataclass(frozen=True)
class AnchorLayers:
    """Anchor shapes per feature map: ``box_sizes[layer][k] = (height, width)``, normalised
    for a square input; the anchors at one location come in this order."""

    box_sizes: tuple[tuple[tuple[float, float], ...], ...]

    def __post_init__(self) -> None:
        sizes = tuple(tuple((float(h), float(w)) for h, w in layer) for layer in self.box_sizes)
        if not sizes or any(not layer for layer in sizes):
            raise ValueError(f"box_sizes must list at least one anchor per layer, got {sizes}")
        if any(h <= 0 or w <= 0 for layer in sizes for h, w in layer):
            raise ValueError(f"anchor heights and widths must be > 0, got {sizes}")
        object.__setattr__(self, "box_sizes", sizes)

    @property
    def anchors_per_location(self) -> tuple[int, ...]:
        return tuple(len(layer) for layer in self.box_sizes)

    def num_anchors(self, feature_map_shapes: Sequence[tuple[int, int]]) -> int:
        self._check_shapes(feature_map_shapes)
        return sum(
            h * w * a
            for (h, w), a in zip(feature_map_shapes, self.anchors_per_location, strict=True)
        )

    def _check_shapes(self, feature_map_shapes: Sequence[tuple[int, int]]) -> None:
        if len(feature_map_shapes) != len(self.box_sizes):
            raise ValueError(
                f"feature_map_shapes has {len(feature_map_shapes)} entries but there are "
                f"{len(self.box_sizes)} anchor layers"
            )

    def generate(
        self,
        feature_map_shapes: Sequence[tuple[int, int]],
        size_scale: tuple[float, float] = (1.0, 1.0),
    ) -> np.ndarray:
        """Anchors as an ``(N, 4)`` float64 array of ``(ymin, xmin, ymax, xmax)``.

        Centres are at ``(i + 0.5) / H``, ``(j + 0.5) / W`` (TF's default stride and offset).
        ``size_scale`` multiplies heights and widths: ``(native_h / input_h, native_w /
        input_w)`` keeps anchors at their trained pixel size when the network runs at an input
        size other than the one it was exported for.
        """
        self._check_shapes(feature_map_shapes)
        parts = []
        for (fh, fw), sizes in zip(feature_map_shapes, self.box_sizes, strict=True):
            sizes_arr = np.asarray(sizes, np.float64) * np.asarray(size_scale, np.float64)
            yc = (np.arange(fh, dtype=np.float64) + 0.5) / fh
            xc = (np.arange(fw, dtype=np.float64) + 0.5) / fw
            grid = np.empty((fh, fw, len(sizes), 4))
            grid[..., 0] = yc[:, None, None] - 0.5 * sizes_arr[:, 0]
            grid[..., 1] = xc[None, :, None] - 0.5 * sizes_arr[:, 1]
            grid[..., 2] = yc[:, None, None] + 0.5 * sizes_arr[:, 0]
            grid[..., 3] = xc[None, :, None] + 0.5 * sizes_arr[:, 1]
            parts.append(grid.reshape(-1, 4))
        return np.concatenate(parts, axis=0)


def default_anchor_layers(
    num_layers: int = 6,
    min_scale: float = 0.2,
    max_scale: float = 0.95,
    aspect_ratios: Sequence[float] = (1.0, 2.0, 0.5, 3.0, 0.3333),
    interpolated_scale_aspect_ratio: float = 1.0,
    reduce_boxes_in_lowest_layer: bool = True,
) -> AnchorLayers:
    """The TF OD API ``ssd_anchor_generator`` defaults (what ``pipeline.config`` files use).

    Layer ``i`` has scale ``s_i = min + (max - min) * i / (num_layers - 1)``; an aspect ratio
    ``a`` gives ``(s / sqrt(a), s * sqrt(a))``; every layer also gets ``sqrt(s_i * s_{i+1})`` at
    ``interpolated_scale_aspect_ratio`` (``s_num_layers = 1``); the lowest layer is reduced to
    ``(0.1, 1), (s_0, 2), (s_0, 0.5)``. The last aspect ratio is 0.3333, not 1/3, because
    that is how the published ``pipeline.config`` files spell it (and so what models were
    trained with: the shapes differ by up to 8e-5).
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    if not 0 < min_scale <= max_scale:
        raise ValueError(f"need 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
    step = (max_scale - min_scale) / (num_layers - 1) if num_layers > 1 else 0.0
    scales = [min_scale + step * i for i in range(num_layers)] + [1.0]
    layers = []
    for i in range(num_layers):
        if i == 0 and reduce_boxes_in_lowest_layer:
            specs = [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            specs = [(scales[i], a) for a in aspect_ratios]
            if interpolated_scale_aspect_ratio > 0:
                interpolated = math.sqrt(scales[i] * scales[i + 1])
                specs.append((interpolated, interpolated_scale_aspect_ratio))
        layers.append(tuple((s / math.sqrt(a), s * math.sqrt(a)) for s, a in specs))
    return AnchorLayers(tuple(layers))


def infer_anchor_layers(
    anchors: np.ndarray, anchors_per_location: Sequence[int], atol: float = 1e-5
) -> tuple[AnchorLayers, tuple[tuple[int, int], ...]]:
    """Recover anchor shapes and feature-map sizes from a full anchor array (e.g. evaluated from
    a frozen graph), and check that regenerating them reproduces every anchor within ``atol``.

    Raises ``ValueError`` when the anchors are not a regular SSD grid (centres at
    ``(i + 0.5) / H``): such a model can only be run at the size it was exported for.
    """
    anchors = np.asarray(anchors, np.float64)
    if anchors.ndim != 2 or anchors.shape[1] != 4:
        raise ValueError(f"anchors must have shape (N, 4), got {anchors.shape}")
    offset = 0
    layers, shapes = [], []
    for layer, count in enumerate(anchors_per_location):
        if offset + count > len(anchors):
            raise ValueError(f"anchors run out at layer {layer} (have {len(anchors)})")
        first = anchors[offset : offset + count]
        yc = 0.5 * (first[0, 0] + first[0, 2])
        xc = 0.5 * (first[0, 1] + first[0, 3])
        fh, fw = round(0.5 / yc), round(0.5 / xc)
        if fh < 1 or fw < 1:
            raise ValueError(f"layer {layer}: first anchor centre ({yc}, {xc}) is off the grid")
        sizes = tuple(zip(first[:, 2] - first[:, 0], first[:, 3] - first[:, 1], strict=True))
        layers.append(sizes)
        shapes.append((fh, fw))
        offset += fh * fw * count
    if offset != len(anchors):
        raise ValueError(
            f"a grid of {shapes} with {tuple(anchors_per_location)} anchors per location "
            f"makes {offset} anchors, the array has {len(anchors)}"
        )
    result = AnchorLayers(tuple(layers))
    error = np.abs(result.generate(shapes) - anchors).max()
    if error > atol:
        raise ValueError(f"anchors are not a regular SSD grid (regenerated within {error:.2e})")
    return result, tuple(shapes)


def standard_feature_map_shapes(
    input_size: tuple[int, int], num_layers: int = 6, first_stride: int = 16
) -> tuple[tuple[int, int], ...]:
    """Feature-map sizes of the usual MobileNet SSD ladder: ``ceil(size / 16)``, then halving
    (rounding up) per layer, as TF ``SAME`` stride-2 convolutions do. 300 -> 19,10,5,3,2,1."""
    h = -(-input_size[0] // first_stride)
    w = -(-input_size[1] // first_stride)
    shapes = []
    for _ in range(num_layers):
        shapes.append((h, w))
        h, w = -(-h // 2), -(-w // 2)
    return tuple(shapes)


def to_center_form(corners: np.ndarray) -> np.ndarray:
    """``(ymin, xmin, ymax, xmax)`` -> ``(ycenter, xcenter, height, width)``."""
    out = np.empty_like(corners, dtype=np.float64)
    out[:, 2] = corners[:, 2] - corners[:, 0]
    out[:, 3] = corners[:, 3] - corners[:, 1]
    out[:, 0] = corners[:, 0] + 0.5 * out[:, 2]
    out[:, 1] = corners[:, 1] + 0.5 * out[:, 3]
    return out


def decode_boxes(
    encodings: np.ndarray,
    anchors_center: np.ndarray,
    scales: Sequence[float] = DEFAULT_BOX_CODER_SCALES,
) -> np.ndarray:
    """TF ``FasterRcnnBoxCoder.decode``: ``(ty, tx, th, tw)`` relative to centre-form anchors
    -> ``(ymin, xmin, ymax, xmax)``."""
    sy, sx, sh, sw = scales
    enc = np.asarray(encodings, np.float64)
    yc = enc[:, 0] / sy * anchors_center[:, 2] + anchors_center[:, 0]
    xc = enc[:, 1] / sx * anchors_center[:, 3] + anchors_center[:, 1]
    h = np.exp(enc[:, 2] / sh) * anchors_center[:, 2]
    w = np.exp(enc[:, 3] / sw) * anchors_center[:, 3]
    return np.stack([yc - 0.5 * h, xc - 0.5 * w, yc + 0.5 * h, xc + 0.5 * w], axis=1)


def non_max_suppression(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_output: int
) -> np.ndarray:
    """Greedy NMS as ``tf.image.non_max_suppression``: highest score first, drop every box whose
    IoU with a kept box is *greater* than the threshold. Returns kept indices, best first."""
    if len(boxes) == 0 or max_output <= 0:
        return np.zeros(0, np.int64)
    y1 = np.minimum(boxes[:, 0], boxes[:, 2])
    x1 = np.minimum(boxes[:, 1], boxes[:, 3])
    y2 = np.maximum(boxes[:, 0], boxes[:, 2])
    x2 = np.maximum(boxes[:, 1], boxes[:, 3])
    areas = (y2 - y1) * (x2 - x1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_output:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        inter = ih * iw
        union = areas[i] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)


@dataclass(frozen=True)
class SsdPostprocess:
    """What turns raw heads into detections; defaults are the TF OD API SSD defaults.

    ``score_converter`` is ``"sigmoid"`` (SSD/SSDLite MobileNet configs), ``"softmax"`` or
    ``"identity"``; logits are divided by ``logit_scale`` first. Class 0 is the background.
    """

    box_coder_scales: tuple[float, float, float, float] = DEFAULT_BOX_CODER_SCALES
    score_converter: str = "sigmoid"
    logit_scale: float = 1.0
    iou_threshold: float = 0.6
    max_detections_per_class: int = 100
    max_total_detections: int = 100

    def __post_init__(self) -> None:
        if self.score_converter not in ("sigmoid", "softmax", "identity"):
            raise ValueError(
                f"score_converter must be one of 'sigmoid', 'softmax', 'identity', "
                f"got {self.score_converter!r}"
            )
        if len(self.box_coder_scales) != 4 or min(self.box_coder_scales) <= 0:
            raise ValueError(f"box_coder_scales must be 4 values > 0, got {self.box_coder_scales}")
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.logit_scale <= 0:
            raise ValueError(f"logit_scale must be > 0, got {self.logit_scale}")
        if self.max_detections_per_class < 1 or self.max_total_detections < 1:
            raise ValueError(
                f"max_detections_per_class and max_total_detections must be >= 1, got "
                f"{self.max_detections_per_class}, {self.max_total_detections}"
            )

    def scores(self, class_logits: np.ndarray) -> np.ndarray:
        """Per-anchor class scores ``(N, num_classes + 1)`` from logits."""
        logits = np.asarray(class_logits, np.float64) / self.logit_scale
        if self.score_converter == "sigmoid":
            return 1.0 / (1.0 + np.exp(-logits))
        if self.score_converter == "softmax":
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return logits

    def run(
        self,
        box_encodings: np.ndarray,
        class_logits: np.ndarray,
        anchors_center: np.ndarray,
        score_threshold: float,
        class_ids: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detections ``(boxes (K, 4) normalised corners, scores (K,), class ids (K,))``.

        Same order of steps as TF's ``BatchMultiClassNonMaxSuppression``: per-class NMS on the
        unclipped boxes, merge, sort by score, clip to ``[0, 1]``, drop empty boxes, keep the
        best ``max_total_detections``. Anchors below ``score_threshold`` are dropped *before*
        NMS: a box can only be suppressed by a better one, so the result above the threshold is
        the same as TF's (which thresholds afterwards) and the work is a few dozen boxes.
        ``class_ids`` (1-based, background is 0) restricts the classes considered.
        """
        scores = self.scores(class_logits)
        num_classes = scores.shape[1] - 1
        ids = range(1, num_classes + 1) if class_ids is None else class_ids
        all_boxes, all_scores, all_classes = [], [], []
        for cls in ids:
            if not 1 <= cls <= num_classes:
                raise ValueError(f"class id {cls} outside 1..{num_classes}")
            candidates = np.flatnonzero(scores[:, cls] >= score_threshold)
            if candidates.size == 0:
                continue
            boxes = decode_boxes(
                box_encodings[candidates], anchors_center[candidates], self.box_coder_scales
            )
            cls_scores = scores[candidates, cls]
            keep = non_max_suppression(
                boxes, cls_scores, self.iou_threshold, self.max_detections_per_class
            )
            all_boxes.append(boxes[keep])
            all_scores.append(cls_scores[keep])
            all_classes.append(np.full(keep.size, cls, np.int64))
        if not all_boxes:
            return np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)
        boxes = np.concatenate(all_boxes)
        scores_out = np.concatenate(all_scores)
        classes = np.concatenate(all_classes)
        order = np.argsort(-scores_out, kind="stable")
        boxes = np.clip(boxes[order], 0.0, 1.0)
        scores_out, classes = scores_out[order], classes[order]
        nonempty = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores_out, classes = boxes[nonempty], scores_out[nonempty], classes[nonempty]
        top = self.max_total_detections
        return boxes[:top], scores_out[:top], classes[:top]


@dataclass(frozen=True)
class SsdAnchorOptions:
    """Anchor settings in the terms of MediaPipe's ``SsdAnchorsCalculator`` (the calculator
    MediaPipe graphs run before decoding a raw-output TFLite SSD), so a model's published graph
    settings can be copied field by field.

    The defaults are the settings MediaPipe's Objectron graph uses for its OIDv4 SSD
    MobileNetV2 (``object_detection_ssd_mobilenetv2_oidv4_fp16.tflite``): 6 layers, scales
    0.2-0.95, strides 16..512, aspect ratios 1, 2, 0.5, 3, 0.3333 plus the interpolated one,
    reduced boxes in the lowest layer, centres at ``(i + 0.5) / size``, a 300x300 input --
    which is also the TF OD API's default anchor generator.

    Differences from :func:`default_anchor_layers`: feature-map sizes come from ``strides``
    (``ceil(input / stride)``), and consecutive layers with the same stride share one grid
    (their anchors are pooled per location), as MediaPipe does.
    """

    num_layers: int = 6
    min_scale: float = 0.2
    max_scale: float = 0.95
    input_size_height: int = 300
    input_size_width: int = 300
    strides: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    reduce_boxes_in_lowest_layer: bool = True
    interpolated_scale_aspect_ratio: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        object.__setattr__(self, "aspect_ratios", tuple(float(a) for a in self.aspect_ratios))
        if self.num_layers < 1 or len(self.strides) != self.num_layers:
            raise ValueError(
                f"strides must list one stride per layer (num_layers={self.num_layers}), "
                f"but got {self.strides}"
            )
        if any(s < 1 for s in self.strides):
            raise ValueError(f"strides must be >= 1, but got {self.strides}")
        if not 0 < self.min_scale <= self.max_scale:
            raise ValueError(
                f"need 0 < min_scale <= max_scale, but got {self.min_scale}, {self.max_scale}"
            )
        if not self.aspect_ratios or min(self.aspect_ratios) <= 0:
            raise ValueError(f"aspect_ratios must be > 0, but got {self.aspect_ratios}")
        for name in ("input_size_height", "input_size_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, but got {getattr(self, name)}")

    def _scale(self, index: int) -> float:
        if self.num_layers == 1:
            return 0.5 * (self.min_scale + self.max_scale)
        return self.min_scale + (self.max_scale - self.min_scale) * index / (self.num_layers - 1)

    def layers(
        self, input_size: tuple[int, int] | None = None
    ) -> tuple[AnchorLayers, tuple[tuple[int, int], ...]]:
        """Anchor shapes (normalised for the native input) and feature-map sizes ``(H, W)``
        for an ``input_size = (height, width)`` (default: the native one)."""
        h_in, w_in = input_size or (self.input_size_height, self.input_size_width)
        shapes, box_sizes = [], []
        layer = 0
        while layer < self.num_layers:
            specs: list[tuple[float, float]] = []  # (scale, aspect ratio)
            last = layer
            while last < self.num_layers and self.strides[last] == self.strides[layer]:
                scale = self._scale(last)
                if last == 0 and self.reduce_boxes_in_lowest_layer:
                    specs += [(0.1, 1.0), (scale, 2.0), (scale, 0.5)]
                else:
                    specs += [(scale, a) for a in self.aspect_ratios]
                    if self.interpolated_scale_aspect_ratio > 0:
                        following = 1.0 if last == self.num_layers - 1 else self._scale(last + 1)
                        specs.append(
                            (math.sqrt(scale * following), self.interpolated_scale_aspect_ratio)
                        )
                last += 1
            box_sizes.append(tuple((s / math.sqrt(a), s * math.sqrt(a)) for s, a in specs))
            stride = self.strides[layer]
            shapes.append((math.ceil(h_in / stride), math.ceil(w_in / stride)))
            layer = last
        return AnchorLayers(tuple(box_sizes)), tuple(shapes)

    def anchors(self, input_size: tuple[int, int] | None = None) -> np.ndarray:
        """Centre-form anchors ``(yc, xc, h, w)`` for an ``input_size = (height, width)``;
        anchor sizes keep their native size in pixels when the input differs (see the module
        docstring). Centres use ``anchor_offset_x/y``."""
        layers, shapes = self.layers(input_size)
        h_in, w_in = input_size or (self.input_size_height, self.input_size_width)
        scale = (self.input_size_height / h_in, self.input_size_width / w_in)
        corners = layers.generate(shapes, scale)
        center = to_center_form(corners)
        if (self.anchor_offset_x, self.anchor_offset_y) != (0.5, 0.5):
            parts, start = [], 0
            for (fh, fw), per in zip(shapes, layers.anchors_per_location, strict=True):
                n = fh * fw * per
                ys = (np.repeat(np.arange(fh), fw * per) + self.anchor_offset_y) / fh
                xs = (np.tile(np.repeat(np.arange(fw), per), fh) + self.anchor_offset_x) / fw
                parts.append((start, start + n, ys, xs))
                start += n
            for a, b, ys, xs in parts:
                center[a:b, 0], center[a:b, 1] = ys, xs
        return center
