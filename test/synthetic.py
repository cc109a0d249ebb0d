"""Synthetic tracking sequences with known ground truth, rendered to real frames.

Textured rectangles move with constant velocities over a noisy textured background; some
cross, leave the frame, enter late or pass behind static occluders. The frames are real
BGR images (dlib and OpenCV run on them as on camera frames), the truth is exact, and a
simulated detector turns the truth into jittered, sometimes missing detections. Reusable
for MOT-metric regression tests:

    frames, truth = make_sequence(seed=0)
    rng = np.random.default_rng(0)
    for frame, objects in zip(frames, truth):
        dets = simulate_detections(objects, rng, miss_rate=0.1, jitter=0.03)

Truth per frame is a list of ``(object_id, xyxy, class_name)`` for objects at least
``min_visibility`` visible, where visibility is the fraction of the object's full box
that is inside the frame and not hidden by an object in front or an occluder. ``xyxy``
is the full box clipped to the frame (pixels, float). Object ids start at 1, in the order
of ``objects``; later objects are drawn in front of earlier ones, occluders in front of all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mot_ros.types import Detections

TruthEntry = tuple[int, tuple[float, float, float, float], str]


@dataclass(frozen=True)
class ObjectSpec:
    """One moving rectangle: top-left ``start`` at ``first_frame``, ``velocity`` px/frame.

    ``turns`` changes the velocity along the way: ``((t, (vx, vy)), ...)`` sets the
    velocity to ``(vx, vy)`` from ``t`` frames after ``first_frame`` on (t increasing).
    """

    class_name: str
    size: tuple[int, int]  # (width, height) in pixels
    start: tuple[float, float]  # (x, y) of the top-left corner at first_frame
    velocity: tuple[float, float]  # (vx, vy) in pixels per frame
    first_frame: int = 0
    last_frame: int | None = None  # exclusive; None means until the end
    turns: tuple[tuple[int, tuple[float, float]], ...] = ()

    def box_at(self, frame: int) -> tuple[int, int, int, int] | None:
        if frame < self.first_frame or (self.last_frame is not None and frame >= self.last_frame):
            return None
        t = frame - self.first_frame
        x, y = self.start
        vx, vy = self.velocity
        since = 0
        for at, (nvx, nvy) in self.turns:
            if at >= t:
                break
            x, y = x + vx * (at - since), y + vy * (at - since)
            vx, vy, since = nvx, nvy, at
        x, y = x + vx * (t - since), y + vy * (t - since)
        xi, yi = int(round(x)), int(round(y))
        return xi, yi, xi + self.size[0], yi + self.size[1]


def default_scenario() -> tuple[list[ObjectSpec], list[tuple[int, int, int, int]]]:
    """Objects and occluders for a 640x480, 120-frame sequence exercising the hard cases.

    1, 2: two people at different speeds crossing each other (2 passes in front of 1,
    hiding it on frames 76-78).
    3: a car that enters from the left, drives fast and leaves on the right (last at
    least half visible on frame 86).
    4: a person who walks behind the occluder (hidden on frames 55-73), reappears, and is
    hidden again by 5 passing in front of it (frames 111-114).
    5: a person who enters from the right edge at frame 30.
    Visibility figures are for the default ``min_visibility`` of 0.5.
    """
    objects = [
        ObjectSpec("person", (40, 90), (20.0, 60.0), (3.0, 0.3)),
        ObjectSpec("person", (40, 90), (560.0, 110.0), (-4.0, 0.0)),
        ObjectSpec("car", (110, 60), (-60.0, 360.0), (7.5, 0.0)),
        ObjectSpec("person", (36, 80), (120.0, 260.0), (3.0, 0.0)),
        ObjectSpec("person", (38, 84), (620.0, 190.0), (-2.0, 0.5), first_frame=30),
    ]
    occluders = [(300, 230, 360, 380)]
    return objects, occluders


def _texture(rng: np.random.Generator, width: int, height: int, cell: int) -> np.ndarray:
    """Smooth random colour blobs: trackable texture, unlike pure per-pixel noise."""
    small = rng.integers(0, 256, size=(max(height // cell, 2), max(width // cell, 2), 3))
    return cv2.resize(small.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)


def make_sequence(
    seed: int,
    num_frames: int = 120,
    size: tuple[int, int] = (640, 480),
    objects: Sequence[ObjectSpec] | None = None,
    occluders: Sequence[tuple[int, int, int, int]] | None = None,
    noise_std: float = 6.0,
    min_visibility: float = 0.5,
) -> tuple[list[np.ndarray], list[list[TruthEntry]]]:
    """Render a sequence; returns ``(frames, truth_per_frame)``.

    ``objects``/``occluders`` default to :func:`default_scenario` (occluders as xyxy, drawn
    as static grey blocks). ``noise_std`` is the standard deviation of the per-frame
    sensor noise on every pixel (uniform, integer).
    """
    if objects is None and occluders is None:
        objects, occluders = default_scenario()
    objects = list(objects or [])
    occluders = list(occluders or [])
    width, height = size
    rng = np.random.default_rng(seed)
    background = (_texture(rng, width, height, 24) // 2 + 64).astype(np.uint8)
    textures = [_texture(rng, spec.size[0], spec.size[1], 6) for spec in objects]
    half_range = int(round(noise_std * np.sqrt(3.0)))
    frames: list[np.ndarray] = []
    truth: list[list[TruthEntry]] = []
    for f in range(num_frames):
        frame = background.copy()
        # Label map: which object (1-based) is seen at each pixel; 0 background, -1 occluder.
        labels = np.zeros((height, width), dtype=np.int32)
        boxes: dict[int, tuple[int, int, int, int]] = {}
        for k, spec in enumerate(objects, start=1):
            box = spec.box_at(f)
            if box is None:
                continue
            boxes[k] = box
            x1, y1, x2, y2 = box
            cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
            if cx2 <= cx1 or cy2 <= cy1:
                continue
            frame[cy1:cy2, cx1:cx2] = textures[k - 1][cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
            labels[cy1:cy2, cx1:cx2] = k
        for x1, y1, x2, y2 in occluders:
            frame[y1:y2, x1:x2] = 128
            labels[y1:y2, x1:x2] = -1
        # Uniform integer noise of the requested standard deviation: ~5x cheaper than
        # Gaussian floats at this size and just as hostile to a correlation filter.
        noise = rng.integers(-half_range, half_range + 1, size=frame.shape, dtype=np.int16)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
        visible_counts = np.bincount(labels[labels > 0].ravel(), minlength=len(objects) + 1)
        entries: list[TruthEntry] = []
        for k, (x1, y1, x2, y2) in boxes.items():
            visibility = visible_counts[k] / float((x2 - x1) * (y2 - y1))
            if visibility >= min_visibility:
                clipped = (
                    float(max(x1, 0)),
                    float(max(y1, 0)),
                    float(min(x2, width)),
                    float(min(y2, height)),
                )
                entries.append((k, clipped, objects[k - 1].class_name))
        truth.append(entries)
    return frames, truth


def simulate_detections(
    truth: Sequence[TruthEntry],
    rng: np.random.Generator,
    miss_rate: float = 0.1,
    jitter: float = 0.03,
    false_positives: float = 0.0,
    image_size: tuple[int, int] = (640, 480),
) -> Detections:
    """A detector's output for one frame of truth.

    Each object is missed with probability ``miss_rate``; each box coordinate moves by
    Gaussian noise with standard deviation ``jitter`` times the box width (x) or height
    (y). ``false_positives`` is the mean number of spurious "person" boxes per frame
    (Poisson), placed at random in ``image_size``. Scores are uniform in [0.5, 1].
    """
    boxes: list[np.ndarray] = []
    names: list[str] = []
    for _, xyxy, class_name in truth:
        if rng.random() < miss_rate:
            continue
        box = np.asarray(xyxy, dtype=np.float64)
        w, h = box[2] - box[0], box[3] - box[1]
        box = box + rng.normal(0.0, jitter, size=4) * np.array([w, h, w, h])
        box[2] = max(box[2], box[0] + 2.0)
        box[3] = max(box[3], box[1] + 2.0)
        boxes.append(box)
        names.append(class_name)
    width, height = image_size
    for _ in range(rng.poisson(false_positives) if false_positives > 0 else 0):
        w, h = rng.uniform(20, 60), rng.uniform(40, 120)
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        boxes.append(np.array([x, y, x + w, y + h]))
        names.append("person")
    if not boxes:
        return Detections.empty()
    scores = rng.uniform(0.5, 1.0, size=len(boxes))
    return Detections(np.array(boxes), scores, tuple(names))


def crowd_scenario(
    seed: int,
    num_frames: int = 150,
    size: tuple[int, int] = (768, 576),
    concurrent: int = 8,
) -> list[ObjectSpec]:
    """Pedestrian-like crowd: about ``concurrent`` people of ~30x70 px on screen at once.

    People walk in from the left or right edge at 5-12 px/frame with a small vertical
    drift, some turn once, and new ones keep entering as others leave, so crossings at
    similar heights (one person hiding another) happen throughout. The sizes and speeds are
    those of the PETS 2009 sample video at 768x576 seen at ~7 fps (its frame rate), i.e. a
    hard case for frame-to-frame IoU: at 12 px/frame a 30 px wide person overlaps its
    previous box by IoU 0.43, and by nothing after three frames.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    objects: list[ObjectSpec] = []
    # Each of `concurrent` lanes spawns a person whenever its previous one has left.
    for _ in range(concurrent):
        first = int(rng.integers(0, 20))
        while first < num_frames - 10:
            w, h = int(rng.integers(28, 35)), int(rng.integers(64, 77))
            speed = float(rng.uniform(5.0, 12.0))
            from_left = bool(rng.random() < 0.5)
            vx = speed if from_left else -speed
            vy = float(rng.uniform(-0.8, 0.8))
            x = float(-w + 1 if from_left else width - 1)
            y = float(rng.uniform(0.15 * height, 0.85 * height - h))
            turns: tuple[tuple[int, tuple[float, float]], ...] = ()
            crossing_frames = int((width + w) / speed)
            if rng.random() < 0.4:  # change pace and drift once, mid-way
                at = int(rng.integers(crossing_frames // 4, max(crossing_frames // 2, 2)))
                new_speed = float(np.clip(speed * rng.uniform(0.6, 1.4), 5.0, 12.0))
                turns = ((at, (new_speed if from_left else -new_speed, -vy)),)
            objects.append(ObjectSpec("person", (w, h), (x, y), (vx, vy), first, None, turns))
            first += crossing_frames + int(rng.integers(2, 15))
    return objects


def simulate_detection_stream(
    truth_per_frame: Sequence[Sequence[TruthEntry]],
    rng: np.random.Generator,
    miss_rate: float = 0.2,
    max_burst: int = 5,
    jitter: float = 0.05,
    false_positives: float = 0.05,
    image_size: tuple[int, int] = (640, 480),
    clutter: Sequence[tuple[tuple[float, float, float, float], float]] = (),
) -> list[Detections]:
    """A detector's output on every frame, with misses in bursts like a real detector's.

    A real detector misses a person for several frames in a row (pose, blur, partial
    occlusion, low contrast), not independently per frame. Here each object, on frames
    where it is in the truth, starts a burst of misses with a fixed probability; a burst
    lasts 1 to ``max_burst`` frames (uniform), and the start probability is chosen so that
    about ``miss_rate`` of the object's frames are misses. Jitter and random false
    positives are those of :func:`simulate_detections` (``false_positives`` per frame).
    ``clutter`` adds static false positives: ``(xyxy, rate)`` is a box of background that
    the detector mistakes for a person on a fraction ``rate`` of the frames (a sign, a
    bin), the kind of false positive a tracker's ``min_hits`` does not always filter.

    Call once per sequence: the bursts depend on the order of frames. Take every n-th
    element to simulate a detector that runs every n-th frame on the same detections.
    """
    if not 0.0 <= miss_rate < 1.0:
        raise ValueError(f"miss_rate must be in [0, 1), but got {miss_rate}")
    if max_burst < 1:
        raise ValueError(f"max_burst must be >= 1, but got {max_burst}")
    mean_burst = (1 + max_burst) / 2.0
    # miss fraction = mean_burst / (1 / p + mean_burst)  =>  p as below
    start_p = miss_rate / (mean_burst * (1.0 - miss_rate)) if miss_rate > 0 else 0.0
    burst_left: dict[int, int] = {}
    stream: list[Detections] = []
    for truth in truth_per_frame:
        seen: list[TruthEntry] = []
        for entry in truth:
            object_id = entry[0]
            left = burst_left.get(object_id, 0)
            if left == 0 and rng.random() < start_p:
                left = int(rng.integers(1, max_burst + 1))
            if left > 0:
                burst_left[object_id] = left - 1
                continue
            seen.append(entry)
        frame_dets = simulate_detections(seen, rng, 0.0, jitter, false_positives, image_size)
        extra = [np.asarray(box, dtype=np.float64) for box, rate in clutter if rng.random() < rate]
        if extra:
            boxes = np.concatenate([frame_dets.xyxy.reshape(-1, 4), np.array(extra)])
            scores = np.concatenate([frame_dets.scores, rng.uniform(0.3, 0.6, size=len(extra))])
            names = tuple(frame_dets.class_names) + ("person",) * len(extra)
            frame_dets = Detections(boxes, scores, names)
        stream.append(frame_dets)
    return stream


@dataclass(frozen=True)
class CameraPath:
    """A camera moving over a larger world, as a per-frame similarity world -> image.

    ``kind``: ``pan`` (the view slides right by ``speed`` px/frame), ``zoom`` (scale grows
    linearly by ``speed`` per frame about the view centre), ``shake`` (hand-held: a random
    offset of standard deviation ``speed`` px on every frame around a fixed view) or
    ``forward`` (driving towards a point off-centre: scale grows by the factor
    ``1 + speed`` per frame, so near things grow and leave the frame at the sides).
    The world is ``world_size`` pixels; the view starts with its top-left at ``origin``.
    Only scale and translation (no rotation), so boxes stay boxes.
    """

    kind: str
    speed: float
    world_size: tuple[int, int] = (1280, 960)
    origin: tuple[float, float] = (320.0, 240.0)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("pan", "zoom", "shake", "forward"):
            raise ValueError(f"kind must be pan, zoom, shake or forward, but got {self.kind!r}")

    def transforms(
        self, num_frames: int, size: tuple[int, int]
    ) -> list[tuple[float, float, float]]:
        """``(scale, tx, ty)`` per frame: image = scale * world + (tx, ty)."""
        width, height = size
        ox, oy = self.origin
        centre = (ox + width / 2.0, oy + height / 2.0)
        rng = np.random.default_rng(self.seed)
        out = []
        for f in range(num_frames):
            if self.kind == "pan":
                s, cx, cy = 1.0, centre[0] + self.speed * f, centre[1]
            elif self.kind == "zoom":
                s, cx, cy = 1.0 + self.speed * f, centre[0], centre[1]
            elif self.kind == "shake":
                dx, dy = rng.normal(0.0, self.speed, size=2)
                s, cx, cy = 1.0, centre[0] + dx, centre[1] + dy
            else:  # forward: towards a point a quarter of the view right of centre
                s = (1.0 + self.speed) ** f
                cx, cy = centre[0] + width / 4.0, centre[1]
            # the world point (cx, cy) is seen at the image centre
            out.append((s, width / 2.0 - s * cx, height / 2.0 - s * cy))
        return out


def make_moving_camera_sequence(
    seed: int,
    camera: CameraPath,
    objects: Sequence[ObjectSpec],
    num_frames: int = 120,
    size: tuple[int, int] = (640, 480),
    noise_std: float = 6.0,
    min_visibility: float = 0.5,
) -> tuple[list[np.ndarray], list[list[TruthEntry]]]:
    """Like :func:`make_sequence`, but ``objects`` move in world pixels and each frame is
    the world seen through ``camera``; truth boxes are in image pixels (clipped), and
    visibility counts only what lands inside the image."""
    width, height = size
    world_w, world_h = camera.world_size
    rng = np.random.default_rng(seed)
    background = (_texture(rng, world_w, world_h, 24) // 2 + 64).astype(np.uint8)
    textures = [_texture(rng, spec.size[0], spec.size[1], 6) for spec in objects]
    half_range = int(round(noise_std * np.sqrt(3.0)))
    frames: list[np.ndarray] = []
    truth: list[list[TruthEntry]] = []
    for f, (s, tx, ty) in enumerate(camera.transforms(num_frames, size)):
        world = background.copy()
        labels = np.zeros((world_h, world_w), dtype=np.float32)
        boxes: dict[int, tuple[int, int, int, int]] = {}
        for k, spec in enumerate(objects, start=1):
            box = spec.box_at(f)
            if box is None:
                continue
            boxes[k] = box
            x1, y1, x2, y2 = box
            cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, world_w), min(y2, world_h)
            if cx2 <= cx1 or cy2 <= cy1:
                continue
            world[cy1:cy2, cx1:cx2] = textures[k - 1][cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
            labels[cy1:cy2, cx1:cx2] = k
        warp = np.array([[s, 0.0, tx], [0.0, s, ty]])
        frame = cv2.warpAffine(world, warp, size, flags=cv2.INTER_LINEAR)
        seen = cv2.warpAffine(labels, warp, size, flags=cv2.INTER_NEAREST).astype(np.int32)
        noise = rng.integers(-half_range, half_range + 1, size=frame.shape, dtype=np.int16)
        frames.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
        counts = np.bincount(seen[seen > 0].ravel(), minlength=len(objects) + 1)
        entries: list[TruthEntry] = []
        for k, (x1, y1, x2, y2) in boxes.items():
            ix1, iy1, ix2, iy2 = s * x1 + tx, s * y1 + ty, s * x2 + tx, s * y2 + ty
            visibility = counts[k] / max((ix2 - ix1) * (iy2 - iy1), 1e-9)
            if visibility >= min_visibility:
                clipped = (
                    float(max(ix1, 0.0)),
                    float(max(iy1, 0.0)),
                    float(min(ix2, width)),
                    float(min(iy2, height)),
                )
                entries.append((k, clipped, objects[k - 1].class_name))
        truth.append(entries)
    return frames, truth
