"""/diagnostics of the real node over a real ROS 2 graph: values present, levels that follow
their thresholds and come back to OK when the cause is gone, the summary at shutdown.

The node runs as its installed executable with a short window (1.5 s) and period (0.25 s)
so each phase takes a few seconds; the test sends real frames of the sample video in
lockstep and controls latency through the stamps it puts on them.
"""

from __future__ import annotations

import time

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from ros_graph import PARAMS, NodeProcess, spin_until
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from mot_ros.ros.conversions import bgr_to_image

NS = "/mot_diag"
WINDOW = 1.5


@pytest.fixture(scope="module")
def ros():
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope="module")
def node_proc(ros, tmp_path_factory):
    proc = NodeProcess(
        "mot_node",
        [
            "--params-file",
            str(PARAMS),
            "-r",
            f"__ns:={NS}",
            "-p",
            "diagnostics_period_sec:=0.25",
            "-p",
            f"diagnostics.window_sec:={WINDOW}",
            "-p",
            "diagnostics.warn_latency_ms:=600.0",
            "-p",
            "diagnostics.error_latency_ms:=4000.0",
        ],
        tmp_path_factory.mktemp("diag"),
    )
    proc.wait_for_output("ready:")
    yield proc
    proc.stop()


class Probe:
    def __init__(self) -> None:
        self.node = rclpy.create_node("diag_probe")
        self.pub = self.node.create_publisher(Image, f"{NS}/image", 10)
        self.tracks: set[tuple[int, int]] = set()
        self.status: list[tuple[float, DiagnosticStatus]] = []
        self.node.create_subscription(
            Detection2DArray,
            f"{NS}/tracks",
            lambda m: self.tracks.add((m.header.stamp.sec, m.header.stamp.nanosec)),
            50,
        )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for st in msg.status:
            if st.name.startswith(f"{NS}/mot_node"):
                self.status.append((time.monotonic(), st))

    def send(self, frame, age_s: float = 0.0, msg: Image | None = None) -> None:
        """One frame stamped ``age_s`` in the past; waits until its tracks arrive."""
        stamp_ns = time.time_ns() - int(age_s * 1e9)
        if msg is None:
            msg = bgr_to_image(frame, self._header())
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        self.pub.publish(msg)
        assert spin_until(self.node, lambda: key in self.tracks, 30.0), "no tracks"

    def _header(self):
        from std_msgs.msg import Header

        return Header(frame_id="camera")

    def wait_status(self, want_level: bytes, since: float, words: str = "", timeout=20.0):
        """The first status after ``since`` with this level (and words in its message)."""

        def found():
            return next(
                (
                    st
                    for t, st in self.status
                    if t > since and st.level == want_level and words in st.message
                ),
                None,
            )

        assert spin_until(self.node, lambda: found() is not None, timeout), [
            (st.level, st.message) for t, st in self.status if t > since
        ][-5:]
        return found()

    def keep_sending(self, frames, seconds: float, age_s: float = 0.0) -> None:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            self.send(frames[i % len(frames)], age_s)
            i += 1


@pytest.fixture(scope="module")
def probe(node_proc):
    p = Probe()
    assert spin_until(p.node, lambda: p.pub.get_subscription_count() > 0, 30.0)
    yield p
    p.node.destroy_node()


@pytest.fixture(scope="module")
def frames(sample_video):
    """The first 30 frames of the sample video, in order (people stay confirmed)."""
    import cv2

    cap = cv2.VideoCapture(str(sample_video))
    out = []
    while len(out) < 30:
        ok, frame = cap.read()
        assert ok
        out.append(frame)
    cap.release()
    return out


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def test_before_any_image_the_node_warns(probe):
    st = probe.wait_status(DiagnosticStatus.WARN, 0.0, "no images received yet")
    assert _values(st)["frames_received"] == "0"


