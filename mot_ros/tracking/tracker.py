"""Multi-object tracking by detection, bridged by dlib correlation trackers.

How a frame is processed (:meth:`MultiObjectTracker.update`):

1. Every track predicts its box with a constant-velocity Kalman filter
   (:mod:`mot_ros.tracking.motion`).
2. If the detector ran, detections are matched to predicted boxes by IoU with optimal
   assignment (:mod:`mot_ros.tracking.association`), class-aware, in three passes by priority:
   confirmed tracks, then lost tracks (re-identification after an occlusion keeps the old
   id), then tentative tracks. A matched track is re-aligned to its detection through the
   Kalman update, which also smooths the detector's jitter. Unmatched detections start
   tentative tracks.
3. A track without a detection on this frame (the detector did not run, or missed it) is
   carried by a dlib correlation tracker. dlib costs ~3 ms per object and frame, and
   about as much again to start, whatever the image size (downscaling does not help;
   grayscale halves the start cost), so it is used only where it helps: it is started
   lazily, on the previous frame at the track's previous box, the first time the track
   needs it, and dropped when a detection re-aligns the track. With a detection on every
   frame and a good detector, dlib hardly ever runs. Confirmed tracks are carried
   through detector misses; tentative ones only between detector runs (so that a fast
   new object can collect its hits). Its peak-to-sidelobe ratio (PSR) gates the result:
   below ``psr_threshold`` the box is not trusted and the track is *lost*. A trusted
   dlib box is fused into the Kalman filter, with more weight than a detection.
4. Occlusion: a correlation filter on an object that passes behind another locks onto
   the one in front and drags the track (and its velocity) away. So a missed track that
   a detection covers by half or more is lost at once, and a confirmed track that another
   confirmed track covers by half or more coasts on its motion model (still reported)
   instead of being handed to dlib, until the detector says which of the two is visible.
5. Lost tracks are not reported; they coast on the motion model and can be matched
   again, with the looser ``reid_iou_threshold``, until ``max_lost_frames`` frames have
   passed since their last detection.

Track life cycle: ``TENTATIVE`` (needs ``min_hits`` detections) ->
``CONFIRMED`` (reported; gets its id) <-> ``LOST`` (not reported) -> ``REMOVED``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from mot_ros.tracking.appearance import box_descriptors, descriptor_distances
from mot_ros.tracking.association import (
    associate,
    clip_box,
    coverage_matrix,
    inside_fraction,
    iou_matrix,
)
from mot_ros.tracking.camera_motion import CameraMotionEstimator, warp_boxes
from mot_ros.tracking.motion import ConstantVelocityBox, warp_state
from mot_ros.types import MAX_COORDINATE, Detections, TrackedObject, sane_boxes

# Fraction of a box that must lie inside the frame for dlib to be started or kept on it.
# A correlation tracker on an object that is leaving sticks to the border background
# (static texture scores a high PSR), so a track mostly outside the frame is treated as
# lost instead of being carried into a phantom box.
_MIN_INSIDE_FRACTION = 0.5
# A track whose predicted box is covered at least this much by a detection or by another
# confirmed track is treated as (possibly) occluded by it: dlib is not used on it.
_OCCLUDED_COVERAGE = 0.5
# Smallest box side (px) handed to dlib; below this the correlation filter has no texture.
_MIN_DLIB_SIDE = 4.0
# Consecutive detector misses a tentative track survives (it is not reported meanwhile).
_TENTATIVE_MAX_MISSES = 1
# Measurement noise of a trusted dlib box relative to a detection's. dlib is precise from
# frame to frame (IoU ~0.97 with the truth over 3 frames on the synthetic sequences), a
# detection jitters; trusting dlib more keeps boxes on objects that turn between detector
# runs, where the constant-velocity prediction is wrong.
_DLIB_NOISE_SCALE = 0.5
# Weight of a new detection's colour histogram in a track's appearance model (exponential
# moving average): low enough that one frame with a partly occluded or badly cropped box
# does not overwrite the model, high enough to follow lighting changes.
_APPEARANCE_RATE = 0.2
# A detection overlapping another detection at this IoU or more mixes two people's
# colours; it still matches, but does not update the track's appearance model.
_APPEARANCE_UPDATE_MAX_IOU = 0.1
# Appearance distance assumed where a track or detection has no descriptor (box too small,
# no frame yet): about the boundary between the same and another person, so that neither
# a described nor an undescribed track is favoured.
_UNKNOWN_APPEARANCE_DISTANCE = 0.4
# Largest appearance distance at which a missed or lost track may take a detection below
# the IoU gate (``appearance_reid_distance``): stricter than ``appearance_gate`` because
# position says little there. On PETS09-S2L1 ground truth boxes, 0.4 is about the 90th
# percentile of same-person distances and the 10th of distances to a neighbour; 0.3 and
# 0.5 re-identified fewer people (IDF1 43.3 and 41.9 instead of 46.7, detector on every
# frame).
_REID_MAX_APPEARANCE = 0.4
# IoU gate of the second, low-score association stage (``start_score_threshold``): a weak
# detection must overlap the prediction well, since it is as likely to be clutter.
_WEAK_IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class TrackerConfig:
    """Parameters of :class:`MultiObjectTracker`; each one trades something off.

    ``iou_threshold``: smallest IoU between a track's predicted box and a detection for
    them to match. Lower tolerates fast motion, long gaps between detector runs and box
    jitter, but lets neighbouring objects swap ids; higher keeps crowded scenes apart but
    splits a fast object into several tracks. 0.3 is the usual choice (SORT).

    ``reid_iou_threshold``: the same gate for lost tracks, which only compete for the
    detections no confirmed track took. Their predicted box is an extrapolation over the
    whole occlusion, so it is looser: lower re-identifies more objects after occlusions
    and detector dropouts (on the PETS sample video, 0.1 instead of 0.3 cut the number of
    ids by a quarter), higher makes it less likely that a new object inherits the id of
    one that disappeared near it.

    ``min_hits``: detector runs that must see a new object before it is reported and gets
    an id; one miss in between is forgiven, two in a row discard the candidate. Higher
    hides short-lived false positives; it also delays every new object by at least
    ``min_hits - 1`` detector runs (multiply by the detection interval). 1 reports every
    detection at once.

    ``max_missed_detections``: consecutive detector runs that may miss a confirmed track
    while dlib keeps carrying it on; one more miss and it is lost (no longer reported).
    Counted in detector runs so the meaning does not change with the node's detection
    interval. Higher bridges longer detector dropouts (partial occlusion, blur) but keeps
    reporting a box for an object that is really gone, where dlib sticks to background.
    0 trusts dlib only between detector runs.

    ``max_lost_frames``: frames after the last matched detection at which a track is
    deleted; this is the re-identification window after an occlusion. Counted in frames
    (time), so it must be well above the detection interval or tracks die between detector
    runs. Higher re-identifies after longer occlusions but risks giving an old id to a new
    object that appears where the old one was predicted to be.

    ``psr_threshold``: dlib peak-to-sidelobe ratio below which its box is not trusted and
    the track is lost. Higher drops tracks sooner when the correlation filter is confused
    (occlusion, crossing, blur); lower keeps more of them at the price of boxes that are
    more often off the object. Measured on the PETS sample video with the detector every
    3rd frame: 5 instead of 7 reported 11 % more of the people and needed 11 % fewer ids,
    but only about half of the extra boxes were on a person. 7 keeps what is reported
    trustworthy; small, low-contrast objects score lower PSRs than large textured ones.

    ``class_aware``: only match detections and tracks of the same class. Turn off for
    detectors that flip between similar classes (car/truck); the track then keeps the
    class it was born with.

    ``appearance_weight``: weight of the colour-histogram distance (0 same, 1 disjoint;
    :mod:`mot_ros.tracking.appearance`) added to ``1 - IoU`` in the assignment cost. It decides
    between candidates that IoU alone cannot tell apart: two people side by side or
    crossing, a lost track against a new one. Higher trusts clothes colour more than box
    overlap, which misleads when people dress alike or the light changes. 0 matches by IoU
    alone (and skips computing histograms). Needs the frames; without them (tracking an
    upstream detector's boxes) association falls back to IoU.

    ``appearance_gate``: largest appearance distance at which a track and a detection may
    match at all. Lower refuses more wrong hand-overs between neighbours but also splits
    a track when its person's look changes (turning, shadow, partial occlusion); 1 turns
    the gate off.

    ``appearance_reid_distance``: centre distance, in widths of the track's box, within
    which a track that the detector missed (or a lost one) may take a detection that
    fails the IoU gate, provided their appearance distance is at most 0.4. This
    re-identifies people whose predicted box drifted off them during a miss or an
    occlusion (turning, stopping, a bad dlib box) instead of starting a new id. Higher
    bridges longer gaps but lets a look-alike nearby take the id; 0 turns it off. On the
    PETS sample video, 2.5 (vs 0): IDF1 40.2 -> 46.7 and ids 68 -> 41 with the detector on
    every frame, IDF1 40.9 -> 54.8 and ID switches 55 -> 40 on every 3rd; 1.5 and 3.5 were
    within noise of it (IDF1 42.9-49.7 at interval 1).

    ``use_correlation_tracker``: carry tracks with dlib through missed detections and
    frames without a detector run. Off, every track coasts on its motion model alone
    (SORT-like): cheaper, but boxes drift from objects that change speed or direction,
    and with a detection interval above 1 tracks are quickly lost.

    Caps that bound the work of one frame whatever the input (a broken upstream detector
    can send hundreds of boxes; dlib costs ~4 ms per tracked object, ~4-7 ms more to
    start): ``max_detections`` per frame (the highest scores are kept), ``max_tracks``
    live tracks (tentative and lost ones included; new tracks beyond it are not started,
    highest scores first), and ``max_correlation_trackers`` tracks carried by dlib per
    frame (confirmed tracks first, by hits; tentative ones get at most a quarter of it;
    the rest coast on the motion model).
    The defaults are above what the sample video needs: on all 795 frames of PETS09-S2L1
    the default detector returned at most 10 detections, at most 12 tracks were live and
    dlib carried at most 9 on one frame (detector every 3rd frame); the SSD itself
    returns at most 100 detections.

    ``publish_coasting_frames``: consecutive frames a confirmed track may be published
    with no evidence for it on that frame -- no matched detection and no trusted dlib box,
    only the motion model's extrapolation. Such tracks are always kept for association
    (a detection or re-identification brings them back with their id); this only decides
    whether their box is *published*. 0 publishes only boxes with evidence: fewer false
    positives (a coasting box on a person who is gone, or on a moving camera where the
    extrapolation is wrong), a little less recall where the detector misses a person who
    is still there. In tracking-only mode (no images, so no dlib) every missed track
    coasts, so this is what decides whether misses become published guesses.

    ``start_score_threshold``: detections scored below this start no track; they are
    offered, in a second association stage, to the confirmed tracks no confident
    detection took, with a stricter IoU gate (0.5, as ByteTrack does). A person partly
    occluded or blurred scores low but is still there: the second stage keeps their
    track alive and published without letting weak detections create tracks. Only useful
    when the detector passes low scores on (its own threshold below this one). 0: every
    detection may start a track (one stage).

    ``observation_centric_reupdate``: when a track is matched again after frames with
    no observation, re-run its Kalman filter from the last observation along a straight
    line to the new one (OC-SORT's re-update) instead of a single jump. The velocity then
    reflects the motion over the gap instead of the error the extrapolation accumulated,
    which otherwise makes the next prediction overshoot; costs one predict+update per
    frame of gap, only on re-matches.

    ``camera_motion_compensation``: with images, estimate the frame-to-frame camera
    motion (:mod:`mot_ros.tracking.camera_motion`) and move every track's state with it
    before predicting. Needed on moving cameras (pan, zoom, shake, a driving robot) where
    a constant-velocity model mispredicts every track at once; costs ~1-2 ms per frame
    (measured by ``scripts/bench_tracker.py``). Turn off for a camera known to be static.
    Without images it cannot run and is skipped.

    ``max_lost_seconds``: when > 0 and :meth:`MultiObjectTracker.update` gets time stamps,
    a track is deleted this many seconds after its last matched detection, instead of
    after ``max_lost_frames`` frames: a 7 fps and a 30 fps camera then keep a lost track
    for the same time (30 frames are 4.3 s at 7 fps but 1 s at 30 fps), and dropped frames
    do not stretch the window. Longer re-identifies after longer occlusions; shorter stops
    lost tracks, whose extrapolation grows worse with time (and fast on a moving camera),
    from taking a newcomer's detection. Without stamps ``max_lost_frames`` applies.
    """

    iou_threshold: float = 0.3
    reid_iou_threshold: float = 0.1
    min_hits: int = 3
    max_missed_detections: int = 3
    max_lost_frames: int = 30
    psr_threshold: float = 7.0
    class_aware: bool = True
    use_correlation_tracker: bool = True
    appearance_weight: float = 1.0
    appearance_gate: float = 0.5
    appearance_reid_distance: float = 2.5
    max_detections: int = 100
    max_tracks: int = 48
    max_correlation_trackers: int = 16
    publish_coasting_frames: int = 0
    start_score_threshold: float = 0.0
    observation_centric_reupdate: bool = False
    camera_motion_compensation: bool = True
    max_lost_seconds: float = 0.0

    def __post_init__(self) -> None:
        for name in ("iou_threshold", "reid_iou_threshold"):
            iou = getattr(self, name)
            if not _is_number(iou) or not 0.0 < iou <= 1.0:
                raise ValueError(f"{name} must be a number in (0, 1], but got {iou!r}")
        _check_int("min_hits", self.min_hits, 1)
        _check_int("max_missed_detections", self.max_missed_detections, 0)
        _check_int("max_lost_frames", self.max_lost_frames, 1)
        psr = self.psr_threshold
        if not _is_number(psr) or not 0.0 <= psr < float("inf"):
            raise ValueError(f"psr_threshold must be a finite number >= 0, but got {psr!r}")
        if not isinstance(self.use_correlation_tracker, bool):
            raise ValueError(
                f"use_correlation_tracker must be True or False, but got "
                f"{self.use_correlation_tracker!r}"
            )
        if not isinstance(self.class_aware, bool):
            raise ValueError(f"class_aware must be True or False, but got {self.class_aware!r}")
        weight = self.appearance_weight
        if not _is_number(weight) or not 0.0 <= weight < float("inf"):
            raise ValueError(f"appearance_weight must be a finite number >= 0, but got {weight!r}")
        gate = self.appearance_gate
        if not _is_number(gate) or not 0.0 < gate <= 1.0:
            raise ValueError(f"appearance_gate must be a number in (0, 1], but got {gate!r}")
        reach = self.appearance_reid_distance
        if not _is_number(reach) or not 0.0 <= reach < float("inf"):
            raise ValueError(
                f"appearance_reid_distance must be a finite number >= 0, but got {reach!r}"
            )
        _check_int("max_detections", self.max_detections, 1)
        _check_int("max_tracks", self.max_tracks, 1)
        _check_int("max_correlation_trackers", self.max_correlation_trackers, 0)
        _check_int("publish_coasting_frames", self.publish_coasting_frames, 0)
        lost = self.max_lost_seconds
        if not _is_number(lost) or not 0.0 <= lost < float("inf"):
            raise ValueError(f"max_lost_seconds must be a finite number >= 0, but got {lost!r}")
        start = self.start_score_threshold
        if not _is_number(start) or not 0.0 <= start <= 1.0:
            raise ValueError(f"start_score_threshold must be a number in [0, 1], but got {start!r}")
        for name in ("observation_centric_reupdate", "camera_motion_compensation"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, but got {getattr(self, name)!r}")

    @property
    def uses_appearance(self) -> bool:
        """Whether association looks at colour histograms at all."""
        return self.appearance_weight > 0.0 or self.appearance_gate < 1.0


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, but got {value!r}")


class TrackState(enum.Enum):
    """Where a track is in its life cycle; only ``CONFIRMED`` tracks are reported."""

    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    LOST = "lost"
    REMOVED = "removed"


class Track:
    """One object: its motion model, its optional dlib tracker and its bookkeeping.

    ``track_id`` is ``None`` while the track is tentative; the tracker hands out ids on
    confirmation so the reported ids have no gaps left by short-lived false positives.
    ``hits`` counts matched detections, ``frames_since_detection`` frames since the last
    one, ``missed_detections`` consecutive detector runs that did not see the track, and
    ``psr`` is dlib's last peak-to-sidelobe ratio (None before dlib first ran on it). The
    class is the one of the first detection and never changes. ``appearance`` is the
    colour-histogram model (None until a detection with a usable crop matched).
    """

    def __init__(self, xyxy: np.ndarray, score: float, class_name: str) -> None:
        self.track_id: int | None = None
        self.state = TrackState.TENTATIVE
        self.class_name = class_name
        self.score = float(score)
        self.hits = 1
        self.frames_since_detection = 0
        self.missed_detections = 0
        self.psr: float | None = None
        self._motion = ConstantVelocityBox(np.asarray(xyxy, dtype=np.float64))
        self._box = self._motion.xyxy
        self._prev_box = self._box
        self._correlation: dlib.correlation_tracker | None = None
        self.dlib_starts = 0
        self.dlib_updates = 0
        self.appearance: np.ndarray | None = None
        # frames in a row published on the motion model alone (no detection, no trusted dlib)
        self.frames_without_evidence = 0
        # the filter state at the last observation (detection or dlib) and the frames since,
        # for the observation-centric re-update
        self._observed_state = self._motion.state()
        self._observed_box = np.asarray(xyxy, dtype=np.float64)
        self._frames_since_observation = 0
        self.detection_stamp: float | None = None  # time of the last matched detection

    @property
    def xyxy(self) -> np.ndarray:
        """The track's box on the current frame (smoothed; may extend past the frame)."""
        return self._box.copy()

    @property
    def velocity(self) -> np.ndarray:
        return self._motion.velocity

    @property
    def uses_dlib(self) -> bool:
        return self._correlation is not None

    def predict(self) -> None:
        self._prev_box = self._box
        self._box = self._motion.predict()

    def warp(self, affine: np.ndarray) -> None:
        """The camera moved: carry the state and the last observation into this frame's
        pixels. ``_prev_box`` stays in the previous frame's (dlib starts on that frame)."""
        self._box = self._motion.warp(affine)
        self._observed_state = warp_state(*self._observed_state, affine)
        self._observed_box = warp_boxes(self._observed_box, affine)[0]

    def _observed(self, measured: np.ndarray) -> None:
        """``measured``: the raw observed box (the re-update interpolates raw boxes)."""
        self.frames_without_evidence = 0
        self._frames_since_observation = 0
        self._observed_state = self._motion.state()
        self._observed_box = np.asarray(measured, dtype=np.float64)

    def _reupdate(self, xyxy: np.ndarray) -> np.ndarray:
        """OC-SORT's observation-centric re-update: replay the gap from the last observation
        with virtual observations on the straight line to ``xyxy``; returns the new box."""
        gap = self._frames_since_observation
        self._motion.restore(self._observed_state)
        start = np.asarray(self._observed_box, dtype=np.float64)
        end = np.asarray(xyxy, dtype=np.float64)
        box = self._box
        for step in range(1, gap + 1):
            self._motion.predict()
            box = self._motion.update(start + (end - start) * (step / gap))
        return box

    def match(
        self,
        xyxy: np.ndarray,
        score: float,
        appearance: np.ndarray | None = None,
        reupdate: bool = False,
    ) -> None:
        """A detection was assigned: re-align, count the hit, drop the now stale dlib model,
        and blend the detection's colour histogram (if any) into the appearance model."""
        self.observe_appearance(appearance)
        self._frames_since_observation += 1  # this frame's predict happened
        if reupdate and self._frames_since_observation > 1:
            self._box = self._reupdate(xyxy)
        else:
            self._box = self._motion.update(xyxy)
        self._observed(xyxy)
        self.score = float(score)
        self.hits += 1
        self.frames_since_detection = 0
        self.missed_detections = 0
        self._correlation = None
        if self.state is TrackState.LOST:
            self.state = TrackState.CONFIRMED

    def observe_appearance(self, appearance: np.ndarray | None) -> None:
        """Blend one detection's descriptor into the model (exponential moving average)."""
        if appearance is None:
            return
        if self.appearance is None or len(self.appearance) != len(appearance):
            self.appearance = appearance.copy()
        else:
            self.appearance = (
                1.0 - _APPEARANCE_RATE
            ) * self.appearance + _APPEARANCE_RATE * appearance

    def carry(self, gray: np.ndarray, prev_gray: np.ndarray | None, psr_threshold: float) -> bool:
        """Follow the object with dlib on a frame without a detection for it.

        Starts the correlation tracker on ``prev_gray`` at the previous box if none is
        running. Returns whether dlib's box was trusted; if not, a confirmed track is lost.
        """
        height, width = gray.shape
        self.frames_since_detection += 1
        if self._correlation is None:
            start = clip_box(self._prev_box, width, height)
            if (
                prev_gray is None
                or prev_gray.shape != gray.shape
                or min(start[2] - start[0], start[3] - start[1]) < _MIN_DLIB_SIDE
                or inside_fraction(self._prev_box, width, height) < _MIN_INSIDE_FRACTION
            ):
                return self._carry_failed()
            self._correlation = dlib.correlation_tracker()
            self._correlation.start_track(prev_gray, dlib.drectangle(*start))
            self.dlib_starts += 1
        # Searching around the motion prediction rather than dlib's last position keeps up
        # with objects that move more than a few pixels per frame.
        guess = dlib.drectangle(*self._box)
        self.psr = float(self._correlation.update(gray, guess))
        self.dlib_updates += 1
        pos = self._correlation.get_position()
        found = np.array([pos.left(), pos.top(), pos.right(), pos.bottom()])
        if self.psr < psr_threshold or inside_fraction(found, width, height) < _MIN_INSIDE_FRACTION:
            return self._carry_failed()
        self._box = self._motion.update(found, _DLIB_NOISE_SCALE)
        self._observed(found)
        return True

    def _carry_failed(self) -> bool:
        self.frames_without_evidence += 1
        self._frames_since_observation += 1
        return self.lose()

    def coast(self) -> None:
        """No observation on this frame: keep the motion prediction, drop any dlib model."""
        self.frames_since_detection += 1
        self.frames_without_evidence += 1
        self._frames_since_observation += 1
        self._correlation = None

    def forget_appearance(self) -> None:
        """Drop the dlib model (it no longer fits the images, e.g. after a resize)."""
        self._correlation = None

    def lose(self) -> bool:
        """Stop reporting the track until a detection matches it again; it keeps coasting."""
        self._correlation = None
        if self.state is TrackState.CONFIRMED:
            self.state = TrackState.LOST
        return False

    def snapshot(self, width: int | None, height: int | None) -> TrackedObject | None:
        """The reported view of this track, clipped to the frame (None if nothing is inside;
        not clipped when the frame size is unknown)."""
        box = self._box if width is None or height is None else clip_box(self._box, width, height)
        if self.track_id is None or box[2] - box[0] < 1.0 or box[3] - box[1] < 1.0:
            return None
        return TrackedObject(
            track_id=self.track_id,
            xyxy=tuple(float(v) for v in box),
            score=self.score,
            class_name=self.class_name,
            frames_since_detection=self.frames_since_detection,
            hits=self.hits,
        )

    def __repr__(self) -> str:
        box = ", ".join(f"{v:.0f}" for v in self._box)
        return (
            f"Track(id={self.track_id}, {self.state.value}, {self.class_name}, [{box}], "
            f"hits={self.hits}, since_detection={self.frames_since_detection})"
        )


class MultiObjectTracker:
    """Keeps identities of detected objects across frames.

    Contract: call :meth:`update` once for every frame, in order. Pass the detector's
    output for frames it ran on (``Detections.empty()`` when it ran and found nothing) and
    ``None`` for frames it skipped. The returned list holds the confirmed tracks only,
    which is what downstream consumers should act on; :attr:`tracks` also shows tentative
    and lost ones for debugging. Ids start at 1, only increase, and are never reused
    until :meth:`reset`.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config if config is not None else TrackerConfig()
        self.reset()

    def reset(self, keep_ids: bool = False) -> None:
        """Forget every track, the previous frame and the counters; ids restart at 1.

        ``keep_ids``: a new stream of the same node (resolution or camera changed, a bag
        looped): the tracks go, but ids continue where they were, so no id is ever
        given to two objects.
        """
        self._tracks: list[Track] = []
        if not keep_ids or not hasattr(self, "_next_id"):
            self._next_id = 1
            self._detections_rejected = 0
            self._detections_over_cap = 0
            self._tracks_over_cap = 0
        self._dlib_allowed: set[int] = set()
        self._prev_gray: np.ndarray | None = None
        # clipping bounds for frame-less updates: the last frame's or image_size; None
        # (no clipping, no out-of-frame removal) until one is known
        self._last_size: tuple[int, int] | None = None
        self._camera_motion = CameraMotionEstimator()
        self.camera_motion_ms = 0.0  # cost of the last estimate (0 when skipped)
        self._frames = 0
        # consecutive coast=True frames since the last detector run: a caller that skips
        # the detector because it is behind still answers those frames with the tracks the
        # last detector run had evidence for
        self._coasted_frames = 0
        self._stamp: float | None = None
        self._tracks_started = 0
        self._dlib_starts = 0
        self._dlib_updates = 0

    @property
    def tracks(self) -> tuple[Track, ...]:
        """Every live track, tentative and lost ones included."""
        return tuple(self._tracks)

    @property
    def frames(self) -> int:
        """Frames processed since construction or :meth:`reset`."""
        return self._frames

    @property
    def tracks_started(self) -> int:
        """Tracks created (tentative ones included) since construction or :meth:`reset`."""
        return self._tracks_started

    @property
    def tracks_confirmed(self) -> int:
        """Ids handed out since construction or :meth:`reset`."""
        return self._next_id - 1

    @property
    def dlib_starts(self) -> int:
        """Correlation trackers started so far (each costs about as much as an update)."""
        return self._dlib_starts

    @property
    def dlib_updates(self) -> int:
        """Correlation tracker updates run so far, the dominant cost of this tracker."""
        return self._dlib_updates

    @property
    def detections_rejected(self) -> int:
        """Detections dropped as not trackable (non-finite, empty, far outside the image)."""
        return self._detections_rejected

    @property
    def detections_over_cap(self) -> int:
        """Detections dropped because a frame had more than ``max_detections``."""
        return self._detections_over_cap

    @property
    def tracks_over_cap(self) -> int:
        """New tracks not started because ``max_tracks`` tracks were live."""
        return self._tracks_over_cap

    def update(
        self,
        frame_bgr: np.ndarray | None,
        detections: Detections | None,
        image_size: tuple[int, int] | None = None,
        stamp: float | None = None,
        *,
        coast: bool = False,
    ) -> list[TrackedObject]:
        """Advance by one frame; returns the published tracks, ordered by id: confirmed
        tracks with evidence on this frame (or coasting for at most
        ``publish_coasting_frames``).

        ``frame_bgr`` is the uint8 image (BGR, or already grayscale) the detections refer
        to; ``detections`` is None when the detector did not run on this frame.

        ``frame_bgr`` may be None when only detections exist (tracking an upstream
        detector's output without its images): tracks then coast on the motion model
        instead of dlib, and boxes are clipped to ``image_size`` ``(width, height)`` or,
        without it, to the size of the last frame seen (not at all before any frame); a
        track entirely outside that frame is removed. ``stamp`` (seconds): with
        ``max_lost_seconds`` the deletion of lost tracks counts in seconds (a jump back only
        resets the clock).

        ``coast=True`` on a frame without detections moves every track on its motion model
        alone instead of running dlib: well under a millisecond instead of ~4 ms per track,
        for a caller that skips the detector because it is behind the camera. Tracks that
        had evidence on the last detector run stay published over such frames (a skipped
        run is no evidence that an object left).
        """
        if detections is not None and not isinstance(detections, Detections):
            raise TypeError(
                f"detections must be Detections or None, but got {type(detections).__name__}"
            )
        if stamp is not None:
            stamp = float(stamp)
            if not np.isfinite(stamp):
                raise ValueError(f"stamp must be a finite number of seconds, but got {stamp!r}")
            if self._stamp is not None and stamp < self._stamp:
                for track in self._tracks:  # the clock jumped back (a bag restarted)
                    track.detection_stamp = stamp
        self._stamp = stamp
        if frame_bgr is None:
            if detections is None:
                raise ValueError("update() needs a frame, detections, or both")
            gray = None
            if image_size is not None:
                self._last_size = (int(image_size[0]), int(image_size[1]))
            width, height = self._last_size or (None, None)
            self._prev_gray = None  # correlation models cannot continue across a gap
            self._camera_motion.reset()
            for track in self._tracks:
                track.forget_appearance()
        else:
            gray = _to_gray(frame_bgr)
            height, width = gray.shape
            self._last_size = (width, height)
        if detections is not None:
            detections = self._bounded(detections, (width, height))
        prev_gray = self._prev_gray
        if gray is not None and prev_gray is not None and prev_gray.shape != gray.shape:
            # A new resolution invalidates every correlation model and the previous frame.
            prev_gray = None
            for track in self._tracks:
                track.forget_appearance()
        self._frames += 1
        self.camera_motion_ms = 0.0
        affine = None
        if gray is not None and self.config.camera_motion_compensation:
            # corners on the tracked objects are left out: they move by themselves
            boxes = np.array([t.xyxy for t in self._tracks]).reshape(-1, 4)
            affine = self._camera_motion.estimate(gray, exclude=boxes)
            self.camera_motion_ms = self._camera_motion.last_ms
        else:  # off (possibly switched at run time): start afresh when switched on
            self._camera_motion.reset()

        for track in self._tracks:
            track.predict()  # in the previous frame's pixels, then moved into this one's
            if affine is not None:
                track.warp(affine)
        crowded = self._crowded()
        self._dlib_allowed = self._dlib_priority()

        if detections is not None:
            matched, new_detections, looks = self._match(detections, frame_bgr)
            missed = [t for t in self._tracks if id(t) not in matched]
            hidden = self._covered(missed, detections.xyxy)
            for track, is_hidden in zip(missed, hidden, strict=True):
                self._on_missed(track, gray, prev_gray, is_hidden, id(track) in crowded)
            # highest scores first, so that the max_tracks cap keeps the best
            for j in sorted(new_detections, key=lambda k: -detections.scores[k]):
                self._start_track(detections, j, looks[j])
        else:
            # Tentative tracks are carried too: without it, an object that moves more than
            # about half its width between detector runs could never collect its hits.
            for track in self._tracks:
                if not coast and track.state is not TrackState.LOST and id(track) not in crowded:
                    self._carry(track, gray, prev_gray)
                else:
                    track.coast()

        self._remove_stale(width, height)
        self._prev_gray = gray
        self._coasted_frames = self._coasted_frames + 1 if coast and detections is None else 0
        # Skipped detector runs are no evidence against a track: publish what had evidence
        # on the last run, moved by the motion model, for the frames the caller coasted.
        limit = self.config.publish_coasting_frames + self._coasted_frames
        out = [
            t.snapshot(width, height)
            for t in self._tracks
            if t.state is TrackState.CONFIRMED and t.frames_without_evidence <= limit
        ]
        return sorted((o for o in out if o is not None), key=lambda o: o.track_id)

    def _match(
        self, detections: Detections, frame: np.ndarray | None
    ) -> tuple[set[int], list[int], list[np.ndarray | None]]:
        """Assign detections by priority: tracks with ids first, so a reappearing object
        gets its old id back before a tentative track can claim its detection.

        With a ``frame`` (and appearance enabled) the colour-histogram distance joins the
        IoU in the cost and gates the pairs. Returns the ``id()`` of the matched tracks,
        the indices of unmatched detections and, per detection, the descriptor a track may
        learn from it (None if there is none or it mixes two objects).
        """
        cfg = self.config
        confident = detections.scores >= cfg.start_score_threshold
        remaining = [j for j in range(len(detections)) if confident[j]]
        weak = [j for j in range(len(detections)) if not confident[j]]
        matched: set[int] = set()
        looks: list[np.ndarray | None] = [None] * len(detections)
        if frame is not None and cfg.uses_appearance and len(detections):
            looks = box_descriptors(frame, detections.xyxy)
            overlap = iou_matrix(detections.xyxy, detections.xyxy)
            np.fill_diagonal(overlap, 0.0)
            # Two overlapping detections mix two people's colours: match them, but do not
            # learn from them.
            learn = overlap.max(axis=1) < _APPEARANCE_UPDATE_MAX_IOU
        else:
            learn = np.zeros(len(detections), dtype=bool)
        for state in (TrackState.CONFIRMED, TrackState.LOST, TrackState.TENTATIVE):
            group = [t for t in self._tracks if t.state is state]
            if not group or not remaining:
                continue
            extra_cost = extra_allowed = despite_iou = None
            if frame is not None and cfg.uses_appearance:
                distance = descriptor_distances(
                    [t.appearance for t in group], [looks[j] for j in remaining]
                )
                extra_allowed = ~(distance > cfg.appearance_gate)  # unknown: allowed
                if cfg.appearance_reid_distance > 0 and state is not TrackState.TENTATIVE:
                    despite_iou = self._reid_below_iou(
                        group, detections.xyxy[remaining], distance, cfg.appearance_reid_distance
                    )
                distance = np.where(np.isnan(distance), _UNKNOWN_APPEARANCE_DISTANCE, distance)
                extra_cost = cfg.appearance_weight * distance
            pairs, _, left = associate(
                np.array([t.xyxy for t in group]),
                [t.class_name for t in group],
                detections.xyxy[remaining],
                [detections.class_names[j] for j in remaining],
                cfg.reid_iou_threshold if state is TrackState.LOST else cfg.iou_threshold,
                cfg.class_aware,
                extra_cost,
                extra_allowed,
                despite_iou,
            )
            for ti, dj in pairs:
                track, j = group[ti], remaining[dj]
                track.match(
                    detections.xyxy[j],
                    detections.scores[j],
                    looks[j] if learn[j] else None,
                    cfg.observation_centric_reupdate,
                )
                track.detection_stamp = self._stamp
                if track.state is TrackState.TENTATIVE and track.hits >= cfg.min_hits:
                    self._confirm(track)
                matched.add(id(track))
            remaining = [remaining[k] for k in left]
        if weak:
            self._match_weak(detections, weak, matched)
        return matched, remaining, [d if ok else None for d, ok in zip(looks, learn, strict=True)]

    def _match_weak(self, detections: Detections, weak: list[int], matched: set[int]) -> None:
        """ByteTrack's second stage: confirmed tracks that no confident detection took may
        take a low-scored one at IoU >= 0.5 (IoU only: a blurred or half-hidden person's
        colours are unreliable). Weak detections left over start nothing."""
        group = [
            t for t in self._tracks if t.state is TrackState.CONFIRMED and id(t) not in matched
        ]
        if not group:
            return
        pairs, _, _ = associate(
            np.array([t.xyxy for t in group]),
            [t.class_name for t in group],
            detections.xyxy[weak],
            [detections.class_names[j] for j in weak],
            _WEAK_IOU_THRESHOLD,
            self.config.class_aware,
        )
        for ti, dj in pairs:
            j = weak[dj]
            group[ti].match(
                detections.xyxy[j],
                detections.scores[j],
                None,
                self.config.observation_centric_reupdate,
            )
            group[ti].detection_stamp = self._stamp
            matched.add(id(group[ti]))

    @staticmethod
    def _reid_below_iou(
        group: list[Track], det_xyxy: np.ndarray, distance: np.ndarray, reach: float
    ) -> np.ndarray:
        """Pairs of a missed (or lost) track and a detection that may match below the IoU
        gate: centres within ``reach`` track widths and alike in appearance."""
        boxes = np.array([t.xyxy for t in group])
        missed = np.array([t.missed_detections > 0 or t.state is TrackState.LOST for t in group])
        tc = (boxes[:, :2] + boxes[:, 2:]) / 2.0
        dc = (det_xyxy[:, :2] + det_xyxy[:, 2:]) / 2.0
        width = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
        gap = np.linalg.norm(tc[:, None, :] - dc[None, :, :], axis=2) / width[:, None]
        alike = distance <= _REID_MAX_APPEARANCE  # NaN: False
        return missed[:, None] & (gap <= reach) & alike

    def _crowded(self) -> set[int]:
        """``id()`` of the live tracks half-covered by another, confirmed, track."""
        group = [t for t in self._tracks if t.state is not TrackState.LOST]
        occluders = [i for i, t in enumerate(group) if t.state is TrackState.CONFIRMED]
        if not occluders or len(group) < 2:
            return set()
        boxes = np.array([t.xyxy for t in group])
        coverage = coverage_matrix(boxes, boxes[occluders])
        coverage[occluders, np.arange(len(occluders))] = 0.0  # a track does not hide itself
        return {
            id(t)
            for t, c in zip(group, coverage.max(axis=1), strict=True)
            if c >= _OCCLUDED_COVERAGE
        }

    @staticmethod
    def _covered(tracks: list[Track], boxes: np.ndarray) -> list[bool]:
        """Which tracks are half-covered by one of ``boxes``."""
        if not tracks or not len(boxes):
            return [False] * len(tracks)
        coverage = coverage_matrix(np.array([t.xyxy for t in tracks]), boxes).max(axis=1)
        return [bool(c >= _OCCLUDED_COVERAGE) for c in coverage]

    def _on_missed(
        self,
        track: Track,
        gray: np.ndarray | None,
        prev_gray: np.ndarray | None,
        hidden: bool,
        crowded: bool,
    ) -> None:
        """The detector ran and did not see this track.

        ``hidden``: a detection covers it, so it is most likely behind that object.
        ``crowded``: another confirmed track covers it; either may be in front.
        """
        track.missed_detections += 1
        if track.state is TrackState.TENTATIVE:
            # A new object must be seen on (nearly) consecutive detector runs to be believed;
            # forgiving one miss matters with real detectors that miss ~20 % of people.
            if track.missed_detections > _TENTATIVE_MAX_MISSES:
                track.state = TrackState.REMOVED
            elif crowded or hidden:
                track.coast()
            else:
                self._carry(track, gray, prev_gray)
        elif (
            track.state is not TrackState.CONFIRMED
            or hidden
            or track.missed_detections > self.config.max_missed_detections
        ):
            track.lose()
            track.coast()
        elif crowded:
            track.coast()
        else:
            self._carry(track, gray, prev_gray)

    def _bounded(
        self, detections: Detections, image_size: tuple[int | None, int | None]
    ) -> Detections:
        """Drop boxes no tracker state may come from, then keep the ``max_detections`` best.

        Without a frame, ``image_size`` and ``camera_info``/parameters, the image size is
        unknown (``(None, None)``) and only the absolute bounds apply.
        """
        if not len(detections):
            return detections
        known = image_size if image_size[0] is not None and image_size[1] is not None else None
        ok = sane_boxes(detections.xyxy, known)
        if not ok.all():
            self._detections_rejected += int((~ok).sum())
            detections = detections.select(ok)
        cap = self.config.max_detections
        if len(detections) > cap:
            self._detections_over_cap += len(detections) - cap
            keep = np.sort(np.argsort(-detections.scores, kind="stable")[:cap])
            detections = detections.select(keep)
        return detections

    def _dlib_priority(self) -> set[int]:
        """``id()`` of the tracks dlib may carry on this frame: ``max_correlation_trackers``,
        confirmed tracks first (most hits first), tentative ones only in the last quarter
        of the budget (a burst of one-off detections must not buy dlib for all of them;
        on PETS09-S2L1 at most 4 tentative tracks needed dlib on one frame)."""
        cap = self.config.max_correlation_trackers
        confirmed = [t for t in self._tracks if t.state is TrackState.CONFIRMED]
        tentative = [t for t in self._tracks if t.state is TrackState.TENTATIVE]
        if len(confirmed) > cap:
            confirmed.sort(key=lambda t: -t.hits)
            confirmed = confirmed[:cap]
        room = min(cap - len(confirmed), max(1, cap // 4) if cap else 0)
        if len(tentative) > room:
            tentative.sort(key=lambda t: -t.hits)
            tentative = tentative[:room]
        return {id(t) for t in confirmed + tentative}

    def _carry(self, track: Track, gray: np.ndarray | None, prev_gray: np.ndarray | None) -> None:
        if id(track) not in self._dlib_allowed:
            track.coast()
            return
        if gray is None or not self.config.use_correlation_tracker:
            track.coast()
            return
        starts, updates = track.dlib_starts, track.dlib_updates
        track.carry(gray, prev_gray, self.config.psr_threshold)
        self._dlib_starts += track.dlib_starts - starts
        self._dlib_updates += track.dlib_updates - updates

    def _start_track(
        self, detections: Detections, j: int, appearance: np.ndarray | None = None
    ) -> None:
        if len(self._tracks) >= self.config.max_tracks:
            self._tracks_over_cap += 1
            return
        track = Track(detections.xyxy[j], detections.scores[j], detections.class_names[j])
        track.observe_appearance(appearance)
        track.detection_stamp = self._stamp
        self._tracks_started += 1
        self._tracks.append(track)
        if self.config.min_hits <= 1:
            self._confirm(track)

    def _confirm(self, track: Track) -> None:
        track.state = TrackState.CONFIRMED
        track.track_id = self._next_id
        self._next_id += 1

    def _remove_stale(self, width: int | None, height: int | None) -> None:
        keep = []
        by_time = self.config.max_lost_seconds > 0.0 and self._stamp is not None
        for track in self._tracks:
            box = track.xyxy
            if by_time and track.detection_stamp is not None:
                stale = self._stamp - track.detection_stamp > self.config.max_lost_seconds
            else:
                stale = track.frames_since_detection > self.config.max_lost_frames
            if (
                stale
                or not np.all(np.abs(box) <= MAX_COORDINATE)  # also catches NaN
                or (width is not None and inside_fraction(box, width, height) == 0.0)
            ):
                track.state = TrackState.REMOVED
            if track.state is not TrackState.REMOVED:
                keep.append(track)
        self._tracks = keep


def _to_gray(frame: np.ndarray) -> np.ndarray:
    """dlib runs as fast on grayscale and starts ~2x faster than on colour."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
        raise ValueError(
            f"frame must be a uint8 numpy array, but got "
            f"{getattr(frame, 'dtype', type(frame).__name__)}"
        )
    if frame.ndim == 2:
        return np.ascontiguousarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    raise ValueError(f"frame must have shape (H, W, 3) or (H, W), but got shape {frame.shape}")
