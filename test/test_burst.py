"""A burst of every bad input between good frames, over a real ROS 2 graph.

The node runs in tracking-only mode (``input: detections``) with images for dlib, the
mode where the issue's crash, stalls and lost detections were found; the good frames are
real frames of the sample video with the real detector's boxes. Between two good frames
comes one bad kind: the issue's six defects (an overflowing box three times, 500 valid
detections followed by an image of the same stamp, a resolution switch, parameter
requests with empty/unknown names and wrong types, a dropped frame that must not leave
/diagnostics at WARN, a bad detection among good ones) and malformed images and
detections of many kinds. The node must stay alive, answer every good frame, keep the
good detections of a partly bad message, and answer every message within ``BOUND_SEC``,
measured from publishing the detections to receiving the tracks.

The bound: the caps leave at most ``max_correlation_trackers`` (16) dlib starts and updates
per message (~8 ms each on a quiet core: ~130 ms, about 3-4 image-mode frames of ~40 ms)
plus the conversion of at most a few hundred detections (~3 ms per 100). On this shared
2-core machine under a load of 8, dlib took up to 5x longer, so the test allows 2 s
(without the caps, the 500-detection message took 13.6 s). The test prints the figures.
"""

from __future__ import annotations

import statistics
import time

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_graph import PARAMS, NodeProcess, spin_until
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from mot_ros.detection.factory import create_detector
from mot_ros.ros.conversions import bgr_to_image, detection_array_to_tracks
from mot_ros.ros.parameters import build_config

NS = "/mot_burst"
# Any message's answer time, publish to tracks, on a loaded 2-core machine (see above).
BOUND_SEC = 2.0


def _det(cx, cy, w, h, score=0.9, name="person") -> Detection2D:
    d = Detection2D()
    d.bbox.center.position.x, d.bbox.center.position.y = float(cx), float(cy)
    d.bbox.size_x, d.bbox.size_y = float(w), float(h)
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id, hyp.hypothesis.score = name, float(score)
    d.results.append(hyp)
    return d


def _detections_of(dets) -> list[Detection2D]:
    return [
        _det((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, s, n)
        for (x1, y1, x2, y2), s, n in zip(dets.xyxy, dets.scores, dets.class_names, strict=True)
    ]


@pytest.fixture(scope="module")
def good_frames(sample_video):
    """40 frames of the sample video with the default detector's boxes."""
    detector = create_detector(build_config({}).detector)  # the node's default model
    cap = cv2.VideoCapture(str(sample_video))
    out = []
    for _ in range(40):
        ok, frame = cap.read()
        assert ok
        out.append((frame, _detections_of(detector.detect(frame))))
    cap.release()
    return out


class Burst:
    def __init__(self) -> None:
        self.node = rclpy.create_node("burst_driver")
        self.image_pub = self.node.create_publisher(Image, f"{NS}/image", 10)
        self.det_pub = self.node.create_publisher(Detection2DArray, f"{NS}/detections", 50)
        self.tracks: dict[tuple[int, int], tuple[float, Detection2DArray]] = {}
        self.diagnostics: list[DiagnosticStatus] = []
        self.node.create_subscription(Detection2DArray, f"{NS}/tracks", self._on_tracks, 100)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)
        self.sec = 5000
        self.answer_sec: dict[str, list[float]] = {}

    def _on_tracks(self, msg: Detection2DArray) -> None:
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        self.tracks[key] = (time.perf_counter(), msg)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        self.diagnostics += [s for s in msg.status if s.name.startswith(f"{NS}/")]

    def header(self, frame_id: str = "camera", step: int = 1) -> Header:
        self.sec += step
        h = Header()
        h.stamp.sec, h.frame_id = self.sec, frame_id
        return h

    def send(self, kind: str, detections, image=None, header=None, wait=True):
        """Publish (image and) detections of one stamp; wait for and time the answer."""
        header = header or self.header()
        if image is not None:
            self.image_pub.publish(bgr_to_image(image, header))
            spin_until(self.node, lambda: False, 0.03)  # the image first, as a camera would
        msg = Detection2DArray()
        msg.header = header
        msg.detections = list(detections)
        key = (header.stamp.sec, header.stamp.nanosec)
        start = time.perf_counter()
        self.det_pub.publish(msg)
        if not wait:
            return None
        assert spin_until(self.node, lambda: key in self.tracks, 30.0), f"no answer to {kind}"
        done, out = self.tracks[key]
        self.answer_sec.setdefault(kind, []).append(done - start)
        return out


