"""The node in the field, over a real ROS 2 graph with real frames and the real model:
runtime parameters through rclpy's parameter client, /diagnostics levels that recover,
stream changes, compressed images, the lifecycle variant, and faults at start and stop."""

from __future__ import annotations

import signal
import time

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from ros_graph import PARAMS, NodeProcess, spin_until
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from mot_ros.ros.conversions import bgr_to_image, detection_array_to_tracks


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope="module")
def frames(sample_video):
    cap = cv2.VideoCapture(str(sample_video))
    out = []
    for _ in range(30):
        ok, frame = cap.read()
        assert ok
        out.append(frame)
    cap.release()
    return out


def make_and_publish(pub, make):
    msg = make()
    pub.publish(msg)
    return msg.header.stamp


class Probe:
    """The test's side of the graph for one node namespace."""

    def __init__(self, ns: str, image_topic: str | None = None) -> None:
        self.node = rclpy.create_node(f"probe_{ns.strip('/')}")
        self.ns = ns
        self.image_pub = self.node.create_publisher(Image, image_topic or f"{ns}/image", 10)
        self.tracks: list[Detection2DArray] = []
        self.diagnostics: list[DiagnosticStatus] = []
        self.node.create_subscription(Detection2DArray, f"{ns}/tracks", self.tracks.append, 50)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)
        self.sec = 1000
        self.frame_id = "camera"

    def _on_diag(self, msg: DiagnosticArray) -> None:
        self.diagnostics += [s for s in msg.status if s.name.startswith(f"{self.ns}/")]

    def header(self, step: int = 1) -> Header:
        self.sec += step
        h = Header()
        h.stamp.sec, h.frame_id = self.sec, self.frame_id
        return h

    def wait_matched(self, pub=None, timeout: float = 20.0, make=None) -> None:
        """Wait until the node's subscription matched; with ``make`` (a message factory),
        also until a first message got an answer (discovery completes on both sides at
        different times, and a best-effort subscriber loses what comes before)."""
        pub = pub or self.image_pub
        assert spin_until(self.node, lambda: pub.get_subscription_count() > 0, timeout)
        if make is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stamp = make_and_publish(pub, make)
            if spin_until(self.node, lambda s=stamp: self._answered(s), 1.0):
                return
        raise AssertionError("the node never answered")

    def _answered(self, stamp) -> bool:
        return any(t.header.stamp == stamp for t in self.tracks)

    def send(self, msg, pub=None, timeout: float = 20.0) -> Detection2DArray:
        (pub or self.image_pub).publish(msg)
        stamp = msg.header.stamp

        def got():
            return any(t.header.stamp == stamp for t in self.tracks)

        assert spin_until(self.node, got, timeout), f"no tracks for stamp {stamp.sec}"
        return next(t for t in self.tracks if t.header.stamp == stamp)

    def close(self) -> None:
        self.node.destroy_node()


def _start(tmp_path, ns, *extra, executable="mot_node", wait="ready:"):
    proc = NodeProcess(
        executable, ["--params-file", str(PARAMS), "-r", f"__ns:={ns}", *extra], tmp_path
    )
    if wait:
        proc.wait_for_output(wait)
    return proc


@pytest.fixture(scope="module")
def node(ros, tmp_path_factory):
    proc = _start(tmp_path_factory.mktemp("logs"), "/mot_rb", "-p", "diagnostics_period_sec:=0.2")
    yield proc
    assert proc.stop() == 0, proc.output()


@pytest.fixture(scope="module")
def probe(node):
    p = Probe("/mot_rb")
    p.wait_matched(make=lambda: bgr_to_image(np.zeros((576, 768, 3), np.uint8), p.header()))
    yield p
    p.close()


def _set(probe: Probe, *params: Parameter):
    client = AsyncParameterClient(probe.node, f"{probe.ns}/mot_node")
    assert client.wait_for_services(10.0)
    future = client.set_parameters(list(params))
    assert spin_until(probe.node, future.done, 10.0)
    return future.result().results


def test_parameter_client_gets_a_reason_for_every_rejection(probe):
    cases = {
        "": Parameter("", value=1.0),  # rclpy alone accepts it and declares ""
        "unknown": Parameter("detector.no_such_parameter", value=1.0),
        "wrong type": Parameter("detector.confidence_threshold", value="high"),
        "out of range": Parameter("tracker.max_tracks", value=0),
        "read-only": Parameter("detector.model_path", value="/other.pb"),
        "read-only transport": Parameter("image_transport", value="compressed"),
    }
    for what, param in cases.items():
        (result,) = _set(probe, param)
        assert not result.successful, what
        assert result.reason, f"{what}: no reason given"
    (empty,) = _set(probe, Parameter("", value=1.0))
    assert "unknown parameter name ''" in empty.reason


