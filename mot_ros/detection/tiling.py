"""Tiled detection: the full frame plus overlapping tiles, merged into one set of boxes.

An SSD sees the whole frame squeezed into its input (300x300 for the default model), so a
pedestrian 60-110 px tall in a 768x576 frame is 30-60 px tall to the network, near the
bottom of what it was trained on, and is often missed. A larger network input does not help
this model (trained at 300x300: measured slower *and* fewer people at 512x384). Cutting the
frame into overlapping tiles and running the same network on each tile magnifies far people
instead, at the price of one more network pass per tile.

:class:`TiledDetector` wraps any :class:`~mot_ros.detection.Detector` (it only calls
``base.detect`` on image views), so every backend gains tiling the same way:

1. run ``base`` on the full frame (the only pass that sees people larger than a tile, e.g.
   someone standing in front of the robot) and on a ``cols x rows`` grid of tiles that overlap
   by ``overlap`` of the tile size, each resized to the network input by the base detector;
2. shift each tile's boxes by the tile's origin (exact: tiles have integer pixel origins and
   the base detector reports pixels of the image it was given);
3. drop a tile box that touches an inner tile border (the object is cut) when another pass --
   the full frame or a neighbouring tile -- has a box of the same class, not cut itself, that
   covers most of it and lines up with it on its uncut sides: that pass saw the whole object;
4. per-class NMS over everything left, with the base configuration's ``nms_threshold``.

Costs and gains measured on the sample video are in :class:`~mot_ros.detection.DetectorConfig`
and ``scripts/bench_detector.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mot_ros.detection.config import (
    MAX_TILES_PER_AXIS,
    TILE_OVERLAP_RANGE,
    Detector,
    WrappedDetector,
    validate_image,
)
from mot_ros.types import Detections

#: A tile box whose edge is within this many pixels of an inner tile border counts as cut.
CUT_MARGIN_PX = 3.0
#: A cut box is dropped when an uncut box of another pass covers at least this share of it.
CUT_COVER_FRACTION = 0.6
#: ... and when that box spans the same extent along the axis the cut box is whole on.
CUT_ALIGN_IOU = 0.5


@dataclass(frozen=True)
class Window:
    """One detector pass: the region ``[x0, x1) x [y0, y1)`` of the frame, in pixels."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def _axis(length: int, count: int, overlap: float) -> list[tuple[int, int]]:
    """``count`` intervals of equal integer size covering ``[0, length)`` with neighbours
    sharing ``overlap`` of the size (rounding the origins may take one pixel off); the first
    starts at 0, the last ends at ``length``."""
    if count == 1:
        return [(0, length)]
    size = min(length, math.ceil(length / (count - (count - 1) * overlap)))
    span = length - size
    return [
        (round(i * span / (count - 1)), round(i * span / (count - 1)) + size) for i in range(count)
    ]


def tile_windows(width: int, height: int, grid: tuple[int, int], overlap: float) -> list[Window]:
    """The tiles of a ``width x height`` frame for ``grid=(cols, rows)``, row by row.

    Neighbouring tiles overlap by ``overlap`` of the tile size, so an object smaller than the
    overlap lies whole in at least one tile: choose it larger than the far people to be found
    (0.3 of a 576 px frame in 2 rows is 102 px; 0.2 is 64 px and cut 80 px tall walkers).
    """
    xs = _axis(width, grid[0], overlap)
    ys = _axis(height, grid[1], overlap)
    return [Window(x0, y0, x1, y1) for y0, y1 in ys for x0, x1 in xs]


def check_grid(grid: tuple[int, int], overlap: float) -> tuple[int, int]:
    """``grid`` as a ``(columns, rows)`` pair of ints, or ``ValueError`` naming the bad value
    (the same ranges as :class:`~mot_ros.detection.DetectorConfig`)."""
    try:
        cols, rows = grid
    except (TypeError, ValueError):
        raise ValueError(f"grid must be a pair (columns, rows), but got {grid!r}") from None
    for name, n in (("tile_columns", cols), ("tile_rows", rows)):
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_TILES_PER_AXIS:
            raise ValueError(
                f"{name} must be an integer in [1, {MAX_TILES_PER_AXIS}], but got {n!r}"
            )
    lo, hi = TILE_OVERLAP_RANGE
    if isinstance(overlap, bool) or not isinstance(overlap, int | float) or not lo <= overlap <= hi:
        raise ValueError(f"tile_overlap must be in [{lo}, {hi}], but got {overlap!r}")
    return cols, rows