def _set_parameters(node, params: list[ParameterMsg]):
    client = node.create_client(SetParameters, f"{NS}/mot_node/set_parameters")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(SetParameters.Request(parameters=params))
    assert spin_until(node, future.done, 10.0)
    node.destroy_client(client)
    return future.result().results


def _malformed_images(frame, header) -> list[Image]:
    out = []
    for mutate in (
        lambda m: setattr(m, "encoding", "32FC1"),
        lambda m: setattr(m, "encoding", ""),
        lambda m: setattr(m, "step", 5),
        lambda m: setattr(m, "data", bytes(m.data)[:999]),
        lambda m: setattr(m, "height", m.height * 3),
        lambda m: (setattr(m, "width", 0), setattr(m, "data", b"")),
        lambda m: (setattr(m, "encoding", "yuv422"), setattr(m, "width", 7)),
        lambda m: (setattr(m, "encoding", "mono16"), setattr(m, "is_bigendian", 1)),  # valid
        lambda m: setattr(m, "width", 10**8),
    ):
        msg = bgr_to_image(frame, header)
        mutate(msg)
        out.append(msg)
    return out


def test_burst_of_bad_inputs_between_good_frames(ros_burst, good_frames, tmp_path):
    proc = ros_burst
    b = Burst()
    try:
        assert spin_until(b.node, lambda: b.det_pub.get_subscription_count() > 0, 20.0)
        assert spin_until(b.node, lambda: b.image_pub.get_subscription_count() > 0, 20.0)
        # warm-up: discovery completes on the node's side too
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline:
            h = b.header()
            b.send("warm-up", [], header=h, wait=False)
            if spin_until(b.node, lambda h=h: (h.stamp.sec, 0) in b.tracks, 1.0):
                break
        frames = iter(good_frames)

        def good(kind="good"):
            frame, dets = next(frames)
            return b.send(kind, dets, image=frame)

        for _ in range(5):
            good()
        rng = np.random.default_rng(11)

        # 1. the box that overflowed the motion model, three messages in a row
        for _ in range(3):
            b.send("defect 1: 10 x 1e155 box", [_det(384, 288, 10, 1e155)])
        good()
        # 2. 500 valid detections, then an image with the next stamp and the same boxes
        xy = rng.uniform(0, 740, (500, 2)) * [1, 0.75]
        many = [_det(x, y, 20, 50, rng.uniform(0.3, 1.0)) for x, y in xy]
        b.send("defect 2: 500 detections", many)
        frame, _ = good_frames[0]
        b.send("defect 2: 500 detections + image", many, image=frame)
        b.send("defect 2: 500 detections + image", many, image=frame)
        good()
        # 3. resolution switch and back (each a stream reset)
        frame, dets = next(frames)
        b.send("defect 3: half-size image", [], image=cv2.resize(frame, (384, 288)))
        good()
        good()
        # 4. parameter requests with an empty name, an unknown name, a wrong type
        bad_params = [
            ParameterMsg(name="", value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE)),
            ParameterMsg(
                name="tracker.nope",
                value=ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=1),
            ),
            ParameterMsg(
                name="tracker.min_hits",
                value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="x"),
            ),
        ]
        for param in bad_params:
            (result,) = _set_parameters(b.node, [param])
            assert not result.successful and result.reason, param.name
        good()
        # 5. dropped frames (checked at the end: /diagnostics returns to OK)
        for msg in _malformed_images(good_frames[1][0], b.header()):
            b.image_pub.publish(msg)
            spin_until(b.node, lambda: False, 0.02)
        good()
        # 6. one bad detection among good ones: the good ones are tracked
        frame, dets = next(frames)
        mixed = [*dets, _det(float("nan"), 10, 10, 10), _det(100, 100, -4, 10)]
        out = b.send("defect 6: good + bad detections", mixed, image=frame)
        assert len(out.detections) >= 2, "the good detections of a partly bad message count"
        # more bad detection messages: every field non-finite, no results, absurd scores
        for values in (
            (float("inf"), 0, 10, 10),
            (0, float("-inf"), 10, 10),
            (10, 10, float("nan"), 10),
            (1e300, 1e300, 1e300, 1e300),
            (5e-324, 5e-324, 5e-324, 5e-324),
        ):
            b.send("bad detections", [_det(*values, score=float("nan"))] * 3)
        no_results = Detection2D()
        no_results.bbox.size_x = no_results.bbox.size_y = 20.0
        b.send("bad detections", [no_results] * 200)
        b.send("bad detections", [])
        # stream changes: frame_id and a stamp that jumps back
        frame, dets = next(frames)
        b.send("frame_id change", dets, image=frame, header=b.header(frame_id="other"))
        frame, dets = next(frames)
        b.send("stamp back", dets, image=frame, header=b.header(step=-1000))
        b.sec += 2000
        # good frames again: tracked, ids only increase after every reset
        answers = [good() for _ in range(12)]
        assert answers[-1].detections, "tracking works after the burst"
        ids_end = [int(d.id) for d in answers[-1].detections]
        assert all(i > 1 for i in ids_end)
        # /diagnostics back to OK after good frames (window: 10 periods of 0.1 s)
        t_end = time.monotonic() + 10.0
        while time.monotonic() < t_end:
            if b.diagnostics and b.diagnostics[-1].level == DiagnosticStatus.OK:
                break
            good() if len(b.answer_sec["good"]) < 34 else spin_until(b.node, lambda: False, 0.2)
        last = b.diagnostics[-1]
        assert last.level == DiagnosticStatus.OK, last
        values = {v.key: v.value for v in last.values}
        assert int(values["frames_dropped_bad_input"]) >= 8
        assert int(values["detections_rejected"]) >= 10
        assert int(values["stream_resets"]) >= 4
        assert int(values["callback_errors"]) == 0, "no unexpected error anywhere"
        assert int(values["detections_over_cap"]) >= 400

        assert proc.alive(), proc.output()
        for t in [t for _, (_, m) in b.tracks.items() for t in detection_array_to_tracks(m)]:
            assert all(np.isfinite(t.xyxy)) and t.xyxy[2] <= 768 and t.xyxy[3] <= 576
        normal = statistics.median(b.answer_sec["good"])
        worst_kind, worst = max(
            ((k, max(v)) for k, v in b.answer_sec.items() if k != "warm-up"), key=lambda kv: kv[1]
        )
        summary = ", ".join(
            f"{k}: {'/'.join(f'{x * 1000:.0f}' for x in v)}" for k, v in b.answer_sec.items()
        )
        print(
            f"\nburst: normal frame median {normal * 1000:.1f} ms, worst {worst * 1000:.0f} ms "
            f"({worst_kind}; {worst / normal:.1f}x); max ms by kind: {summary}"
        )
        assert worst < BOUND_SEC, f"{worst_kind} took {worst:.2f} s ({summary})"
    finally:
        b.node.destroy_node()


@pytest.fixture(scope="module")
def ros_burst(tmp_path_factory):
    rclpy.init()
    proc = NodeProcess(
        "mot_node",
        [
            "--params-file",
            str(PARAMS),
            "-r",
            f"__ns:={NS}",
            "-p",
            "input:=detections",
            "-p",
            "diagnostics_period_sec:=0.1",
        ],
        tmp_path_factory.mktemp("logs"),
    )
    try:
        proc.wait_for_output("ready:")
        yield proc
    finally:
        code = proc.stop()
        rclpy.try_shutdown()
    assert code == 0, proc.output()
    assert "Traceback" not in proc.output(), proc.output()
