"""The ROS 2 adapter: image in -> detector -> tracker -> tracks + annotated image out.

Topics (relative, so ``-r`` remapping and namespaces apply):

- ``image`` (sensor_msgs/Image, subscribed): every common camera encoding
  (:data:`mot_ros.ros.conversions.SUPPORTED_ENCODINGS`).
- ``image/compressed`` (sensor_msgs/CompressedImage, jpeg or png; subscribed instead of
  ``image`` when ``image_transport`` is ``compressed``, following the image_transport naming).
- ``detections`` (vision_msgs/Detection2DArray, subscribed when ``input: detections``).
- ``camera_info`` (sensor_msgs/CameraInfo, subscribed when ``input: detections``): the image
  size for clipping boxes when no images arrive (else the ``image_width``/``image_height``
  parameters).
- ``tracks`` (vision_msgs/Detection2DArray): one Detection2D per confirmed track.
- ``annotated_image`` (sensor_msgs/Image): the input with boxes, ids, classes, scores, rate.
- ``label_info`` (vision_msgs/LabelInfo, transient local): the detector's class map.
- ``/diagnostics`` (diagnostic_msgs/DiagnosticArray): input and processed rates, frames
  dropped busy and rejected, stamp-to-publish latency, per-stage times, tracks, bad inputs
  and callback errors; OK / WARN / ERROR over a recent window (:mod:`mot_ros.pipeline.stats`).

Images go through a :class:`~mot_ros.pipeline.worker.FramePipeline`: the callback only
converts and hands the frame over (newest frame only); a detector thread and a tracker
thread do the work, overlapped, so both cores are used and a slow moment costs frames, not
latency. The summary of the run is logged when the node is destroyed.

Two nodes share all of this through :class:`MotLogic`: :class:`MotNode` (plain; starts
working in its constructor) and :class:`MotLifecycleNode` (``rclpy.lifecycle``: configure
loads the model, activate subscribes and publishes, deactivate stops, cleanup frees the
model). Every callback is guarded (:mod:`mot_ros.ros.guards`): bad input is dropped with a
throttled warning, an unexpected error is logged once with its traceback and counted, and
the node keeps running.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from mot_ros.detection.config import ModelLoadError
from mot_ros.detection.factory import create_detector
from mot_ros.drawing import draw_tracks
from mot_ros.pipeline.scheduling import DetectionScheduler
from mot_ros.pipeline.stats import (
    LEVEL_NAMES,
    OK,
    WARN,
    FrameRecord,
    PipelineStats,
    format_summary,
    health,
    plausible_latency_ms,
)
from mot_ros.pipeline.worker import FramePipeline
from mot_ros.ros.conversions import (
    ImageConversionError,
    bgr_to_image,
    compressed_to_bgr,
    detection_array_to_detections,
    image_to_bgr,
    make_label_info,
    tracks_to_detection_array,
)
from mot_ros.ros.guards import CallbackErrors, RecentEvents, guarded
from mot_ros.ros.parameters import PARAMETERS, MotConfig, ParamSpec, build_config
from mot_ros.ros.stream import StreamWatch, stamp_ns
from mot_ros.tracking.tracker import MultiObjectTracker
from mot_ros.types import Detections

RELIABILITY = {
    "best_effort": ReliabilityPolicy.BEST_EFFORT,
    "reliable": ReliabilityPolicy.RELIABLE,
}

_ARRAY_TYPES = {str: Parameter.Type.STRING_ARRAY, float: Parameter.Type.DOUBLE_ARRAY}

# Bad inputs and callback errors are reported in /diagnostics over the last this many
# diagnostics periods (10 s by default): a level goes back to OK once the cause is gone.
_DIAGNOSTICS_WINDOW_PERIODS = 10


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


def _failed_parameters(exc: BaseException) -> SetParametersResult:
    return SetParametersResult(successful=False, reason=f"internal error: {exc!r}")


class MotLogic:
    """Everything the plain and the lifecycle node do, on top of an rclpy ``Node``.

    The steps are separate so that the lifecycle node can run them on its transitions:
    :meth:`_mot_declare` (parameters, once), :meth:`_mot_load` (config, detector,
    tracker), :meth:`_mot_open` (publishers, subscriptions, timer), :meth:`_mot_close`
    and :meth:`_mot_unload`. The plain node runs the first three in its constructor.
    """

    detector = None
    tracker: MultiObjectTracker | None = None
    pipeline: FramePipeline | None = None
    stats: PipelineStats | None = None

    # --- set-up and tear-down ---------------------------------------------------------
    def _mot_declare(self) -> None:
        values = {}
        for p in PARAMETERS:
            # arrays are declared by type: ROS cannot infer one from an empty default
            default = _ARRAY_TYPES[p.array_of] if p.array_of else p.default
            values[p.name] = self.declare_parameter(p.name, default, _descriptor(p)).value
        self._param_values = values
        window = _DIAGNOSTICS_WINDOW_PERIODS * float(values["diagnostics_period_sec"])
        self.callback_errors = CallbackErrors(self.get_logger().error, window)
        self.config: MotConfig | None = None
        self._entities: list = []
        self.tracks_pub = self.annotated_pub = self.label_pub = self.diag_pub = None
        self._latest_image = None
        self._reset_statistics()
        self.add_on_set_parameters_callback(self._on_set_parameters)

    def _reset_statistics(self) -> None:
        self.frames_received = 0
        self.frames_dropped_bad = 0
        self.detections_rejected = 0
        self.stream_resets = 0
        window = _DIAGNOSTICS_WINDOW_PERIODS * float(self._param_values["diagnostics_period_sec"])
        self.bad_inputs = RecentEvents(window)
        self.stats = PipelineStats(float(self._param_values["diagnostics.window_sec"]))
        self._rate_hz: float | None = None
        self._image_stream = StreamWatch("image")
        self._detection_stream = StreamWatch("detections")
        self._cap_counts = (0, 0)

    def _mot_load(self) -> None:
        """Validate the parameters and load the model; raises ValueError or ModelLoadError."""
        self.config = build_config(self._param_values)
        cfg = self.config
        if cfg.node.input == "image":
            # The class filter is applied by the node (it can change at run time).
            self.detector = create_detector(dataclasses.replace(cfg.detector, classes=()))
        self.tracker = MultiObjectTracker(cfg.tracker)

    def _mot_unload(self) -> None:
        self.detector = None
        self.tracker = None
        self.config = None
        self._latest_image = None

    def _mot_open(self) -> None:
        cfg = self.config
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
        entities = [self.tracks_pub, self.label_pub, self.diag_pub]
        if self.annotated_pub is not None:
            entities.append(self.annotated_pub)
        if cfg.node.image_transport == "compressed":
            # image_transport's convention: the compressed stream of base topic T is
            # T/compressed, where T is already resolved (remapped, namespaced).
            topic = self.resolve_topic_name("image") + "/compressed"
            entities.append(
                self.create_subscription(CompressedImage, topic, self._on_compressed, qos_in)
            )
        else:
            entities.append(self.create_subscription(Image, "image", self._on_image, qos_in))
        # tracking-only mode: image size from camera_info, else the parameters, else unknown
        self._image_size = (
            (cfg.node.image_width, cfg.node.image_height) if cfg.node.image_width else None
        )
        if cfg.node.input == "detections":
            entities.append(
                self.create_subscription(Detection2DArray, "detections", self._on_detections, 10)
            )
            entities.append(
                self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos_in)
            )
        entities.append(
            self.create_timer(cfg.node.diagnostics_period_sec, self._publish_diagnostics)
        )
        self._entities = entities
        if self.detector is not None:
            self._publish_label_info()
            self.pipeline = FramePipeline(
                self._detect,
                self.tracker,
                self._publish_tracks,
                scheduler=DetectionScheduler(*self._intervals(cfg)),
                stats=self.stats,
                draw=self._publish_annotated,
                wants_drawing=self._wants_annotated,
                clock_ns=lambda: self.get_clock().now().nanoseconds,
                on_error=self._warn,
                overlap=cfg.node.overlap_detection,
            )
            self.pipeline.start()
        self.get_logger().info(
            f"ready: input={cfg.node.input}, preset={cfg.detector.preset or 'none'}, "
            f"model={getattr(self.detector, 'model_path', None) or cfg.detector.model_path}, "
            f"detection_interval={cfg.node.detection_interval}, "
            f"reliability={cfg.node.reliability}, image_transport={cfg.node.image_transport}"
        )

    def _mot_close(self) -> None:
        if self.pipeline is not None:  # its threads publish: stop them first
            self.pipeline.stop()
            self.pipeline = None
        for entity in self._entities:
            if hasattr(entity, "cancel"):  # a timer
                entity.cancel()
                self.destroy_timer(entity)
            elif hasattr(entity, "publish"):
                self.destroy_publisher(entity)
            else:
                self.destroy_subscription(entity)
        self._entities = []
        self.tracks_pub = self.annotated_pub = self.label_pub = self.diag_pub = None

    # --- parameters -------------------------------------------------------------------
    @guarded("parameter callback", fallback=_failed_parameters)
    def _on_set_parameters(self, params) -> SetParametersResult:
        values = dict(self._param_values)
        for p in params:
            if p.name in values:
                values[p.name] = p.value
            elif not p.name or not self.has_parameter(p.name):
                # rclpy lets an empty name through its undeclared-parameter check
                return SetParametersResult(
                    successful=False, reason=f"unknown parameter name '{p.name}'"
                )
            # else: a parameter rclpy declared itself (use_sim_time, ...)
        try:
            config = build_config(values)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._param_values = values
        if self.config is None:  # lifecycle node before configure: read there
            return SetParametersResult(successful=True)
        self.config = config
        if self.stats is not None:
            self.stats.window_sec = config.diagnostics.window_sec
        if self.pipeline is not None:
            self.pipeline.scheduler.configure(*self._intervals(config))
        if self.tracker is not None:
            self.tracker.config = config.tracker  # from the next frame on
        if self.detector is not None and self.detector.threshold != (
            config.detector.confidence_threshold
        ):
            self.detector.threshold = config.detector.confidence_threshold
            if self.label_pub is not None:
                self._publish_label_info()  # latched: late subscribers see the new threshold
        return SetParametersResult(successful=True)

    # --- callbacks --------------------------------------------------------------------
    def _warn(self, text: str) -> None:
        self.get_logger().warning(text, throttle_duration_sec=self.config.node.warn_throttle_sec)

    @staticmethod
    def _intervals(cfg: MotConfig) -> tuple[int, int]:
        base = cfg.node.detection_interval
        return base, max(base, cfg.node.max_detection_interval)

    def _bad_input(self, what: str, header, exc: Exception) -> None:
        self.frames_dropped_bad += 1
        self.bad_inputs.add()
        self.stats.received()  # good frames are counted by the pipeline
        self.stats.rejected()
        self._warn(f"dropping {what} (frame_id '{header.frame_id}'): {exc}")

    @guarded("image callback")
    def _on_image(self, msg: Image) -> None:
        self.frames_received += 1
        start = time.monotonic()
        try:
            frame = image_to_bgr(msg)
        except ImageConversionError as exc:
            self._bad_input("image", msg.header, exc)
            return
        self._on_frame(msg, frame, start)

    @guarded("compressed image callback")
    def _on_compressed(self, msg: CompressedImage) -> None:
        self.frames_received += 1
        start = time.monotonic()
        try:
            frame = compressed_to_bgr(msg)
        except ImageConversionError as exc:
            self._bad_input("compressed image", msg.header, exc)
            return
        self._on_frame(msg, frame, start)

    def _on_frame(self, msg, frame: np.ndarray, start: float) -> None:
        size = (int(frame.shape[1]), int(frame.shape[0]))
        self._check_stream(self._image_stream, size, msg.header)
        if self.pipeline is None:  # tracking-only mode: keep the image for dlib
            self._latest_image = (msg.header.stamp, frame)
            return
        convert_ms = (time.monotonic() - start) * 1000.0
        stamp = stamp_ns(msg.header.stamp)
        self.pipeline.submit(frame, msg.header, stamp or None, start, convert_ms)

    def _detect(self, frame: np.ndarray) -> Detections:
        """The detector thread's work: detect, then the run-time class filter."""
        return self._filter_classes(self.detector.detect(frame))

    @guarded("camera_info callback")
    def _on_camera_info(self, msg: CameraInfo) -> None:
        if msg.width > 0 and msg.height > 0:
            self._image_size = (int(msg.width), int(msg.height))

    @guarded("detections callback")
    def _on_detections(self, msg: Detection2DArray) -> None:
        start = time.monotonic()
        self.stats.received(start)
        detections, rejected = detection_array_to_detections(msg)
        if rejected:
            self.detections_rejected += len(rejected)
            self.bad_inputs.add()
            self._warn(
                f"dropped {len(rejected)} of {len(msg.detections)} detections "
                f"(stamp {msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}): {rejected[0]}"
            )
        self._check_stream(self._detection_stream, None, msg.header)
        frame = None
        if self._latest_image is not None and self._latest_image[0] == msg.header.stamp:
            frame = self._latest_image[1]
        t0 = time.perf_counter()
        tracks = self.tracker.update(
            frame,
            self._filter_classes(detections),
            image_size=self._image_size,
            stamp=_seconds(msg.header.stamp),
        )
        t1 = time.perf_counter()
        self._publish_tracks(msg.header, tracks)
        t2 = time.perf_counter()
        stages = {"track": (t1 - t0) * 1000.0, "publish": (t2 - t1) * 1000.0}
        if frame is not None and self._wants_annotated():
            self._publish_annotated(msg.header, frame, tracks)
            stages["draw"] = (time.perf_counter() - t2) * 1000.0
        now = self.get_clock().now().nanoseconds
        latency = plausible_latency_ms(stamp_ns(msg.header.stamp), now)
        self.stats.processed(
            FrameRecord(
                latency_ms=latency,
                node_ms=(time.monotonic() - start) * 1000.0,
                detected=True,
                tracks=len(tracks),
                stages=stages,
            )
        )

    def _filter_classes(self, detections: Detections) -> Detections:
        allowed = self.config.detector.classes
        if not allowed or not len(detections):
            return detections
        return detections.select([n in allowed for n in detections.class_names])

    def _check_stream(self, watch: StreamWatch, size, header) -> None:
        reason = watch.check(size, header.frame_id, stamp_ns(header.stamp))
        if reason is None:
            return
        self.stream_resets += 1
        self._latest_image = None
        if self.pipeline is not None:  # the tracker thread owns the tracker
            self.pipeline.request_reset(lambda: self._reset_tracker(reason))
        else:
            self._reset_tracker(reason)

    def _reset_tracker(self, reason: str) -> None:
        self.tracker.reset(keep_ids=True)
        self.get_logger().info(
            f"{reason}: tracks reset, new ids start at {self.tracker.tracks_confirmed + 1}"
        )

    def _after_update(self) -> None:
        """Warn (throttled) when the tracker's caps dropped work on this frame."""
        counts = (self.tracker.detections_over_cap, self.tracker.tracks_over_cap)
        if counts != self._cap_counts:
            cfg = self.config.tracker
            self._warn(
                f"caps reached: {counts[0]} detections beyond max_detections={cfg.max_detections}"
                f" and {counts[1]} new tracks beyond max_tracks={cfg.max_tracks} dropped so far"
                " (lowest scores first)"
            )
            self._cap_counts = counts

    # --- outputs (from the pipeline's tracker thread, or the detections callback) -------
    def _publish_tracks(self, header, tracks) -> None:
        self._after_update()
        # the tracker ran anyway (ids stay continuous); the message only when someone listens
        if self.tracks_pub is not None and self.tracks_pub.get_subscription_count() > 0:
            self.tracks_pub.publish(tracks_to_detection_array(tracks, header))

    def _wants_annotated(self) -> bool:
        pub = self.annotated_pub
        return pub is not None and pub.get_subscription_count() > 0

    def _publish_annotated(self, header, frame: np.ndarray, tracks) -> None:
        drawn = draw_tracks(frame, tracks, self.config.drawing, self._rate_hz)
        self.annotated_pub.publish(bgr_to_image(drawn, header))

    def _publish_label_info(self) -> None:
        self.label_pub.publish(
            make_label_info(
                self.detector.class_names,
                self.detector.threshold,
                self._stamp_header(),
                getattr(self.detector, "class_ids", None),
            )
        )

    # --- diagnostics ------------------------------------------------------------------
    def _stamp_header(self):
        h = Header()
        h.stamp = self.get_clock().now().to_msg()
        return h

    def _health(self):
        snap = self.stats.snapshot()
        level, message = health(snap, self.config.diagnostics) if self.config else (OK, "")
        if message.startswith("no images") and self.config.node.input == "detections":
            message = message.replace("images", "detections", 1)
        extra = []
        errors = self.callback_errors.events.recent()
        if errors:
            extra.append(f"{errors} callback errors in the last window")
        bad = self.bad_inputs.recent()
        if bad and not snap.window["rejected_bad"]:  # e.g. detections with invalid boxes
            extra.append(f"{bad} bad inputs dropped in the last window")
        if extra:
            level = max(level, WARN)
            message = "; ".join(([] if message == "tracking" else [message]) + extra)
        return snap, level, message

    def statistics(self) -> dict[str, str]:
        """Everything /diagnostics reports, as strings."""
        snap, level, message = self._health()
        self._rate_hz = snap.processed_rate_hz if snap.processed_rate_hz > 0 else None
        stats = dict(snap.key_values())
        stats.update(
            {
                "level": LEVEL_NAMES[level],
                "message": message,
                "frames_dropped_bad_input": str(self.frames_dropped_bad),
                "bad_inputs_recent": str(self.bad_inputs.recent()),
                "detections_rejected": str(self.detections_rejected),
                "callback_errors": str(self.callback_errors.events.total),
                "callback_errors_recent": str(self.callback_errors.events.recent()),
                "stream_resets": str(self.stream_resets),
                "recent_window_sec": f"{self.bad_inputs.window_sec:g}",
            }
        )
        tracker = self.tracker
        if tracker is not None:
            stats.update(
                {
                    # ids handed out (confirmed tracks); candidates include one-off false positives
                    "tracks_started": str(tracker.tracks_confirmed),
                    "track_candidates": str(tracker.tracks_started),
                    "live_tracks": str(len(tracker.tracks)),
                    "detections_over_cap": str(tracker.detections_over_cap),
                    "tracks_over_cap": str(tracker.tracks_over_cap),
                }
            )
        if self.detector is not None:
            stats["detector_backend"] = type(self.detector).__name__
            stats["detector_threads"] = str(self.config.detector.num_threads)
        if self.pipeline is not None:
            stats["detect_every"] = str(self.pipeline.scheduler.interval)
            stats["overlap_detection"] = str(self.pipeline.overlap).lower()
        return stats

    def diagnostic_level(self) -> tuple[int, str]:
        """OK / WARN / ERROR over the recent window, and why."""
        _, level, message = self._health()
        return level, message

    def shutdown_summary(self) -> str:
        snap, level, message = self._health()
        return format_summary(snap, level, message)

    def destroy_node(self) -> None:
        # runs for a node whose start-up failed too (rclpy destroys every node it made)
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None
        if self.stats is not None and self.config is not None:
            try:
                self.get_logger().info(f"summary: {self.shutdown_summary()}")
            except Exception:  # noqa: BLE001 - a summary must not turn a stop into a crash
                pass
        self.stats = None
        super().destroy_node()

    @guarded("diagnostics timer")
    def _publish_diagnostics(self) -> None:
        if self.diag_pub is None:
            return
        arr = DiagnosticArray()
        arr.header = self._stamp_header()
        st = DiagnosticStatus()
        st.name = f"{self.get_fully_qualified_name()}: tracking"
        st.hardware_id = "mot_ros"
        values = self.statistics()
        st.level = _LEVEL_MSG[values["level"]]
        st.message = values["message"]
        st.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        arr.status.append(st)
        self.diag_pub.publish(arr)


