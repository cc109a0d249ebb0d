"""The tracking node over a real ROS 2 graph, with real frames and the real model.

The node runs as its installed executable with ``--params-file config/mot.yaml`` (what the
launch file passes); the test publishes frames of the sample video and checks what comes
back on ``tracks``, ``annotated_image`` and ``label_info``.
"""

from __future__ import annotations

import numpy as np
import pytest
import rclpy
import yaml
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import DurabilityPolicy, QoSProfile
from ros_graph import PARAMS, NodeProcess, spin_until
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, LabelInfo

from mot_ros.ros.conversions import bgr_to_image, detection_array_to_tracks, image_to_bgr

TOPIC_NS = "/mot_test"


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Driver:
    """The test's side of the graph: publishes images, collects the node's outputs."""

    def __init__(self, ns: str) -> None:
        self.node = rclpy.create_node("mot_test_driver")
        self.image_pub = self.node.create_publisher(Image, f"{ns}/image", 10)
        self.det_pub = self.node.create_publisher(Detection2DArray, f"{ns}/detections", 10)
        self.tracks: list[Detection2DArray] = []
        self.annotated: list[Image] = []
        self.labels: list[LabelInfo] = []
        self.node.create_subscription(Detection2DArray, f"{ns}/tracks", self.tracks.append, 50)
        self.node.create_subscription(Image, f"{ns}/annotated_image", self.annotated.append, 5)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(LabelInfo, f"{ns}/label_info", self.labels.append, latched)
        self.seq = 0

    def header(self) -> Header:
        self.seq += 1
        h = Header()
        h.stamp.sec, h.stamp.nanosec = 1000 + self.seq, 123
        h.frame_id = "camera"  # one camera: a new frame_id would reset the tracks
        return h

    def wait_matched(self, timeout: float = 20.0) -> None:
        assert spin_until(
            self.node,
            lambda: (
                self.image_pub.get_subscription_count() > 0
                and self.node.count_publishers(f"{TOPIC_NS}/tracks") > 0
            ),
            timeout,
        ), "the node's image subscription never matched"

    def send_and_wait(self, msg, pub=None, timeout: float = 20.0) -> Detection2DArray:
        """Publish one message and wait for the tracks message with its stamp (lockstep)."""
        (pub or self.image_pub).publish(msg)
        stamp = msg.header.stamp

        def got():
            return any(t.header.stamp == stamp for t in self.tracks)

        assert spin_until(self.node, got, timeout), f"no tracks for stamp {stamp.sec}"
        return next(t for t in self.tracks if t.header.stamp == stamp)


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope="module")
def tracking_node(ros, tmp_path_factory):
    proc = NodeProcess(
        "mot_node",
        ["--params-file", str(PARAMS), "-r", f"__ns:={TOPIC_NS}"],
        tmp_path_factory.mktemp("logs"),
    )
    proc.wait_for_output("ready:")
    yield proc
    assert proc.stop() == 0, proc.output()


@pytest.fixture(scope="module")
def driver(tracking_node):
    d = Driver(TOPIC_NS)
    d.wait_matched()
    yield d
    d.node.destroy_node()


@pytest.fixture(scope="module")
def walk(driver, sample_video):
    """40 consecutive frames of the sample video through the node, in lockstep."""
    import cv2

    cap = cv2.VideoCapture(str(sample_video))
    sent = []
    for _ in range(40):
        ok, frame = cap.read()
        assert ok
        msg = bgr_to_image(frame, driver.header())
        sent.append((msg, frame, driver.send_and_wait(msg)))
    cap.release()
    return sent


def test_label_info_is_latched_with_the_model_classes(driver):
    from mot_ros.detection.config import read_labels_file
    from mot_ros.detection.presets import PRESETS

    assert spin_until(driver.node, lambda: driver.labels, 10.0)
    # the default (oidv4) label map as the package ships it, background ("???") left out
    names = read_labels_file(PRESETS["oidv4"].labels_path())
    assert names[0] == "???" and len(names) == 24
    class_map = driver.labels[0].class_map
    assert [c.class_name for c in class_map] == list(names[1:])
    assert [c.class_id for c in class_map] == list(range(23))