class TiledDetector(WrappedDetector):
    """A detector that runs ``base`` on the full frame and on overlapping tiles.

    ``grid=(cols, rows)``; ``(1, 1)`` makes this a pass-through (exactly ``base``'s output).
    ``nms_threshold`` defaults to ``base.config.nms_threshold`` when the base has a config,
    else 0.45. Like the backends it wraps, not thread-safe unless ``base`` is.

    Cost: ``1 + cols * rows`` network passes per frame (the full frame included); measured on
    the sample video 2x1 took ~2.8x and 2x2 ~4.5x the time of the full frame alone. Tile
    detections keep the base's scores and threshold; the network is more confident on
    magnified people, so tiling finds more at the same threshold -- and the odd object that
    only looks like a person when magnified (a traffic cone at 0.30).
    """

    def __init__(
        self,
        base: Detector,
        grid: tuple[int, int] = (2, 1),
        overlap: float = 0.3,
        nms_threshold: float | None = None,
        full_frame: bool = True,
    ) -> None:
        self.grid = check_grid(grid, overlap)
        self.overlap = float(overlap)
        self.base = base
        #: Run the full frame too (the only pass that sees objects larger than a tile). Off
        #: only for a single row of full-height tiles, which already see anything as tall as
        #: the frame whole if it is narrower than the overlap.
        self.full_frame = bool(full_frame)
        if nms_threshold is None:
            config = getattr(base, "config", None)
            nms_threshold = float(getattr(config, "nms_threshold", 0.45))
        if not 0.0 < nms_threshold <= 1.0:
            raise ValueError(f"nms_threshold must be in (0, 1], but got {nms_threshold!r}")
        self.nms_threshold = nms_threshold

    @property
    def enabled(self) -> bool:
        return self.grid != (1, 1)

    def windows(self, width: int, height: int) -> list[Window]:
        """Every pass for a frame of this size: the full frame first, then the tiles."""
        full = Window(0, 0, width, height)
        if not self.enabled:
            return [full]
        tiles = tile_windows(width, height, self.grid, self.overlap)
        return [full, *tiles] if self.full_frame else tiles

    def passes(self, image_bgr: np.ndarray) -> list[tuple[Window, Detections]]:
        """Each pass's detections, already shifted to frame pixels, before merging."""
        image = validate_image(image_bgr)
        h, w = image.shape[:2]
        out = []
        for win in self.windows(w, h):
            dets = self.base.detect(image[win.y0 : win.y1, win.x0 : win.x1])
            if win.x0 or win.y0:
                shift = np.array([win.x0, win.y0, win.x0, win.y0], np.float64)
                dets = Detections(dets.xyxy + shift, dets.scores, dets.class_names)
            out.append((win, dets))
        return out

    def detect(self, image_bgr: np.ndarray) -> Detections:
        """Merged detections in pixels of ``image_bgr``, best first."""
        if not self.enabled:
            return self.base.detect(image_bgr)
        image = validate_image(image_bgr)
        h, w = image.shape[:2]
        return merge_passes(self.passes(image), w, h, self.nms_threshold)


def _cut_axes(xyxy: np.ndarray, win: Window, width: int, height: int) -> np.ndarray:
    """``(N, 2)`` bools: is each box of a pass over ``win`` cut along x (touches the tile's
    left or right border inside the frame) and along y (top or bottom)."""
    m = CUT_MARGIN_PX
    cut = np.zeros((len(xyxy), 2), bool)
    if win.x0 > 0:
        cut[:, 0] |= xyxy[:, 0] <= win.x0 + m
    if win.x1 < width:
        cut[:, 0] |= xyxy[:, 2] >= win.x1 - m
    if win.y0 > 0:
        cut[:, 1] |= xyxy[:, 1] <= win.y0 + m
    if win.y1 < height:
        cut[:, 1] |= xyxy[:, 3] >= win.y1 - m
    return cut


