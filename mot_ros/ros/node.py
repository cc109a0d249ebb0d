"""The ROS 2 adapter: image in -> detector -> tracker -> tracks + annotated image out.

Topics (relative, so ``-r`` remapping and namespaces apply):

- ``image`` (sensor_msgs/Image, subscribed): bgr8, rgb8, mono8 (and bgra8, rgba8).
- ``detections`` (vision_msgs/Detection2DArray, subscribed when ``input: detections``).
- ``tracks`` (vision_msgs/Detection2DArray): one Detection2D per confirmed track.
- ``annotated_image`` (sensor_msgs/Image): the input with boxes, ids, classes, scores, rate.
- ``label_info`` (vision_msgs/LabelInfo, transient local): the detector's class map.
- ``/diagnostics`` (diagnostic_msgs/DiagnosticArray): frames, rate, processing time, tracks.

The image callback is short and guarded: a frame that cannot be converted is dropped with
a throttled warning, and the node keeps running.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import deque

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from mot_ros.detection.config import ModelLoadError
from mot_ros.detection.factory import create_detector
from mot_ros.drawing import draw_tracks
from mot_ros.ros.conversions import (
    ImageConversionError,
    bgr_to_image,
    detection_array_to_detections,
    image_to_bgr,
    make_label_info,
    tracks_to_detection_array,
)
from mot_ros.ros.parameters import PARAMETERS, MotConfig, ParamSpec, build_config
from mot_ros.tracking.tracker import MultiObjectTracker

RELIABILITY = {
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
    "reliable": ReliabilityPolicy.RELIABLE,
}


_ARRAY_TYPES = {str: Parameter.Type.STRING_ARRAY, float: Parameter.Type.DOUBLE_ARRAY}


def _descriptor(p: ParamSpec) -> ParameterDescriptor:
    d = ParameterDescriptor(description=p.description, read_only=p.read_only)
    if p.choices:
        d.additional_constraints = "must be one of: " + ", ".join(p.choices)
    if p.min is not None and not isinstance(p.default, bool):
        if isinstance(p.default, int):
            d.integer_range = [IntegerRange(from_value=int(p.min), to_value=int(p.max), step=0)]
        elif isinstance(p.default, float):
            d.floating_point_range = [
                FloatingPointRange(from_value=float(p.min), to_value=float(p.max), step=0.0)
            ]
    return d


class MotNode(Node):
    """Detects and tracks objects in ``image`` and publishes ``tracks``."""

    def __init__(self, **kwargs) -> None:
        super().__init__("mot_node", **kwargs)
        self.config: MotConfig = self._declare_and_read_parameters()
        cfg = self.config
        self.detector = create_detector(cfg.detector) if cfg.node.input == "image" else None
        self.tracker = MultiObjectTracker(cfg.tracker)

        qos_in = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=cfg.node.queue_depth,
            reliability=RELIABILITY[cfg.node.reliability],
        )
        self.tracks_pub = self.create_publisher(Detection2DArray, "tracks", 10)
        self.annotated_pub = (
            self.create_publisher(Image, "annotated_image", QoSProfile(depth=1))
            if cfg.node.publish_annotated
            else None
        )
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.label_pub = self.create_publisher(LabelInfo, "label_info", latched)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)

        self.image_sub = self.create_subscription(Image, "image", self._on_image, qos_in)
        self.detections_sub = None
        self._latest_image = None
        if cfg.node.input == "detections":
            self.detections_sub = self.create_subscription(
                Detection2DArray, "detections", self._on_detections, 10
            )

        # statistics for /diagnostics and the drawn rate
        self.frames_received = 0
        self.frames_processed = 0
        self.frames_dropped_bad = 0
        self._proc_ms: deque[float] = deque(maxlen=300)
        self._rate_hz: float | None = None
        self._last_done: float | None = None
        self.create_timer(cfg.node.diagnostics_period_sec, self._publish_diagnostics)

        if self.detector is not None:
            self._publish_label_info()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(
            f"ready: input={cfg.node.input}, model={cfg.detector.model_path or '(default)'}, "
            f"detection_interval={cfg.node.detection_interval}, "
            f"reliability={cfg.node.reliability}"
        )

    # --- parameters -------------------------------------------------------------------
    def _declare_and_read_parameters(self) -> MotConfig:
        values = {}
        for p in PARAMETERS:
            # arrays are declared by type: ROS cannot infer one from an empty default
            default = _ARRAY_TYPES[p.array_of] if p.array_of else p.default
            values[p.name] = self.declare_parameter(p.name, default, _descriptor(p)).value
        self._param_values = values
        return build_config(values)

    def _on_set_parameters(self, params):
        values = dict(self._param_values)
        values.update({p.name: p.value for p in params if p.name in values})
        try:
            config = build_config(values)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._param_values = values
        self.config = config
        if self.detector is not None and self.detector.threshold != (
            config.detector.confidence_threshold
        ):
            self.detector.threshold = config.detector.confidence_threshold
            self._publish_label_info()  # latched: late subscribers see the new threshold
        return SetParametersResult(successful=True)

    # --- callbacks --------------------------------------------------------------------
    def _warn(self, text: str) -> None:
        self.get_logger().warning(text, throttle_duration_sec=self.config.node.warn_throttle_sec)

    def _on_image(self, msg: Image) -> None:
        self.frames_received += 1
        start = time.perf_counter()
        try:
            frame = image_to_bgr(msg)
        except ImageConversionError as exc:
            self.frames_dropped_bad += 1
            self._warn(f"dropping image (frame_id '{msg.header.frame_id}'): {exc}")
            return
        if self.detector is None:  # tracking-only mode: keep the image for dlib
            self._latest_image = (msg.header.stamp, frame)
            return
        run_detector = self.frames_processed % self.config.node.detection_interval == 0
        detections = self.detector.detect(frame) if run_detector else None
        tracks = self.tracker.update(frame, detections)
        self._publish(msg, frame, tracks, start)

    def _on_detections(self, msg: Detection2DArray) -> None:
        start = time.perf_counter()
        try:
            detections = detection_array_to_detections(msg)
        except ValueError as exc:
            self._warn(f"dropping detections (stamp {msg.header.stamp.sec}): {exc}")
            return
        frame = None
        if self._latest_image is not None and self._latest_image[0] == msg.header.stamp:
            frame = self._latest_image[1]
        tracks = self.tracker.update(frame, detections)
        self._publish(msg, frame, tracks, start)

    def _publish(self, msg, frame, tracks, start: float) -> None:
        self.tracks_pub.publish(tracks_to_detection_array(tracks, msg.header))
        if (
            frame is not None
            and self.annotated_pub is not None
            and self.annotated_pub.get_subscription_count() > 0
        ):
            drawn = draw_tracks(frame, tracks, self.config.drawing, self._rate_hz)
            self.annotated_pub.publish(bgr_to_image(drawn, msg.header))
        now = time.perf_counter()
        self.frames_processed += 1
        self._proc_ms.append((now - start) * 1000.0)
        if self._last_done is not None:
            inst = 1.0 / max(now - self._last_done, 1e-6)
            self._rate_hz = inst if self._rate_hz is None else 0.9 * self._rate_hz + 0.1 * inst
        self._last_done = now

    def _publish_label_info(self) -> None:
        self.label_pub.publish(
            make_label_info(
                self.detector.class_names, self.detector.threshold, self._stamp_header()
            )
        )

    # --- diagnostics ------------------------------------------------------------------
    def _stamp_header(self):
        h = Header()
        h.stamp = self.get_clock().now().to_msg()
        return h

    def statistics(self) -> dict[str, str]:
        ms = list(self._proc_ms)
        return {
            "frames_received": str(self.frames_received),
            "frames_processed": str(self.frames_processed),
            "frames_dropped_bad_input": str(self.frames_dropped_bad),
            "processing_ms_median": f"{statistics.median(ms):.2f}" if ms else "nan",
            "processing_ms_mean": f"{statistics.fmean(ms):.2f}" if ms else "nan",
            "rate_hz": f"{self._rate_hz:.2f}" if self._rate_hz else "0",
            # ids handed out (confirmed tracks); candidates include one-off false positives
            "tracks_started": str(self.tracker.tracks_confirmed),
            "track_candidates": str(self.tracker.tracks_started),
            "live_tracks": str(len(self.tracker.tracks)),
        }

    def _publish_diagnostics(self) -> None:
        arr = DiagnosticArray()
        arr.header = self._stamp_header()
        st = DiagnosticStatus()
        st.name = f"{self.get_fully_qualified_name()}: tracking"
        st.hardware_id = "mot_ros"
        stale = self.frames_received == 0
        st.level = (
            DiagnosticStatus.WARN if stale or self.frames_dropped_bad else DiagnosticStatus.OK
        )
        st.message = "no images received yet" if stale else "tracking"
        st.values = [KeyValue(key=k, value=v) for k, v in self.statistics().items()]
        arr.status.append(st)
        self.diag_pub.publish(arr)


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    try:
        node = MotNode()
    except (ModelLoadError, ValueError) as exc:
        # a configuration problem: one clear line, a non-zero exit, no stack trace
        print(f"[mot_node] error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # SIGINT/SIGTERM shut the context down while a callback was publishing: a normal stop
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