def test_runtime_parameters_apply_from_the_next_frame(probe, frames):
    # min_hits 1: a new track is reported on its first frame (after a stream reset)
    assert all(r.successful for r in _set(probe, Parameter("tracker.min_hits", value=1)))
    probe.frame_id = "camera_a"
    assert probe.send(bgr_to_image(frames[0], probe.header())).detections
    assert all(r.successful for r in _set(probe, Parameter("tracker.min_hits", value=3)))
    probe.frame_id = "camera_b"
    assert not probe.send(bgr_to_image(frames[1], probe.header())).detections
    # the class filter changes at run time too: nothing is a bicycle (names as the default
    # oidv4 label map spells them)
    assert _set(probe, Parameter("detector.classes", value=["Bicycle"]))[0].successful
    probe.frame_id = "camera_c"
    for frame in frames[2:6]:
        assert not probe.send(bgr_to_image(frame, probe.header())).detections
    assert _set(probe, Parameter("detector.classes", value=["Person"]))[0].successful
    out = [probe.send(bgr_to_image(frame, probe.header())) for frame in frames[6:10]]
    assert out[-1].detections, "people are tracked again once the filter allows them"


def test_diagnostics_warn_on_bad_input_and_return_to_ok(probe, frames):
    bad = bgr_to_image(frames[0], probe.header())
    bad.encoding = "32FC1"
    probe.image_pub.publish(bad)

    def level_after(t0: float, level: int) -> bool:
        return any(
            s.level == level and probe.node.get_clock().now().nanoseconds > t0
            for s in probe.diagnostics[-3:]
        )

    assert spin_until(
        probe.node,
        lambda: any(
            s.level == DiagnosticStatus.WARN
            and int({v.key: v.value for v in s.values}["bad_inputs_recent"]) > 0
            for s in probe.diagnostics
        ),
        10.0,
    ), "a dropped frame is a warning"
    # the window is 10 diagnostics periods (2 s here): good frames bring OK back
    deadline = time.monotonic() + 15.0
    i = 0
    while time.monotonic() < deadline:
        probe.send(bgr_to_image(frames[i % len(frames)], probe.header()))
        i += 1
        if probe.diagnostics and probe.diagnostics[-1].level == DiagnosticStatus.OK:
            break
    assert probe.diagnostics[-1].level == DiagnosticStatus.OK, probe.diagnostics[-1]


def _ids(msg: Detection2DArray) -> set[int]:
    return {int(d.id) for d in msg.detections}


def test_stream_changes_reset_tracks_without_reusing_ids(probe, node, frames):
    probe.frame_id = "camera_main"
    before = [probe.send(bgr_to_image(f, probe.header())) for f in frames[:8]]
    old = set().union(*map(_ids, before))
    assert old, "people are tracked before the switch"
    half = [cv2.resize(f, (384, 288), interpolation=cv2.INTER_AREA) for f in frames[8:16]]
    after = [probe.send(bgr_to_image(f, probe.header())) for f in half]
    new = set().union(*map(_ids, after))
    assert new and not (new & old), f"ids after the switch {new} reuse {old}"
    for msg in after:
        for t in detection_array_to_tracks(msg):
            x1, y1, x2, y2 = t.xyxy
            assert 0 <= x1 < x2 <= 384 and 0 <= y1 < y2 <= 288
    # a bag loop: the stamp jumps backwards (below every stamp this module sent, so that
    # the answer cannot be confused with an earlier frame's tracks of the same stamp)
    probe.sec = 500
    probe.send(bgr_to_image(half[0], probe.header()))
    out = node.output()
    assert "image resolution changed from 768x576 to 384x288: tracks reset" in out
    assert "stamp jumped backwards by" in out


def test_compressed_images_on_the_image_transport_topic(ros, tmp_path, frames):
    ns = "/mot_cmp"
    proc = _start(tmp_path, ns, "-p", "image_transport:=compressed", "-r", "image:=/cam9/image_raw")
    probe = Probe(ns)
    try:
        pub = probe.node.create_publisher(CompressedImage, "/cam9/image_raw/compressed", 10)

        def jpeg(frame):
            msg = CompressedImage()
            msg.header = probe.header()
            msg.format = "bgr8; jpeg compressed bgr8"
            msg.data = cv2.imencode(".jpg", frame)[1].tobytes()
            return msg

        probe.wait_matched(pub, make=lambda: jpeg(frames[0]))
        got = [probe.send(jpeg(frame), pub=pub) for frame in frames[:6]]
        assert got[-1].detections, "people are tracked from JPEG frames"
        corrupt = CompressedImage()
        corrupt.header, corrupt.format = probe.header(), "jpeg"
        corrupt.data = jpeg(frames[0]).data[:20000]
        pub.publish(corrupt)
        spin_until(probe.node, lambda: False, 0.5)
        assert not any(t.header.stamp == corrupt.header.stamp for t in probe.tracks)
        msg = jpeg(frames[6])
        assert probe.send(msg, pub=pub).header == msg.header
        proc.wait_for_output("truncated JPEG")
    finally:
        probe.close()
        assert proc.stop() == 0, proc.output()


