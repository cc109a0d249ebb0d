#!/usr/bin/env python3
"""Compare the detector backends on the sample video: speed, detections, numerical agreement.

For each backend (OpenCV DNN classic engine, OpenCV DNN default engine, onnxruntime) x network
input size x thread count it prints the median and 90th-percentile time of a whole
``detect()`` call (resize, network, decoding, NMS) over ``--frames`` frames of vtest.avi, the
detections per frame at the default threshold, and the largest difference from an independent
float64 NumPy evaluation of the frozen graph (:mod:`mot_ros.detection.formats.ssd_reference`), on
normalised box
coordinates and on scores, over all anchors of ``--reference-frames`` frames -- for all heads
and for all but the last head (the one OpenCV computes wrongly).

``recall@300`` is the share of the 300x300 onnxruntime detections that a configuration also
finds (IoU >= 0.5): the vtest video has no ground truth here, so this is a proxy for what a
larger input gains or loses, next to detections/frame.

A second table compares tiling (:mod:`mot_ros.detection.tiling`: the full frame plus a grid of
overlapping tiles, onnxruntime at 300x300 with 2 threads): the same timings and detections per
frame, the recall and precision (IoU >= 0.5) against the 21 hand-checked people of
``test/fixtures/detector/vtest_people.json``, and what the extra detections cost the tracker
(``MultiObjectTracker.update`` median ms and confirmed tracks per frame, detector every frame).

Timings depend on what else runs on the machine: the load average is printed with the table.

    python scripts/bench_detector.py --frames 150
    python scripts/bench_detector.py --tables tiles --tiles 1x1,2x1,2x2,3x2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mot_ros.tracking.association import iou_matrix  # noqa: E402

PEOPLE = ROOT / "test" / "fixtures" / "detector" / "vtest_people.json"

BACKENDS = {
    "opencv-classic": ("opencv", "classic"),
    "opencv-default": ("opencv", "auto"),
    "onnxruntime": ("onnxruntime", None),
}


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 300x300, got {text!r}") from None
    return w, h


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        raise SystemExit(f"cannot read frames from {path}")
    return frames


def read_frames_at(path: Path, indices: list[int]) -> dict[int, np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = {}
    for index in indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        if not ok:
            raise SystemExit(f"cannot read frame {index} of {path}")
        frames[index] = frame
    cap.release()
    return frames


def match_counts(boxes: np.ndarray, truth: np.ndarray, min_iou: float = 0.5) -> int:
    """True positives of greedy one-to-one matching, detections best first (as the tests)."""
    if len(boxes) == 0 or len(truth) == 0:
        return 0
    ious = iou_matrix(boxes, truth)
    used = np.zeros(len(truth), bool)
    tp = 0
    for row in ious:
        row = np.where(used, -1.0, row)
        j = int(np.argmax(row))
        if row[j] >= min_iou:
            used[j] = True
            tp += 1
    return tp


def parse_tiles(text: str) -> tuple[int, int, float | None]:
    """``COLSxROWS`` or ``COLSxROWS@OVERLAP``."""
    grid, _, overlap = text.partition("@")
    cols, rows = parse_size(grid)
    return cols, rows, float(overlap) if overlap else None


def tiling_rows(frames, video: Path, grids, overlap: float, fixture: bool) -> list[tuple]:
    """One row per grid: timing, detections, fixture recall/precision, tracker cost.

    The detectors are timed interleaved (every configuration on frame 1, then on frame 2, ...)
    so that load from other processes on a shared machine hits them alike."""
    from mot_ros.detection.config import DetectorConfig
    from mot_ros.detection.factory import create_detector
    from mot_ros.tracking.tracker import MultiObjectTracker, TrackerConfig

    people = json.loads(PEOPLE.read_text())["frames"] if fixture else {}
    checked = read_frames_at(video, [int(k) for k in people])
    configs = [
        DetectorConfig(
            preset="person_ssdlite",
            tile_columns=c,
            tile_rows=r,
            tile_overlap=overlap if o is None else o,
        )
        for c, r, o in grids
    ]
    detectors = [create_detector(config) for config in configs]
    for det in detectors:
        for frame in frames[:5]:
            det.detect(frame)
    times = [[] for _ in detectors]
    results = [[] for _ in detectors]
    for frame in frames:
        for k, det in enumerate(detectors):
            t0 = time.perf_counter()
            results[k].append(det.detect(frame))
            times[k].append(time.perf_counter() - t0)
    rows = []
    for config, det, det_times, dets_per_frame in zip(
        configs, detectors, times, results, strict=True
    ):
        tp = n_dets = n_truth = 0
        for key, truth in people.items():
            dets = det.detect(checked[int(key)])
            tp += match_counts(dets.xyxy, np.array([p["xyxy"] for p in truth], np.float64))
            n_dets, n_truth = n_dets + len(dets), n_truth + len(truth)
        tracker = MultiObjectTracker(TrackerConfig())
        track_times, shown = [], []
        for frame, dets in zip(frames, dets_per_frame, strict=True):
            t0 = time.perf_counter()
            shown.append(len(tracker.update(frame, dets)))
            track_times.append(time.perf_counter() - t0)
        grid = (config.tile_columns, config.tile_rows)
        off = grid == (1, 1)
        rows.append(
            (
                "1x1 (off)" if off else f"{grid[0]}x{grid[1]}@{config.tile_overlap:g}",
                1 if off else 1 + grid[0] * grid[1],
                1000 * np.median(det_times),
                1000 * np.percentile(det_times, 90),
                np.mean([len(d) for d in dets_per_frame]),
                f"{tp}/{n_truth}" if n_truth else "-",
                f"{tp}/{n_dets}" if n_truth else "-",
                1000 * np.median(track_times),
                np.mean(shown),
                tracker.tracks_confirmed,
            )
        )
    return rows


def decoded(boxes: np.ndarray, logits: np.ndarray, anchors: np.ndarray, post):
    from mot_ros.detection.ssd_decoding import decode_boxes

    return decode_boxes(boxes, anchors, post.box_coder_scales), post.scores(logits)[:, 1:]


def make_detector(backend: str, size: tuple[int, int], threads: int):
    from mot_ros.detection.config import DetectorConfig
    from mot_ros.detection.onnx_backend import OnnxSsdDetector
    from mot_ros.detection.opencv_backend import OpenCvSsdDetector

    kind, engine = BACKENDS[backend]
    w, h = size
    if kind == "onnxruntime":
        return OnnxSsdDetector(
            DetectorConfig(
                preset="person_ssdlite", input_width=w, input_height=h, num_threads=threads
            )
        )
    return OpenCvSsdDetector(
        DetectorConfig(
            preset="person_ssdlite",
            input_width=w,
            input_height=h,
            num_threads=threads,
            engine=engine,
        )
    )


def backend_table(frames, video_name: str, sizes, threads, backends, reference_frames: int):
    """The backend x input size x threads table (timing, detections, agreement)."""
    from mot_ros.data import default_model_path
    from mot_ros.detection.formats.ssd_reference import SsdReference

    ref_frames = frames[:: max(1, len(frames) // max(1, reference_frames))]
    ref_frames = ref_frames[:reference_frames]
    reference = SsdReference(default_model_path())
    load_before = os.getloadavg()

    # Per size: the reference (float64 NumPy) decoded on a few frames, and the 300x300
    # onnxruntime detections that recall@300 is measured against.
    per_size = {}
    baseline = None
    for size in sizes:
        probe = make_detector("onnxruntime", size, 2)
        blobs = [probe.preprocess(f) for f in ref_frames]
        refs = []
        for blob in blobs:
            heads = reference.numpy_heads(blob)
            boxes = np.concatenate([h.boxes for h in heads])
            logits = np.concatenate([h.logits for h in heads])
            refs.append(decoded(boxes, logits, probe.anchors, probe.postprocess))
        last_count = heads[-1].boxes.shape[0]
        per_size[size] = (probe, blobs, refs, last_count)
        if size == (300, 300):
            baseline = [probe.detect(f) for f in frames]

    rows = []
    for backend in backends:
        for size in sizes:
            probe, blobs, refs, last_count = per_size[size]
            # Agreement: the backend's own raw heads on the reference frames.
            diffs = []
            if backend == "onnxruntime":
                raw = [probe.raw_outputs(b) for b in blobs]
            else:
                net = reference.opencv_net(BACKENDS[backend][1])
                raw = []
                for blob in blobs:
                    heads, _ = reference.opencv_heads(net, blob)
                    raw.append(
                        (
                            np.concatenate([h.boxes for h in heads]),
                            np.concatenate([h.logits for h in heads]),
                        )
                    )
            for (boxes, logits), (ref_boxes, ref_scores) in zip(raw, refs, strict=True):
                got_boxes, got_scores = decoded(boxes, logits, probe.anchors, probe.postprocess)
                db = np.abs(got_boxes - ref_boxes)
                ds = np.abs(got_scores - ref_scores)
                diffs.append((db.max(), ds.max(), db[:-last_count].max(), ds[:-last_count].max()))
            diff = np.max(np.array(diffs), axis=0)
            for n_threads in threads:
                det = make_detector(backend, size, n_threads)
                for frame in frames[:5]:
                    det.detect(frame)
                times, counts, found = [], [], 0
                for k, frame in enumerate(frames):
                    t0 = time.perf_counter()
                    dets = det.detect(frame)
                    times.append(time.perf_counter() - t0)
                    counts.append(len(dets))
                    if baseline is not None and len(baseline[k]) and len(dets):
                        found += int(
                            (iou_matrix(baseline[k].xyxy, dets.xyxy).max(axis=1) >= 0.5).sum()
                        )
                total = sum(len(b) for b in baseline) if baseline is not None else 0
                rows.append(
                    (
                        backend,
                        f"{size[0]}x{size[1]}",
                        n_threads,
                        1000 * np.median(times),
                        1000 * np.percentile(times, 90),
                        np.mean(counts),
                        found / total if total else float("nan"),
                        *diff,
                    )
                )
                del det

    header = (
        "backend",
        "input",
        "thr",
        "median ms",
        "p90 ms",
        "dets/frame",
        "recall@300",
        "max|dbox|",
        "max|dscore|",
        "dbox h0-4",
        "dscore h0-4",
    )
    print(
        f"{len(frames)} frames of {video_name} ({frames[0].shape[1]}x{frames[0].shape[0]}); "
        f"reference: float64 "
        f"NumPy on {len(ref_frames)} frames; load average before/after "
        f"{load_before[0]:.2f}/{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print_table(header, rows, "{} {} {} {:.1f} {:.1f} {:.2f} {:.2f} {:.1e} {:.1e} {:.1e} {:.1e}")


MOT15_PETS_GT = Path("~/.cache/mot_ros/mot15/PETS09-S2L1/gt/gt.txt").expanduser()

#: The models table: (label, preset, backend, threads, extra DetectorConfig fields).
MODEL_ROWS = (
    ("person_ssdlite", "person_ssdlite", "onnxruntime", 2, {}),
    ("person_ssdlite", "person_ssdlite", "onnxruntime", 1, {}),
    ("oidv4", "oidv4", "litert", 2, {}),
    ("oidv4", "oidv4", "litert", 1, {}),
    ("oidv4", "oidv4", "onnxruntime", 2, {}),
    ("oidv4", "oidv4", "onnxruntime", 1, {}),
    ("coco", "coco", "litert", 2, {}),
    ("coco", "coco", "litert", 1, {}),
)


def person_class(names: tuple[str, ...]) -> str:
    return next(n for n in names if n.lower() == "person")


def read_gt_boxes(path: Path) -> dict[int, np.ndarray]:
    """MOT ground truth as ``{frame (0-based): (N, 4) x1, y1, x2, y2}``."""
    from mot_ros.evaluation.mot_io import read_ground_truth

    out = {}
    for frame, rows in read_ground_truth(path).items():
        # MOT files count pixels from 1; detector boxes from 0
        boxes = [
            (r.left - 1, r.top - 1, r.left - 1 + r.width, r.top - 1 + r.height)
            for r in rows
            if r.consider
        ]
        out[frame - 1] = np.array(boxes, np.float64).reshape(-1, 4)
    return out


def score_frames(per_frame, truth: dict[int, np.ndarray], person: str, min_iou=0.5):
    """(true positives, ground-truth boxes, person detections) summed over frames."""
    tp = n_truth = n_dets = 0
    for index, dets in per_frame.items():
        gt = truth.get(index, np.zeros((0, 4)))
        mine = dets.xyxy[[n == person for n in dets.class_names]]
        tp += match_counts(mine, gt, min_iou)
        n_truth += len(gt)
        n_dets += len(mine)
    return tp, n_truth, n_dets


def models_table(
    video: Path, gt: Path | None, step: int, max_frames: int, thresholds, model_rows=MODEL_ROWS
) -> None:
    """Each preset x backend x threads: ms per frame and person recall/precision against a
    MOT15 ground truth (every ``step``-th frame)."""
    import cv2

    from mot_ros.detection.config import DetectorConfig
    from mot_ros.detection.factory import create_detector

    truth = read_gt_boxes(gt) if gt is not None and gt.is_file() else None
    cap = cv2.VideoCapture(str(video))
    frames = {}
    index = 0
    while len(frames) < max_frames:
        ok, frame = cap.read()
        if not ok:
            break
        if index % step == 0:
            frames[index] = frame
        index += 1
    cap.release()
    detectors = []
    for label, preset, backend, n_threads, extra in model_rows:
        config = DetectorConfig(preset=preset, backend=backend, num_threads=n_threads, **extra)
        det = create_detector(config)
        det.threshold = min([config.confidence_threshold, *thresholds])
        detectors.append((label, config, det))
    load_before = os.getloadavg()
    times = [[] for _ in detectors]
    results = [{} for _ in detectors]
    for k, frame in frames.items():
        for j, (_, _, det) in enumerate(detectors):  # interleaved: load hits all alike
            t0 = time.perf_counter()
            results[j][k] = det.detect(frame)
            times[j].append(time.perf_counter() - t0)
    rows = []
    for (label, config, det), t, res in zip(detectors, times, results, strict=True):
        person = person_class(det.class_names)
        for thr in sorted({config.confidence_threshold, *thresholds}):
            if config.num_threads != 2 and thr != config.confidence_threshold:
                continue
            kept = {
                k: d.__class__(
                    d.xyxy[d.scores >= thr],
                    d.scores[d.scores >= thr],
                    tuple(n for n, s in zip(d.class_names, d.scores, strict=True) if s >= thr),
                )
                for k, d in res.items()
            }
            tp, n_truth, n_dets = score_frames(kept, truth, person) if truth else (0, 0, 0)
            rows.append(
                (
                    label + (" (preset)" if thr == config.confidence_threshold else ""),
                    config.backend,
                    config.num_threads,
                    f"{thr:.2f}",
                    1000 * np.median(t),
                    1000 * np.percentile(t, 90),
                    f"{100 * tp / n_truth:.1f}" if n_truth else "-",
                    f"{100 * tp / n_dets:.1f}" if n_dets else "-",
                    np.mean([len(d) for d in kept.values()]),
                )
            )
    print(
        f"\nmodels: {len(frames)} frames of {video.name} (every {step}th), person class vs "
        f"{'MOT15 ' + str(gt) if truth else 'no ground truth'} (IoU >= 0.5, per frame); "
        f"timings interleaved, whole detect() call; load average before/after "
        f"{load_before[0]:.2f}/{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    header = (
        "model",
        "backend",
        "thr",
        "score >=",
        "median ms",
        "p90 ms",
        "recall %",
        "precision %",
        "dets/frame",
    )
    print_table(header, rows, "{} {} {} {} {:.1f} {:.1f} {} {} {:.2f}")


MOT15 = Path("~/.cache/mot_ros/mot15").expanduser()
#: Footage for the high-resolution table: (name, video, gt.txt). TUD-Stadtmitte was not used to
#: choose any parameter; PETS09-S2L1 (the sample video) chose the oidv4 threshold.
HIGHRES_SOURCES = (
    ("PETS09-S2L1", None, MOT15 / "PETS09-S2L1" / "gt" / "gt.txt"),
    (
        "TUD-Stadtmitte",
        MOT15 / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4",
        MOT15 / "TUD-Stadtmitte" / "gt" / "gt.txt",
    ),
)
#: High-resolution table rows: (label, preset, time budget in ms or None for the full frame).
#: The tiles are planned by mot_ros.detection.tiling.plan_tiles for --pass-ms per pass (what
#: one pass costs on an idle machine), so the table does not depend on the load at start-up;
#: the "measured" row lets the node's AutoTiledDetector time the pass itself.
HIGHRES_ROWS = (
    ("person_ssdlite", "person_ssdlite", None),
    ("person_ssdlite", "person_ssdlite", 40.0),
    ("person_ssdlite", "person_ssdlite", 120.0),
    ("oidv4", "oidv4", None),
    ("oidv4", "oidv4", 40.0),
    ("oidv4", "oidv4", 120.0),
    ("oidv4 (measured)", "oidv4", "auto40"),
)


def mosaic_footage(video: Path, gt: Path, grid: tuple[int, int], tile: tuple[int, int], count: int):
    """Labelled high-resolution frames made from a labelled video: a ``cols x rows`` mosaic of
    its frames, each resized to ``tile`` (``w, h``), panel ``q`` showing frame
    ``t + q * N / (cols * rows)`` so the panels differ; the ground truth is moved with them.
    Yields ``(image, (K, 4) boxes)`` for ``count`` frames spread over the video."""
    import cv2

    truth = read_gt_boxes(gt)
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    n = len(frames)
    cols, rows = grid
    tw, th = tile
    panels = cols * rows
    for t in np.linspace(0, n - 1, count).astype(int):
        image = np.zeros((th * rows, tw * cols, 3), np.uint8)
        boxes = []
        for q in range(panels):
            f = (t + q * n // panels) % n
            x0, y0 = (q % cols) * tw, (q // cols) * th
            src = frames[f]
            sx, sy = tw / src.shape[1], th / src.shape[0]
            image[y0 : y0 + th, x0 : x0 + tw] = cv2.resize(
                src, (tw, th), interpolation=cv2.INTER_AREA
            )
            gt_f = truth.get(f, np.zeros((0, 4)))
            boxes.append(gt_f * [sx, sy, sx, sy] + [x0, y0, x0, y0])
        yield image, np.concatenate(boxes).reshape(-1, 4)


def highres_table(count: int, far_px: float, pass_ms: float) -> None:
    """Detector quality and time on 1280x960 and 1920x1440 footage with ground truth."""
    from mot_ros.detection.config import DetectorConfig
    from mot_ros.detection.factory import create_detector
    from mot_ros.detection.tiling import AutoTiledDetector, TiledDetector, plan_tiles

    layouts = (((2, 2), (640, 480)), ((3, 3), (640, 480)))
    load_before = os.getloadavg()
    rows = []
    for name, video, gt in HIGHRES_SOURCES:
        if not gt.is_file():
            print(f"(skipping {name}: no ground truth at {gt})")
            continue
        if video is None:
            from mot_ros.data import sample_video_path

            video = sample_video_path()
        for grid, tile in layouts:
            footage = list(mosaic_footage(video, gt, grid, tile, count))
            size = f"{footage[0][0].shape[1]}x{footage[0][0].shape[0]}"
            for label, preset, budget in HIGHRES_ROWS:
                config = DetectorConfig(preset=preset)
                base = create_detector(config)
                h, w = footage[0][0].shape[:2]
                if budget is None:
                    det, plan, what = base, None, "full frame"
                elif budget == "auto40":
                    det = AutoTiledDetector(base, 40.0, config.tile_overlap)
                    det.detect(footage[0][0])
                    plan, what = det.plan, "budget 40 ms, pass timed here"
                else:
                    plan = plan_tiles(w, h, (300, 300), pass_ms, budget, config.tile_overlap)
                    det = TiledDetector(
                        base, plan.grid, config.tile_overlap, full_frame=plan.full_frame
                    )
                    what = f"budget {budget:g} ms at {pass_ms:g} ms/pass"
                label = f"{label}, {what}"
                det.detect(footage[0][0])  # warm-up
                times, tp, tp_far, n_truth, n_far, n_dets = [], 0, 0, 0, 0, 0
                for image, truth in footage:
                    t0 = time.perf_counter()
                    dets = det.detect(image)
                    times.append(time.perf_counter() - t0)
                    person = person_class(det.class_names)
                    mine = dets.xyxy[[n == person for n in dets.class_names]]
                    far = (truth[:, 3] - truth[:, 1]) < far_px
                    tp += match_counts(mine, truth)
                    tp_far += match_counts(mine, truth[far]) if far.any() else 0
                    n_truth, n_far, n_dets = (
                        n_truth + len(truth),
                        n_far + far.sum(),
                        n_dets + len(mine),
                    )
                rows.append(
                    (
                        name,
                        size,
                        label,
                        "-"
                        if plan is None
                        else f"{plan.grid[0]}x{plan.grid[1]}"
                        + ("+full" if plan.full_frame and plan.passes > 1 else ""),
                        1000 * np.median(times),
                        f"{100 * tp / max(n_truth, 1):.1f}",
                        f"{100 * tp_far / max(n_far, 1):.1f} ({n_far})",
                        f"{100 * tp / max(n_dets, 1):.1f}",
                    )
                )
    print(
        f"\nhigh resolution: mosaics of labelled MOT15 videos (panels 640x480, {count} frames "
        f"each), person class, IoU >= 0.5; far = ground-truth boxes under {far_px:g} px tall; "
        f"2 threads; load average before/after {load_before[0]:.2f}/{os.getloadavg()[0]:.2f} "
        f"on {os.cpu_count()} CPUs"
    )
    header = (
        "footage",
        "size",
        "detector",
        "tiles",
        "median ms",
        "recall %",
        "far recall %",
        "precision %",
    )
    print_table(header, rows, "{} {} {} {} {:.1f} {} {} {}")


def print_table(header, rows, cell_formats: str) -> None:
    """A Markdown table; ``cell_formats`` holds one format spec per column, space-separated."""
    formats = cell_formats.split()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print("| " + " | ".join(f.format(v) for f, v in zip(formats, r, strict=True)) + " |")


def main(argv: list[str] | None = None) -> int:
    from mot_ros.detection.config import DetectorConfig

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=150, help="frames to time (default 150)")
    parser.add_argument("--video", type=Path, default=None, help="default: the sample video")
    parser.add_argument(
        "--sizes",
        default="300x300,512x384",
        help="network input sizes WxH, comma-separated (default 300x300,512x384)",
    )
    parser.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help=f"comma-separated subset of {', '.join(BACKENDS)}",
    )
    parser.add_argument(
        "--reference-frames",
        type=int,
        default=3,
        help="frames compared with the float64 NumPy reference (default 3; ~1-2 s each)",
    )
    parser.add_argument(
        "--tables",
        default="backends,models,highres,tiles",
        help="which tables: backends, models, highres, tiles (default all four)",
    )
    parser.add_argument(
        "--tiles",
        default="1x1,2x1,2x2,3x2",
        help="tile grids COLSxROWS[@OVERLAP] for the tiling table; 1x1 is the full frame "
        "only (default 1x1,2x1,2x2,3x2)",
    )
    parser.add_argument(
        "--tile-overlap",
        type=float,
        default=DetectorConfig().tile_overlap,
        help="tile overlap where --tiles gives none (default: the node's, %(default)s)",
    )
    parser.add_argument(
        "--gt",
        type=Path,
        default=MOT15_PETS_GT,
        help="MOT15 gt.txt of the sample video for the models table (default %(default)s)",
    )
    parser.add_argument("--gt-step", type=int, default=1, help="models table: every N-th frame")
    parser.add_argument(
        "--gt-frames", type=int, default=795, help="models table: at most this many frames"
    )
    parser.add_argument(
        "--thresholds",
        default="0.3,0.4,0.5",
        help="models table: score thresholds besides each preset's (2 threads only)",
    )
    parser.add_argument(
        "--highres-frames", type=int, default=40, help="high-resolution table: frames per mosaic"
    )
    parser.add_argument(
        "--far-px", type=float, default=80.0, help="high-resolution table: far = shorter than this"
    )
    parser.add_argument(
        "--pass-ms",
        type=float,
        default=16.5,
        help="high-resolution table: ms of one oidv4 pass the tiles are planned for "
        "(default %(default)s, measured on an idle machine)",
    )
    args = parser.parse_args(argv)
    tables = {t.strip() for t in args.tables.split(",") if t.strip()}
    if not tables or tables - {"backends", "tiles", "models", "highres"}:
        parser.error(f"--tables takes backends, tiles, models and/or highres, got {args.tables!r}")

    from mot_ros.data import sample_video_path

    sizes = [parse_size(s) for s in args.sizes.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    backends = [b.strip() for b in args.backends.split(",")]
    unknown = [b for b in backends if b not in BACKENDS]
    if unknown:
        parser.error(f"unknown backends {unknown}; choose from {', '.join(BACKENDS)}")
    frames = read_frames(args.video or sample_video_path(), args.frames)
    video = args.video or sample_video_path()
    if "backends" in tables:
        backend_table(
            frames, str(args.video or "vtest.avi"), sizes, threads, backends, args.reference_frames
        )
    if "highres" in tables:
        highres_table(args.highres_frames, args.far_px, args.pass_ms)
    if "models" in tables:
        thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
        models_table(video, args.gt, args.gt_step, args.gt_frames, thresholds)
        # footage no parameter was chosen on (640x480 street scenes, MOT15 ground truth)
        heldout_rows = [
            r for r in MODEL_ROWS if r[3] == 2 and (r[0] == "person_ssdlite" or r[2] == "litert")
        ]
        for name in ("TUD-Stadtmitte", "TUD-Campus"):
            held = MOT15 / name
            if (held / f"{name}.mp4").is_file() and (held / "gt" / "gt.txt").is_file():
                models_table(
                    held / f"{name}.mp4",
                    held / "gt" / "gt.txt",
                    1,
                    10000,
                    thresholds,
                    heldout_rows,
                )
    if "tiles" in tables:
        grids = [parse_tiles(g) for g in args.tiles.split(",") if g.strip()]
        fixture = args.video is None or video.name == "vtest.avi"
        load_before = os.getloadavg()
        rows = tiling_rows(frames, video, grids, args.tile_overlap, fixture)
        print(
            f"\ntiling: person_ssdlite, onnxruntime 300x300, 2 threads, COLSxROWS@overlap, "
            f"{len(frames)} frames; recall/precision on the hand-checked fixture frames"
            f"{'' if fixture else ' (not vtest.avi: skipped)'}; load average before/after "
            f"{load_before[0]:.2f}/{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
        )
        header = (
            "tiles",
            "passes",
            "median ms",
            "p90 ms",
            "dets/frame",
            "recall",
            "precision",
            "tracker ms",
            "tracks/frame",
            "track ids",
        )
        print_table(header, rows, "{} {} {:.1f} {:.1f} {:.2f} {} {} {:.2f} {:.2f} {}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