def _interval_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of 1-D intervals ``[a0, a1]`` (rows of ``a``) with one interval ``b``."""
    inter = np.clip(np.minimum(a[:, 1], b[1]) - np.maximum(a[:, 0], b[0]), 0.0, None)
    return inter / ((a[:, 1] - a[:, 0]) + (b[1] - b[0]) - inter)


def merge_passes(
    passes: list[tuple[Window, Detections]], width: int, height: int, nms_threshold: float
) -> Detections:
    """One set of detections from several passes over one ``width x height`` frame.

    A cut box (see the module doc) is dropped when a box of the same class from another pass,
    not cut itself, covers :data:`CUT_COVER_FRACTION` of it and spans the same extent along
    every axis the cut box is not cut on (interval IoU >= :data:`CUT_ALIGN_IOU`): a box
    around two people walking side by side covers a cut box of one of them, but is twice as
    wide, so that partial person is kept. Then per-class greedy NMS at ``nms_threshold``
    keeps the best-scoring box of each overlap group.
    """
    xyxy = np.concatenate([d.xyxy for _, d in passes]).reshape(-1, 4)
    if len(xyxy) == 0:
        return Detections.empty()
    scores = np.concatenate([d.scores for _, d in passes])
    names = tuple(n for _, d in passes for n in d.class_names)
    source = np.concatenate([np.full(len(d), k) for k, (_, d) in enumerate(passes)])
    cut_axes = np.concatenate([_cut_axes(d.xyxy, w, width, height) for w, d in passes])
    cut = cut_axes.any(axis=1)
    labels = np.array(names, dtype=object)

    keep = np.ones(len(xyxy), bool)
    area = np.prod(xyxy[:, 2:] - xyxy[:, :2], axis=1)
    for i in np.flatnonzero(cut):
        whole = np.flatnonzero((~cut) & (source != source[i]) & (labels == labels[i]))
        if len(whole) == 0:
            continue
        tl = np.maximum(xyxy[whole, :2], xyxy[i, :2])
        br = np.minimum(xyxy[whole, 2:], xyxy[i, 2:])
        same = np.prod(np.clip(br - tl, 0.0, None), axis=1) >= CUT_COVER_FRACTION * area[i]
        for axis in (0, 1):
            if not cut_axes[i, axis]:
                span = xyxy[whole][:, [axis, axis + 2]]
                same &= _interval_iou(span, xyxy[i, [axis, axis + 2]]) >= CUT_ALIGN_IOU
        keep[i] = not same.any()
    idx = np.flatnonzero(keep)
    idx = idx[_nms_per_class(xyxy[idx], scores[idx], labels[idx], nms_threshold)]
    return Detections(xyxy[idx], scores[idx], tuple(names[i] for i in idx))


def _nms_per_class(
    xyxy: np.ndarray, scores: np.ndarray, labels: np.ndarray, threshold: float
) -> np.ndarray:
    """Indices kept by greedy per-class NMS, best score first (ties keep input order).

    Plain IoU on purpose: a rule that also merged boxes nested in boxes of another pass
    (tried: 80 % of the smaller box inside the larger) removed as many right boxes as wrong
    ones on the sample video -- a tile's tight box on one of two people walking side by side
    lost to the full frame's box around both as often as the reverse.
    """
    order = np.argsort(-scores, kind="stable")
    area = np.prod(xyxy[:, 2:] - xyxy[:, :2], axis=1)
    suppressed = np.zeros(len(xyxy), bool)
    kept = []
    for i in order:
        if suppressed[i]:
            continue
        kept.append(i)
        tl = np.maximum(xyxy[:, :2], xyxy[i, :2])
        br = np.minimum(xyxy[:, 2:], xyxy[i, 2:])
        inter = np.prod(np.clip(br - tl, 0.0, None), axis=1)
        iou = inter / (area + area[i] - inter)
        suppressed |= (iou > threshold) & (labels == labels[i])
    return np.array(kept, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Geometry chosen from the image size and a time budget
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TilePlan:
    """A tiling chosen for one image size: ``grid`` (cols, rows), ``full_frame``, the number
    of network ``passes``, the expected ``cost_ms`` and ``magnification`` (network pixels per
    image pixel of one pass, geometric mean of x and y: what makes a far person larger)."""

    grid: tuple[int, int]
    full_frame: bool
    passes: int
    cost_ms: float
    magnification: float


def _tile_size(length: int, count: int, overlap: float) -> int:
    return (
        length if count == 1 else min(length, math.ceil(length / (count - (count - 1) * overlap)))
    )


def plan_tiles(
    width: int,
    height: int,
    input_size: tuple[int, int],
    pass_ms: float,
    budget_ms: float,
    overlap: float = 0.3,
) -> TilePlan:
    """The most magnifying tiling of a ``width x height`` image whose ``passes * pass_ms``
    fits in ``budget_ms`` (the full frame alone when nothing else fits).

    Candidates have roughly square tiles (``cols ~ rows * width / height``): a square network
    input then sees people at their true aspect instead of squeezed sideways, which is most of
    what a 16:9 frame loses when stretched into 300x300. A grid of one row also comes without
    the full frame: its tiles span the full height, so a near person is whole in one of them
    when narrower than the overlap. Ties go to fewer passes.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, but got {width}x{height}")
    if not pass_ms > 0 or not math.isfinite(pass_ms):
        raise ValueError(f"pass_ms must be a positive number, but got {pass_ms!r}")
    in_w, in_h = input_size

    def magnification(tile_w: int, tile_h: int) -> float:
        return math.sqrt((in_w / tile_w) * (in_h / tile_h))

    best = TilePlan((1, 1), True, 1, pass_ms, magnification(width, height))
    for rows in range(1, MAX_TILES_PER_AXIS + 1):
        ideal = rows * width / height
        for cols in {max(1, math.floor(ideal)), max(1, math.ceil(ideal)), math.ceil(ideal) + 1}:
            if cols > MAX_TILES_PER_AXIS or (cols, rows) == (1, 1):
                continue
            tw, th = _tile_size(width, cols, overlap), _tile_size(height, rows, overlap)
            gain = magnification(tw, th)
            options = [True] if rows > 1 else [False, True]
            for full in options:
                passes = cols * rows + (1 if full else 0)
                cost = passes * pass_ms
                if cost > budget_ms:
                    continue
                better = gain > best.magnification + 1e-9 or (
                    abs(gain - best.magnification) <= 1e-9 and passes < best.passes
                )
                if better:
                    best = TilePlan((cols, rows), full, passes, cost, gain)
    return best