def test_tracks_carry_the_input_header(walk):
    for msg, _, tracks in walk:
        assert tracks.header == msg.header
        assert all(d.header == msg.header for d in tracks.detections)


def test_tracks_are_on_the_people_the_detector_sees(walk):
    from mot_ros.detection.config import DetectorConfig
    from mot_ros.detection.factory import create_detector

    detector = create_detector(DetectorConfig())  # the node's default detector
    matched = total = people = 0
    for _, frame, tracks in walk[5:]:
        dets = detector.detect(frame)
        for t in detection_array_to_tracks(tracks):
            total += 1
            same = [
                d for d, n in zip(dets.xyxy, dets.class_names, strict=True) if n == t.class_name
            ]
            matched += any(iou(t.xyxy, d) >= 0.5 for d in same)
            assert t.class_name in detector.class_names
            people += t.class_name == "Person"
    assert people >= 35 * 3, f"expected several people per frame, got {people} boxes"
    assert matched / total >= 0.8, f"only {matched}/{total} track boxes are on a detection"


def test_ids_stay_stable_from_frame_to_frame(walk):
    kept = changed = 0
    for (_, _, prev), (_, _, cur) in zip(walk, walk[1:], strict=False):
        before = detection_array_to_tracks(prev)
        for t in detection_array_to_tracks(cur):
            best = max(before, key=lambda b: iou(b.xyxy, t.xyxy), default=None)
            if best is not None and iou(best.xyxy, t.xyxy) > 0.6:
                kept += best.track_id == t.track_id
                changed += best.track_id != t.track_id
    assert kept > 60, (kept, changed)
    assert changed <= 0.02 * kept, f"{changed} id changes for {kept} kept ids"


def test_annotated_image_has_input_size_and_header(driver, walk):
    msg, frame, _ = walk[-1]
    assert spin_until(
        driver.node, lambda: any(a.header == msg.header for a in driver.annotated), 10.0
    )
    ann = next(a for a in driver.annotated if a.header == msg.header)
    assert (ann.width, ann.height, ann.encoding) == (msg.width, msg.height, "bgr8")
    drawn = image_to_bgr(ann)
    assert np.mean(drawn != frame) > 0.001, "boxes and labels were drawn"


def _bad_images(driver, frame):
    good = bgr_to_image(frame, driver.header())
    cases = []
    for mutate in (
        lambda m: setattr(m, "encoding", "32FC1"),
        lambda m: setattr(m, "encoding", "jpeg"),
        lambda m: setattr(m, "step", 7),
        lambda m: setattr(m, "data", bytes(m.data)[:1000]),
        lambda m: setattr(m, "height", m.height * 2),
        lambda m: (setattr(m, "width", 0), setattr(m, "height", 0), setattr(m, "data", b"")),
    ):
        bad = bgr_to_image(frame, driver.header())
        mutate(bad)
        cases.append(bad)
    return good, cases


def test_bad_images_are_dropped_and_the_node_keeps_running(driver, walk, tracking_node):
    frame = walk[-1][1]
    good, bad = _bad_images(driver, frame)
    before = len(driver.tracks)
    for msg in bad:
        driver.image_pub.publish(msg)
        spin_until(driver.node, lambda: False, 0.2)
    assert len(driver.tracks) == before, "bad images must not produce tracks"
    assert tracking_node.alive()
    tracks = driver.send_and_wait(good)
    assert tracks.detections, "a good frame after bad ones is tracked again"
    out = tracking_node.output()
    assert "dropping image" in out and "unsupported encoding '32FC1'" in out