class MotNode(MotLogic, Node):
    """Detects and tracks objects in ``image`` and publishes ``tracks``; works from the start.

    Raises ``ValueError`` (bad parameters) or ``ModelLoadError`` from the constructor.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("mot_node", **kwargs)
        self._mot_declare()
        self._mot_load()
        self._mot_open()


class MotLifecycleNode(MotLogic, LifecycleNode):
    """The same node as a managed (lifecycle) node.

    configure: validate parameters and load the model (a failure leaves the node
    unconfigured, with the reason logged); activate: subscribe and publish; deactivate:
    stop both; cleanup: free the model; shutdown: all of it, from any state.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("mot_node", **kwargs)
        self._mot_declare()
        self.get_logger().info("unconfigured: waiting for the configure transition")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._mot_load()
        except (ModelLoadError, ValueError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self._mot_unload()
            return TransitionCallbackReturn.FAILURE
        self._reset_statistics()
        self.get_logger().info("configured")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._mot_open()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._mot_close()
        self.get_logger().info("inactive")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._mot_unload()
        self.get_logger().info("cleaned up")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._mot_close()
        self._mot_unload()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._mot_close()
        self._mot_unload()
        return TransitionCallbackReturn.SUCCESS


_LEVEL_MSG = {
    "OK": DiagnosticStatus.OK,
    "WARN": DiagnosticStatus.WARN,
    "ERROR": DiagnosticStatus.ERROR,
}


def _seconds(stamp) -> float | None:
    """A header stamp in seconds; None for the zero stamp (no clock), which would freeze
    time-based track ages."""
    if stamp.sec == 0 and stamp.nanosec == 0:
        return None
    return stamp.sec + stamp.nanosec * 1e-9


def _sigterm_as_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _run(node_class, args: list[str] | None) -> int:
    rclpy.init(args=args)
    # SIGTERM (launch, systemd, docker stop) ends the node like Ctrl-C: cleanly, exit 0.
    signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        node = node_class()
    except (ModelLoadError, ValueError) as exc:
        # a configuration problem: one clear line, a non-zero exit, no stack trace
        print(f"[mot_node] error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    except KeyboardInterrupt:
        rclpy.try_shutdown()
        return 0
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # SIGINT/SIGTERM shut the context down while the executor was taking a message
        # (rclpy then raises from its bindings): a normal stop
    finally:
        try:
            node.destroy_node()
        except Exception:  # noqa: BLE001 - a half-shut context must not turn a stop into a crash
            pass
        rclpy.try_shutdown()
    return 0


def main(args: list[str] | None = None) -> int:
    return _run(MotNode, args)


def lifecycle_main(args: list[str] | None = None) -> int:
    return _run(MotLifecycleNode, args)


if __name__ == "__main__":
    sys.exit(main())