def test_healthy_frames_give_ok_with_every_figure(probe, frames):
    since = time.monotonic()
    probe.keep_sending(frames, 1.0)
    st = probe.wait_status(DiagnosticStatus.OK, since)
    assert st.message == "tracking"
    v = _values(st)
    assert float(v["input_rate_hz"]) > 0 and float(v["processed_rate_hz"]) > 0
    assert int(v["frames_processed"]) > 0 and v["frames_rejected_bad"] == "0"
    assert int(v["frames_dropped_busy"]) >= 0
    for key in ("latency_ms_p50", "latency_ms_p95", "latency_ms_p99"):
        assert 0.0 < float(v[key]) < 600.0, (key, v[key])
    for key in ("convert_ms_median", "detect_ms_median", "track_ms_median", "publish_ms_median"):
        assert float(v[key]) >= 0.0, key
    assert float(v["detect_ms_median"]) > 1.0, "the detector really ran"
    assert int(v["active_tracks"]) >= 1, "the sample video has people in every frame"
    assert v["detector_backend"].endswith("Detector") and v["detector_threads"] == "1"
    assert v["detect_every"] == "1"


def test_late_frames_warn_then_error_and_the_level_comes_back(probe, frames):
    since = time.monotonic()
    probe.keep_sending(frames, 1.0, age_s=1.0)  # 1 s old: above the 600 ms warn bound
    st = probe.wait_status(DiagnosticStatus.WARN, since, "latency p95")
    assert float(_values(st)["latency_ms_p95"]) > 600.0
    since = time.monotonic()
    probe.keep_sending(frames, 1.0, age_s=5.0)  # above the 4 s error bound
    probe.wait_status(DiagnosticStatus.ERROR, since, "latency p95")
    since = time.monotonic()
    probe.keep_sending(frames, WINDOW + 1.0)  # fresh frames for longer than the window
    probe.wait_status(DiagnosticStatus.OK, since, "tracking")


def test_bad_frames_warn_until_they_leave_the_window(probe, frames):
    since = time.monotonic()
    bad = bgr_to_image(frames[0], probe._header())
    bad.step = 7  # shorter than a row: no camera encoding can read it
    for _ in range(3):
        probe.pub.publish(bad)
        spin_until(probe.node, lambda: False, 0.05)
    probe.send(frames[1])
    st = probe.wait_status(DiagnosticStatus.WARN, since, "bad frames rejected")
    assert int(_values(st)["frames_rejected_bad"]) >= 1
    since = time.monotonic()
    probe.keep_sending(frames, WINDOW + 1.0)
    probe.wait_status(DiagnosticStatus.OK, since, "tracking")


def test_thresholds_are_parameters_changed_at_run_time(probe, frames):
    client = probe.node.create_client(SetParameters, f"{NS}/mot_node/set_parameters")
    assert client.wait_for_service(timeout_sec=10.0)

    def set_warn(value: float) -> None:
        req = SetParameters.Request(
            parameters=[Parameter("diagnostics.warn_latency_ms", value=value).to_parameter_msg()]
        )
        future = client.call_async(req)
        assert spin_until(probe.node, future.done, 10.0)
        assert future.result().results[0].successful, future.result().results[0].reason

    set_warn(1.0)  # every real frame takes longer than 1 ms
    since = time.monotonic()
    probe.keep_sending(frames, 1.0)
    probe.wait_status(DiagnosticStatus.WARN, since, "(> 1 ms)")
    set_warn(600.0)
    since = time.monotonic()
    probe.keep_sending(frames, 0.5)
    probe.wait_status(DiagnosticStatus.OK, since, "tracking")
    probe.node.destroy_client(client)


def test_the_summary_is_logged_at_shutdown(node_proc, probe):
    assert node_proc.stop() == 0
    out = node_proc.output()
    line = next(line for line in out.splitlines() if "summary:" in line)
    assert "frames received" in line and "dropped busy" in line and "latency" in line
    assert "detect" in line and "track" in line