def test_tiny_and_mono_images_are_handled(driver, walk):
    frame = walk[-1][1]
    mono = Image()
    mono.header = driver.header()
    mono.height, mono.width = frame.shape[:2]
    mono.encoding, mono.step = "mono8", frame.shape[1]
    mono.data = np.ascontiguousarray(frame[:, :, 1]).tobytes()
    assert driver.send_and_wait(mono).header == mono.header
    tiny = bgr_to_image(np.zeros((2, 3, 3), np.uint8), driver.header())
    assert driver.send_and_wait(tiny).header == tiny.header


def _call(node, srv_type, name, request, timeout=10.0):
    client = node.create_client(srv_type, name)
    assert client.wait_for_service(timeout_sec=timeout), f"no service {name}"
    future = client.call_async(request)
    assert spin_until(node, future.done, timeout)
    node.destroy_client(client)
    return future.result()


def test_parameters_from_the_yaml_reach_the_node(driver):
    declared = yaml.safe_load(PARAMS.read_text())["/**"]["ros__parameters"]
    flat = {}

    def walk_yaml(prefix, d):
        for k, v in d.items():
            if isinstance(v, dict):
                walk_yaml(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v

    walk_yaml("", declared)
    assert len(flat) > 30
    service = f"{TOPIC_NS}/mot_node/get_parameters"
    for name, value in flat.items():
        res = _call(driver.node, GetParameters, service, GetParameters.Request(names=[name]))
        if value == []:
            # ROS reads an empty YAML array as "not set": the node keeps it unset
            # and uses the empty default
            assert res.values == [] or parameter_value_to_python(res.values[0]) == [], name
            continue
        assert len(res.values) == 1, f"the node did not declare '{name}'"
        got = parameter_value_to_python(res.values[0])
        assert got == value, f"{name}: yaml {value!r}, node {got!r}"


def test_runtime_parameter_changes_are_validated(driver):
    name = f"{TOPIC_NS}/mot_node/set_parameters"
    bad = Parameter("detector.confidence_threshold", value=1.5).to_parameter_msg()
    res = _call(driver.node, SetParameters, name, SetParameters.Request(parameters=[bad]))
    assert not res.results[0].successful
    ro = Parameter("detector.model_path", value="/x.pb").to_parameter_msg()
    res = _call(driver.node, SetParameters, name, SetParameters.Request(parameters=[ro]))
    assert not res.results[0].successful, "the model cannot be swapped at run time"
    ok = Parameter("detector.confidence_threshold", value=0.35).to_parameter_msg()
    res = _call(driver.node, SetParameters, name, SetParameters.Request(parameters=[ok]))
    assert res.results[0].successful, res.results[0].reason
    # the latched label_info follows the new threshold
    assert spin_until(
        driver.node, lambda: any(abs(m.threshold - 0.35) < 1e-6 for m in driver.labels), 10.0
    )


def test_missing_model_stops_the_node_with_one_clear_message(ros, tmp_path):
    missing = tmp_path / "nowhere" / "model.pb"
    proc = NodeProcess(
        "mot_node",
        ["--params-file", str(PARAMS), "-p", f"detector.model_path:={missing}"],
        tmp_path,
    )
    proc.proc.wait(60)
    out = proc.output()
    assert proc.proc.returncode != 0
    assert str(missing) in out
    assert "Traceback" not in out, out


def test_topics_follow_namespace_and_remapping(ros, tmp_path):
    proc = NodeProcess(
        "mot_node",
        ["--params-file", str(PARAMS), "-r", "__ns:=/robot7", "-r", "image:=/camera7/image_raw"],
        tmp_path,
    )
    try:
        proc.wait_for_output("ready:")
        node = rclpy.create_node("topic_probe")
        want = {"/robot7/tracks", "/robot7/annotated_image", "/robot7/label_info"}

        def seen():
            names = {n for n, _ in node.get_topic_names_and_types()}
            return want <= names and node.count_subscribers("/camera7/image_raw") > 0

        assert spin_until(node, seen, 20.0), node.get_topic_names_and_types()
        node.destroy_node()
    finally:
        assert proc.stop() == 0


def test_tracking_only_mode_tracks_upstream_detections(ros, tmp_path):
    ns = "/mot_det"
    proc = NodeProcess(
        "mot_node",
        ["--params-file", str(PARAMS), "-r", f"__ns:={ns}", "-p", "input:=detections"],
        tmp_path,
    )
    try:
        proc.wait_for_output("ready:")
        d = Driver(ns)
        assert spin_until(d.node, lambda: d.det_pub.get_subscription_count() > 0, 20.0)
        ids = []
        for i in range(8):
            msg = Detection2DArray()
            msg.header = d.header()
            det = Detection2D()
            det.bbox.center.position.x, det.bbox.center.position.y = 100.0 + 5 * i, 200.0
            det.bbox.size_x, det.bbox.size_y = 40.0, 100.0
            msg.detections.append(det)
            out = d.send_and_wait(msg, pub=d.det_pub)
            assert out.header == msg.header
            ids.append([t.id for t in out.detections])
        assert ids[0] == [] and ids[-1] != [], "confirmed after min_hits detections"
        assert len({i for frame in ids for i in frame}) == 1, ids
        d.node.destroy_node()
    finally:
        assert proc.stop() == 0


def test_tracking_only_mode_clips_to_the_image_size_from_parameters_then_camera_info(ros, tmp_path):
    """No images: boxes are clipped to image_width x image_height, then to the size that
    camera_info announces, which takes precedence."""
    from sensor_msgs.msg import CameraInfo

    ns = "/mot_size"
    proc = NodeProcess(
        "mot_node",
        ["--params-file", str(PARAMS), "-r", f"__ns:={ns}", "-p", "input:=detections",
         "-p", "image_width:=320", "-p", "image_height:=240"],
        tmp_path,
    )  # fmt: skip
    try:
        proc.wait_for_output("ready:")
        d = Driver(ns)
        info_pub = d.node.create_publisher(CameraInfo, f"{ns}/camera_info", 10)
        assert spin_until(d.node, lambda: d.det_pub.get_subscription_count() > 0, 20.0)
        assert spin_until(d.node, lambda: info_pub.get_subscription_count() > 0, 20.0)
        right_edges = []
        for i in range(10):
            if i == 6:
                info = CameraInfo()
                info.width, info.height = 300, 240
                for _ in range(3):
                    info_pub.publish(info)
                    spin_until(d.node, lambda: False, 0.2)
            msg = Detection2DArray()
            msg.header = d.header()
            det = Detection2D()
            # a box reaching 10 px past the right edge of the 320 px image
            det.bbox.center.position.x, det.bbox.center.position.y = 310.0, 120.0
            det.bbox.size_x, det.bbox.size_y = 40.0, 100.0
            msg.detections.append(det)
            out = d.send_and_wait(msg, pub=d.det_pub)
            right_edges.append(
                [t.bbox.center.position.x + t.bbox.size_x / 2 for t in out.detections]
            )
        published = [edges for edges in right_edges[2:6] if edges]
        assert published and all(abs(e - 320.0) < 1e-6 for es in published for e in es), right_edges
        assert right_edges[-1] and abs(right_edges[-1][0] - 300.0) < 1e-6, right_edges
        d.node.destroy_node()
    finally:
        assert proc.stop() == 0


def test_a_burst_is_dropped_down_to_the_newest_frame(driver, walk):
    """Depth 1, keep last: a node slower than the camera skips frames, never lags behind."""
    frames = [frame for _, frame, _ in walk[:20]]
    sent = [bgr_to_image(frame, driver.header()) for frame in frames]
    before = len(driver.tracks)
    for msg in sent:
        driver.image_pub.publish(msg)
    last = sent[-1].header.stamp
    assert spin_until(
        driver.node, lambda: any(t.header.stamp == last for t in driver.tracks), 20.0
    ), "the newest frame of the burst must be processed"
    spin_until(driver.node, lambda: False, 1.0)
    processed = len(driver.tracks) - before
    assert processed < len(sent) / 2, f"{processed} of {len(sent)} burst frames processed"