class AutoTiledDetector(WrappedDetector):
    """Tiles laid out from the image size within a time budget (``time_budget_ms``).

    On the first frame of each size it times one full-frame pass of ``base`` (median of three)
    and picks :func:`plan_tiles`'s plan; the plan then stays fixed for that size, so the
    output does not change with the machine's momentary load. ``plan`` holds the current one.
    """

    def __init__(
        self,
        base: Detector,
        time_budget_ms: float,
        overlap: float = 0.3,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        if not time_budget_ms > 0:
            raise ValueError(f"time_budget_ms must be > 0, but got {time_budget_ms!r}")
        check_grid((1, 1), overlap)
        self.base = base
        self.time_budget_ms = float(time_budget_ms)
        self.overlap = float(overlap)
        if input_size is None:
            input_size = getattr(base, "input_size", None)
        if input_size is None:
            config = getattr(base, "config", None)
            input_size = (getattr(config, "input_width", 300), getattr(config, "input_height", 300))
        self.input_size = tuple(input_size)
        self.plan: TilePlan | None = None
        self._size: tuple[int, int] | None = None
        self._tiled: TiledDetector | None = None

    def _replan(self, image: np.ndarray) -> None:
        import time

        times = []
        for _ in range(3):
            start = time.perf_counter()
            self.base.detect(image)
            times.append(1000.0 * (time.perf_counter() - start))
        h, w = image.shape[:2]
        self.plan = plan_tiles(
            w, h, self.input_size, float(np.median(times)), self.time_budget_ms, self.overlap
        )
        self._tiled = TiledDetector(
            self.base, self.plan.grid, self.overlap, full_frame=self.plan.full_frame
        )
        self._size = (w, h)

    def detect(self, image_bgr: np.ndarray) -> Detections:
        image = validate_image(image_bgr)
        if (image.shape[1], image.shape[0]) != self._size:
            self._replan(image)
        return self._tiled.detect(image)  # type: ignore[union-attr]
