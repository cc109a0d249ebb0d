"""Every node parameter, declared once: name, default, description, range.

The table is plain Python so tests can compare it with ``config/mot.yaml`` without a ROS
graph, and the node turns each row into a ``declare_parameter`` call with a descriptor.
Defaults of the detector, tracker and drawing parameters are read from their config
dataclasses, so a default is written in exactly one place.

After declaration the values are read into one frozen :class:`MotConfig`; building it runs
every config's validation, so a bad value stops the node at start-up with a message naming
the parameter instead of failing on the first frame.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mot_ros.detection.config import BACKENDS, MODEL_FORMATS, DetectorConfig
from mot_ros.detection.presets import PRESET_CHOICES
from mot_ros.drawing import DrawingConfig
from mot_ros.pipeline.stats import HealthThresholds
from mot_ros.tracking.tracker import TrackerConfig


@dataclass(frozen=True)
class NodeOptions:
    """How the node uses the graph, as opposed to what the core computes.

    ``reliability`` of the image subscription: ``best_effort`` (sensor-data QoS, what
    camera drivers publish and what never stalls the camera) or ``reliable`` (needed for a
    publisher that only offers reliable, e.g. some bag players). The subscription keeps
    only the newest ``queue_depth`` frames, so a node slower than the camera drops frames
    instead of lagging behind.
    ``detection_interval``: run the detector on every N-th processed frame and let the
    correlation trackers carry the tracks in between (cheaper, but new objects appear up
    to N-1 frames later and boxes drift a little more).
    ``max_detection_interval``: while the detector cannot keep up with the camera, the node
    runs it only on every k-th frame, k up to this, and answers the frames in between from
    the tracker's motion model instead of answering late (values <= ``detection_interval``
    turn the adaptation off).
    ``overlap_detection``: detect frame N+1 on one thread while another tracks and
    publishes frame N (uses both cores); off, one worker thread does both in turn.
    ``input`` selects what drives the tracker: ``image`` (the detector runs in this node)
    or ``detections`` (tracking-only mode: detections come from another node on the
    ``detections`` topic and, if images also arrive, dlib uses them to bridge misses).
    ``image_width`` x ``image_height``: the camera's image size for tracking-only mode, used
    to clip published boxes and remove tracks that left the frame when neither images nor
    ``camera_info`` arrive (0 x 0: unknown, boxes are not clipped). Images, then
    ``camera_info``, take precedence.
    """

    reliability: str = "best_effort"
    image_transport: str = "raw"
    queue_depth: int = 1
    detection_interval: int = 1
    max_detection_interval: int = 3
    overlap_detection: bool = True
    input: str = "image"
    publish_annotated: bool = True
    warn_throttle_sec: float = 5.0
    diagnostics_period_sec: float = 1.0
    image_width: int = 0
    image_height: int = 0

    def __post_init__(self) -> None:
        if self.reliability not in RELIABILITY_CHOICES:
            raise ValueError(
                f"reliability must be one of {RELIABILITY_CHOICES}, but got '{self.reliability}'"
            )
        if self.image_transport not in TRANSPORT_CHOICES:
            raise ValueError(
                f"image_transport must be one of {TRANSPORT_CHOICES}, "
                f"but got '{self.image_transport}'"
            )
        if self.input not in INPUT_CHOICES:
            raise ValueError(f"input must be one of {INPUT_CHOICES}, but got '{self.input}'")
        if not 1 <= self.queue_depth <= 100:
            raise ValueError(f"queue_depth must be in [1, 100], but got {self.queue_depth}")
        for name in ("image_width", "image_height"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ValueError(f"{name} must be in [0, 65535], but got {getattr(self, name)}")
        if (self.image_width == 0) != (self.image_height == 0):
            raise ValueError(
                f"image_width and image_height must both be 0 (unknown) or both > 0, but got "
                f"{self.image_width} x {self.image_height}"
            )
        if not 1 <= self.detection_interval <= 100:
            raise ValueError(
                f"detection_interval must be in [1, 100], but got {self.detection_interval}"
            )
        if not 1 <= self.max_detection_interval <= 100:
            raise ValueError(
                f"max_detection_interval must be in [1, 100], but got {self.max_detection_interval}"
            )


RELIABILITY_CHOICES = ("best_effort", "reliable")
INPUT_CHOICES = ("image", "detections")
TRANSPORT_CHOICES = ("raw", "compressed")


@dataclass(frozen=True)
class ParamSpec:
    """One ROS parameter: ``name`` is the full dotted name, ``target`` the config it fills."""

    name: str
    default: Any
    description: str
    target: str  # "detector", "tracker", "drawing" or "node"
    field: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False
    # ROS parameters cannot be None: a converter maps the ROS value to the config value
    # (e.g. 0.0 -> None for "the model format's default").
    convert: Callable[[Any], Any] | None = None
    # element type of an array parameter (ROS cannot infer it from an empty default)
    array_of: type | None = None


_TARGETS = {
    "detector": DetectorConfig,
    "tracker": TrackerConfig,
    "drawing": DrawingConfig,
    "diagnostics": HealthThresholds,
    "node": NodeOptions,
}


def _spec(
    name: str,
    description: str,
    *,
    min=None,
    max=None,
    choices=(),
    read_only=False,
    default=dataclasses.MISSING,
    convert=None,
    array_of=str,
) -> ParamSpec:
    target, _, field = name.partition(".")
    if target not in _TARGETS:  # top-level parameters belong to the node
        target, field = "node", name
    if default is dataclasses.MISSING:
        fields = {f.name: f for f in dataclasses.fields(_TARGETS[target])}
        f = fields[field]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if isinstance(default, tuple):
        default = list(default)
    return ParamSpec(
        name,
        default,
        description,
        target,
        field,
        min,
        max,
        tuple(choices),
        read_only,
        convert,
        array_of if isinstance(default, list) else None,
    )


def _zero_is_default(value: float) -> float | None:
    return None if value == 0.0 else value


def _mean(value: list[float]) -> float | tuple[float, ...] | None:
    if len(value) == 0:
        return None
    if len(value) == 1:
        return float(value[0])
    if len(value) == 3:
        return tuple(float(v) for v in value)
    raise ValueError(f"parameter 'detector.mean' must have 0, 1 or 3 values, got {list(value)}")


_SWAP_RB = {"auto": None, "true": True, "false": False}


PARAMETERS: tuple[ParamSpec, ...] = (
    # --- graph ---
    _spec(
        "reliability",
        "Image subscription reliability. best_effort matches camera drivers "
        "and never stalls them; reliable is for publishers that only offer reliable.",
        choices=RELIABILITY_CHOICES,
        read_only=True,
    ),
    _spec(
        "image_transport",
        "raw subscribes sensor_msgs/Image on 'image'; compressed subscribes "
        "sensor_msgs/CompressedImage (jpeg, png) on 'image/compressed' (image_transport "
        "naming). At 768x576, jpeg is ~11x smaller than raw and ~6 ms to decode, png ~2x "
        "and ~13 ms.",
        choices=TRANSPORT_CHOICES,
        read_only=True,
    ),
    _spec(
        "queue_depth",
        "Image subscription depth (keep-last). 1 always processes the newest "
        "frame and drops the rest when the node is slower than the camera.",
        min=1,
        max=100,
        read_only=True,
    ),
    _spec(
        "input",
        "What drives the tracker: 'image' runs the detector here; 'detections' "
        "tracks vision_msgs/Detection2DArray from an upstream detector.",
        choices=INPUT_CHOICES,
        read_only=True,
    ),
    _spec(
        "detection_interval",
        "Run the detector on every N-th frame; dlib carries tracks in "
        "between. Higher is cheaper; new objects appear up to N-1 frames later.",
        min=1,
        max=100,
    ),
    _spec(
        "max_detection_interval",
        "While the detector cannot keep up with the camera, run it only on every k-th "
        "frame (k up to this, chosen from its measured time) and answer the frames between "
        "from the motion model instead of late. Higher survives a slower detector or a busier "
        "CPU; boxes lag a little more between detections. <= detection_interval: off.",
        min=1,
        max=100,
    ),
    _spec(
        "overlap_detection",
        "Detect frame N+1 on one thread while another tracks and publishes frame N: uses both "
        "cores. Off: one worker thread does both in turn (for single-core machines).",
        read_only=True,
    ),
    _spec(
        "publish_annotated",
        "Publish annotated_image (drawing is skipped anyway while nobody subscribes).",
        read_only=True,
    ),
    _spec(
        "warn_throttle_sec",
        "Minimum seconds between repeated warnings about bad input.",
        min=0.0,
        max=3600.0,
    ),
    _spec(
        "diagnostics_period_sec",
        "Period of the /diagnostics status (rates, drops, latency, stage times, tracks).",
        min=0.1,
        max=60.0,
        read_only=True,
    ),
    _spec(
        "diagnostics.window_sec",
        "Seconds of recent frames the /diagnostics figures and level are computed over. "
        "Longer is steadier; shorter returns to OK sooner after a problem.",
        min=0.5,
        max=600.0,
    ),
    _spec(
        "diagnostics.warn_processed_ratio",
        "WARN when fewer than this share of the received frames were answered on tracks.",
        min=0.0,
        max=1.0,
    ),
    _spec(
        "diagnostics.error_processed_ratio",
        "ERROR when fewer than this share of the received frames were answered on tracks.",
        min=0.0,
        max=1.0,
    ),
    _spec(
        "diagnostics.warn_latency_ms",
        "WARN when the 95th percentile of image stamp to tracks published exceeds this (ms).",
        min=1.0,
        max=60000.0,
    ),
    _spec(
        "diagnostics.error_latency_ms",
        "ERROR when the 95th percentile of image stamp to tracks published exceeds this (ms).",
        min=1.0,
        max=60000.0,
    ),
    _spec(
        "image_width",
        "Tracking-only mode: image width in pixels when neither images nor camera_info "
        "arrive, to clip boxes and drop tracks that left the frame. 0: unknown.",
        min=0,
        max=65535,
        read_only=True,
    ),
    _spec(
        "image_height",
        "Tracking-only mode: image height in pixels (see image_width). 0: unknown.",
        min=0,
        max=65535,
        read_only=True,
    ),
    # --- detector (read-only: the model is loaded once at start-up) ---
    _spec(
        "detector.preset",
        "Named model set-up filling every detector setting left unset (format, model file, "
        "labels, preprocessing, thresholds): oidv4 (23 OpenImages classes, Apache-2.0), coco "
        "(80 COCO classes, licence not stated), person_ssdlite (person only, MIT), or none. "
        "Ignored when model_format names another format.",
        choices=PRESET_CHOICES,
        read_only=True,
        convert=lambda v: "" if v == "none" else v,
    ),
    _spec(
        "detector.model_format",
        "Model format: auto (the preset's), tf_ssd (TensorFlow Object Detection API SSD "
        "frozen graph), caffe_ssd (MobileNetSSD_deploy prototxt + caffemodel), onnx_ssd, "
        "tflite_ssd (TFLite SSD, raw outputs or built-in post-processing).",
        choices=("auto", *MODEL_FORMATS),
        read_only=True,
        default="auto",
        convert=lambda v: "" if v == "auto" else v,
    ),
    _spec(
        "detector.model_path",
        "Model weights file. Empty: the preset's model (fetched by make setup from its "
        "registry package).",
        read_only=True,
    ),
    _spec(
        "detector.config_path",
        "Network description: the Caffe prototxt; for tf_ssd an "
        "optional text graph (empty: generated from the model).",
        read_only=True,
    ),
    _spec(
        "detector.labels",
        "Class names in model order without background. Empty: the preset's label map, "
        "else the format's default (20 VOC classes for caffe_ssd).",
        read_only=True,
    ),
    _spec(
        "detector.labels_file",
        "File with one class name per line (instead of labels).",
        read_only=True,
    ),
    _spec(
        "detector.input_width",
        "Network input width in pixels. Larger finds smaller "
        "(far) people at a higher cost per frame.",
        min=32,
        max=4096,
        read_only=True,
    ),
    _spec(
        "detector.input_height", "Network input height in pixels.", min=32, max=4096, read_only=True
    ),
    _spec(
        "detector.scale",
        "Pixel scale factor of the preprocessing; 0 uses the format's "
        "default (1/127.5 for tf_ssd, 0.007843 for caffe_ssd).",
        min=0.0,
        max=1000.0,
        read_only=True,
        default=0.0,
        convert=_zero_is_default,
    ),
    _spec(
        "detector.mean",
        "Mean subtracted from each pixel before scaling: [] for the "
        "format's default (127.5), one value, or three (B, G, R order of the input).",
        read_only=True,
        default=[],
        convert=_mean,
        array_of=float,
    ),
    _spec(
        "detector.swap_rb",
        "Feed the network RGB instead of BGR: auto (the format's "
        "default: true for tf_ssd, false for caffe_ssd), true or false. Wrong values do not "
        "fail, they quietly lose 10-40 % of detections.",
        choices=tuple(_SWAP_RB),
        read_only=True,
        default="auto",
        convert=_SWAP_RB.get,
    ),
    _spec(
        "detector.backend",
        "Inference backend: auto (the preset's, else onnxruntime for tf_ssd and onnx_ssd: "
        "correct on every prediction head and ~2x faster; opencv for caffe_ssd; litert for "
        "tflite_ssd), onnxruntime (tflite_ssd: converted once by tflite2onnx), opencv (OpenCV "
        "DNN; tf_ssd and caffe_ssd) or litert (tflite_ssd).",
        choices=("auto", *BACKENDS),
        read_only=True,
        default="auto",
        convert=lambda v: "" if v == "auto" else v,
    ),
    _spec(
        "detector.engine",
        "OpenCV DNN engine: classic (measured 40-50 % faster for these "
        "SSDs in OpenCV 5), auto or new. Ignored by the onnxruntime backend.",
        choices=("classic", "auto", "new"),
        read_only=True,
    ),
    _spec(
        "detector.confidence_threshold",
        'Minimum detection score; 0 takes the preset\'s (README "Models"). Lower finds more '
        "objects and more false positives.",
        min=0.0,
        max=1.0,
        default=0.0,
        convert=_zero_is_default,
    ),
    _spec(
        "detector.class_thresholds",
        "Per-class minimum scores as 'Name=score' entries (e.g. ['Person=0.45', 'Car=0.6']); "
        "other classes use confidence_threshold. Empty: the preset's.",
        read_only=True,
    ),
    _spec("detector.classes", "Class allow-list by name; empty keeps every class."),
    _spec(
        "detector.nms_threshold",
        "IoU above which overlapping boxes of one class are "
        "merged (per-class NMS after the network).",
        min=0.0,
        max=1.0,
        read_only=True,
    ),
    _spec(
        "detector.num_threads",
        "CPU threads for the network. 1 (the node's default) leaves the second core to the "
        "tracker thread, the camera driver and other nodes: with another busy process on a "
        "2-core machine, 2 threads took 62-65 ms per frame and 1 thread 27-34 ms (the second "
        "worker waits for the busy core). On an idle machine 2 threads are ~1.4x faster.",
        min=1,
        max=64,
        read_only=True,
        default=1,
    ),
    _spec(
        "detector.tile_columns",
        "Tiling: besides the full frame, run the network on tile_columns x tile_rows "
        "overlapping tiles and merge, so far (small) people are magnified; 1 x 1 is off. "
        "Each tile costs one more network pass: on the sample video 2 x 1 found 20 of 21 "
        "checked people (18 untiled) at ~2.8x the detector time, 2 x 2 the same at ~4.5x.",
        min=1,
        max=8,
        read_only=True,
    ),
    _spec(
        "detector.tile_rows",
        "Tile rows (see tile_columns); rows magnify vertically, which helps less "
        "than columns on upright people: 1 x 2 found no one more than the full frame.",
        min=1,
        max=8,
        read_only=True,
    ),
    _spec(
        "detector.tile_overlap",
        "Overlap of neighbouring tiles as a share of the tile size. Make it larger than "
        "the far people you want seen whole in one tile: 0.3 of a 576 px frame cut into 2 "
        "rows is 102 px; 0.2 (64 px) cut 80 px tall walkers in both tiles and missed them.",
        min=0.0,
        max=0.5,
        read_only=True,
    ),
    _spec(
        "detector.time_budget_ms",
        "Tiles chosen from the image size: the most magnifying tiling whose network passes fit "
        "in this many ms per frame (one pass is timed on the first frame); 0: tile_columns x "
        "tile_rows as set. 40 on a 1280x720 camera here: two full-height tiles (README).",
        min=0.0,
        max=10000.0,
        read_only=True,
    ),
    # --- tracker ---
    _spec(
        "tracker.iou_threshold",
        "Smallest IoU between a track's predicted box and a "
        "detection to match them. Lower tolerates fast motion; higher keeps crowds apart.",
        min=0.01,
        max=1.0,
    ),
    _spec(
        "tracker.reid_iou_threshold",
        "The same gate for lost tracks, which only compete for "
        "detections no confirmed track took: looser re-identifies after occlusions, but "
        "may hand an old id to a newcomer near the predicted position.",
        min=0.01,
        max=1.0,
    ),
    _spec(
        "tracker.min_hits",
        "Detector runs that must see a new object (one miss forgiven) "
        "before it is published with an id. Higher hides false positives, delays new objects.",
        min=1,
        max=100,
    ),
    _spec(
        "tracker.max_missed_detections",
        "Detector runs that may miss a confirmed track "
        "while dlib carries it; one more and it is lost (not published).",
        min=0,
        max=1000,
    ),
    _spec(
        "tracker.max_lost_frames",
        "Frames after the last detection at which a lost track is "
        "deleted: the re-identification window after an occlusion.",
        min=1,
        max=100000,
    ),
    _spec(
        "tracker.psr_threshold",
        "dlib peak-to-sidelobe ratio below which its box is not "
        "trusted. Higher drops confused tracks sooner; lower tolerates blur but drifts.",
        min=0.0,
        max=100.0,
    ),
    _spec("tracker.class_aware", "Only match detections to tracks of the same class."),
    _spec(
        "tracker.use_correlation_tracker",
        "Carry tracks with dlib through missed detections "
        "and frames without a detector run; off, tracks coast on the motion model (SORT-like).",
    ),
    _spec(
        "tracker.appearance_weight",
        "Weight of the colour-histogram distance added to 1 - IoU when matching. Higher "
        "tells crossing people apart by clothes; misleads when people dress alike. 0: IoU only.",
        min=0.0,
        max=10.0,
    ),
    _spec(
        "tracker.appearance_gate",
        "Largest colour-histogram distance (0 same, 1 disjoint) at which a track and a "
        "detection may match. Lower refuses more hand-overs but splits tracks when looks "
        "change; 1: off.",
        min=0.01,
        max=1.0,
    ),
    _spec(
        "tracker.appearance_reid_distance",
        "Centre distance, in box widths, within which a missed or lost track may take a "
        "detection below the IoU gate if it looks alike. Higher bridges longer gaps; 0: off.",
        min=0.0,
        max=10.0,
    ),
    _spec(
        "tracker.max_detections",
        "Cap on detections per frame (highest scores kept, the rest dropped and counted). "
        "Bounds the cost of a message from a broken upstream detector; the default SSD "
        "returns at most 100.",
        min=1,
        max=10000,
    ),
    _spec(
        "tracker.max_tracks",
        "Cap on live tracks, tentative and lost included; beyond it no new track starts. "
        "Higher follows bigger crowds, at ~4 ms per dlib-carried track.",
        min=1,
        max=10000,
    ),
    _spec(
        "tracker.max_correlation_trackers",
        "Most tracks dlib carries on one frame (confirmed first); the rest coast on their "
        "motion model. Bounds a frame's dlib cost at ~8 ms each (start + update).",
        min=0,
        max=10000,
    ),
    _spec(
        "tracker.max_lost_seconds",
        "If > 0: delete a lost track this many seconds (from message stamps) after its last "
        "detection instead of after max_lost_frames, so 7 and 30 fps cameras behave alike.",
        min=0.0,
        max=3600.0,
    ),
    _spec(
        "tracker.publish_coasting_frames",
        "Frames in a row a confirmed track is still published with no evidence (no matched "
        "detection, no trusted dlib box), on the motion model alone. It is kept for "
        "association either way. 0: fewer false positives; higher: fewer gaps.",
        min=0,
        max=1000,
    ),
    _spec(
        "tracker.start_score_threshold",
        "Detections scored below this start no track; a second stage offers them to "
        "confirmed tracks left unmatched (IoU >= 0.5, ByteTrack). Needs a detector threshold "
        "below it. 0: one stage, every detection may start a track.",
        min=0.0,
        max=1.0,
    ),
    _spec(
        "tracker.observation_centric_reupdate",
        "On a re-match after a gap, replay the Kalman filter along a straight line from the "
        "last observation (OC-SORT) so the velocity does not overshoot.",
    ),
    _spec(
        "tracker.camera_motion_compensation",
        "With images: estimate the camera's frame-to-frame motion (optical flow + RANSAC "
        "similarity, ~1-2 ms) and move every track with it. Off for a static camera.",
    ),
    # --- drawing ---
    _spec(
        "drawing.line_thickness", "Box line thickness in pixels on annotated_image.", min=1, max=20
    ),
    _spec(
        "drawing.font_scale",
        "Label font scale (OpenCV Hershey) on annotated_image.",
        min=0.1,
        max=5.0,
    ),
    _spec("drawing.show_ids", "Draw each track's id in its label."),
    _spec("drawing.show_class", "Draw each track's class name in its label."),
    _spec("drawing.show_score", "Draw the last matched detection score in the label."),
    _spec("drawing.show_rate", "Draw the node's processing rate in the top-left corner."),
)


@dataclass(frozen=True)
class MotConfig:
    """Everything the node hands to the core, validated as a whole."""

    detector: DetectorConfig
    tracker: TrackerConfig
    drawing: DrawingConfig
    diagnostics: HealthThresholds
    node: NodeOptions


def build_config(values: dict[str, Any]) -> MotConfig:
    """A :class:`MotConfig` from parameter values by full name (missing names take defaults).

    Raises ``ValueError`` naming the parameter when a value is out of range or a config
    rejects it.
    """
    unknown = set(values) - {p.name for p in PARAMETERS}
    if unknown:
        raise ValueError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    kwargs: dict[str, dict[str, Any]] = {t: {} for t in _TARGETS}
    for p in PARAMETERS:
        value = values.get(p.name)
        if value is None:  # not given; an empty array in a YAML file also reads as unset
            value = p.default
        check_value(p, value)
        if p.convert is not None:
            value = p.convert(value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[p.target][p.field] = value
    try:
        built = {t: cls(**kwargs[t]) for t, cls in _TARGETS.items()}
    except ValueError as exc:
        raise ValueError(f"invalid parameters: {exc}") from exc
    return MotConfig(**built)


def check_value(p: ParamSpec, value: Any) -> None:
    """Range and choice checks of one value (types are enforced by ROS declarations)."""
    if p.choices and value not in p.choices:
        raise ValueError(f"parameter '{p.name}' must be one of {list(p.choices)}, got '{value}'")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if p.min is not None and value < p.min or p.max is not None and value > p.max:
            raise ValueError(f"parameter '{p.name}' must be in [{p.min}, {p.max}], got {value}")