class Lifecycle:
    """Clients of a lifecycle node's change_state and get_state services, made once.

    A client is used only after its service matched and a moment more: the service side
    must also have discovered the client's reply topic, or the first reply can be lost.
    """

    def __init__(self, node, ns: str) -> None:
        self.node = node
        self.change = node.create_client(ChangeState, f"{ns}/mot_node/change_state")
        self.get = node.create_client(GetState, f"{ns}/mot_node/get_state")
        for client in (self.change, self.get):
            assert client.wait_for_service(timeout_sec=20.0)
        spin_until(node, lambda: False, 1.0)

    def _call(self, client, request, timeout: float):
        future = client.call_async(request)
        assert spin_until(self.node, future.done, timeout), f"no reply from {client.srv_name}"
        return future.result()

    def transition(self, transition: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition))
        return self._call(self.change, request, 120.0).success

    def state(self) -> int:
        for _ in range(3):  # a query is safe to repeat
            future = self.get.call_async(GetState.Request())
            if spin_until(self.node, future.done, 10.0):
                return future.result().current_state.id
        raise AssertionError("get_state never answered")


def test_lifecycle_node_configures_activates_deactivates_and_cleans_up(ros, tmp_path, frames):
    ns = "/mot_lc"
    proc = _start(tmp_path, ns, executable="mot_lifecycle_node", wait="unconfigured")
    probe = Probe(ns)
    try:
        lc = Lifecycle(probe.node, ns)
        assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert probe.image_pub.get_subscription_count() == 0, "nothing before activate"
        assert lc.transition(Transition.TRANSITION_CONFIGURE)
        assert lc.transition(Transition.TRANSITION_ACTIVATE)
        probe.wait_matched(make=lambda: bgr_to_image(frames[0], probe.header()))
        out = [probe.send(bgr_to_image(f, probe.header())) for f in frames[:5]]
        assert out[-1].detections, "an active lifecycle node tracks like the plain one"
        assert lc.transition(Transition.TRANSITION_DEACTIVATE)
        assert spin_until(probe.node, lambda: probe.image_pub.get_subscription_count() == 0, 10.0)
        assert lc.transition(Transition.TRANSITION_CLEANUP)
        assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
        # configure again (the model is loaded anew), then shut down from inactive
        assert lc.transition(Transition.TRANSITION_CONFIGURE)
        assert lc.state() == State.PRIMARY_STATE_INACTIVE
        assert lc.transition(Transition.TRANSITION_INACTIVE_SHUTDOWN)
        assert lc.state() == State.PRIMARY_STATE_FINALIZED
    finally:
        probe.close()
        assert proc.stop() == 0, proc.output()
    assert "Traceback" not in proc.output()


def test_lifecycle_configure_fails_cleanly_on_a_missing_model(ros, tmp_path):
    ns = "/mot_lcbad"
    missing = tmp_path / "none.pb"
    proc = _start(
        tmp_path,
        ns,
        "-p",
        f"detector.model_path:={missing}",
        executable="mot_lifecycle_node",
        wait="unconfigured",
    )
    node = rclpy.create_node("lc_bad_probe")
    try:
        lc = Lifecycle(node, ns)
        assert not lc.transition(Transition.TRANSITION_CONFIGURE)
        assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert proc.alive()
        assert "configure failed: " in proc.output() and str(missing) in proc.output()
    finally:
        node.destroy_node()
        assert proc.stop() == 0, proc.output()
    assert "Traceback" not in proc.output()


def test_a_corrupt_model_stops_the_node_with_one_clear_message(ros, tmp_path):
    corrupt = tmp_path / "model.pb"
    corrupt.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, np.uint8).tobytes())
    proc = _start(tmp_path, "/mot_bad", "-p", f"detector.model_path:={corrupt}", wait=None)
    proc.proc.wait(60)
    out = proc.output()
    assert proc.proc.returncode != 0
    assert "error:" in out and str(corrupt) in out, out
    assert "Traceback" not in out, out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_end_the_node_cleanly(ros, tmp_path, sig, frames):
    proc = _start(tmp_path, f"/mot_sig{int(sig)}")
    probe = Probe(f"/mot_sig{int(sig)}")
    try:
        probe.wait_matched(make=lambda: bgr_to_image(frames[0], probe.header()))
        for frame in frames[1:10]:  # stop while frames are still coming in
            probe.image_pub.publish(bgr_to_image(frame, probe.header()))
        proc.proc.send_signal(sig)
        proc.proc.wait(20)
    finally:
        probe.close()
        if proc.alive():
            proc.proc.kill()
    assert proc.proc.returncode == 0, proc.output()
    assert "Traceback" not in proc.output(), proc.output()
