#!/usr/bin/env python3
"""Tracker cost on the sample video: ms/frame of MultiObjectTracker.update alone.

The detector runs once per frame up front (its cost is measured by bench_detector.py);
then the tracker is timed over the same frames for several detection intervals, which is
where dlib's ~4 ms per object and frame is spent. Prints medians and p90 of one run,
with camera-motion compensation on (the default; its own median cost is the ``gmc ms``
column) and, for comparison, off (``--no-gmc`` rows), plus the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from mot_ros.data import default_model_path, sample_video_path  # noqa: E402
from mot_ros.detection.config import DetectorConfig  # noqa: E402
from mot_ros.detection.factory import create_detector  # noqa: E402
from mot_ros.tracking.tracker import MultiObjectTracker, TrackerConfig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--intervals", type=int, nargs="+", default=[1, 2, 3, 5])
    args = ap.parse_args()

    cap = cv2.VideoCapture(str(sample_video_path()))
    detector = create_detector(
        DetectorConfig(preset="person_ssdlite", model_path=str(default_model_path()))
    )
    frames, detections = [], []
    while len(frames) < args.frames:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
        detections.append(detector.detect(frame))
    cap.release()
    mean_dets = statistics.fmean(len(d) for d in detections)
    print(
        f"tracker on {len(frames)} frames of {sample_video_path().name} "
        f"({frames[0].shape[1]}x{frames[0].shape[0]}), {mean_dets:.1f} detections/frame"
    )
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        f"{'detect every':>12} {'gmc':>6} {'median ms':>10} {'p90 ms':>8} {'gmc ms':>7} "
        f"{'dlib upd/frame':>15} {'published/frame':>16} {'ids':>5}"
    )
    for interval in args.intervals:
        for gmc in (True, False):
            tracker = MultiObjectTracker(TrackerConfig(camera_motion_compensation=gmc))
            times, shown, gmc_ms = [], [], []
            for i, (frame, dets) in enumerate(zip(frames, detections, strict=True)):
                t0 = time.perf_counter()
                out = tracker.update(frame, dets if i % interval == 0 else None)
                times.append((time.perf_counter() - t0) * 1000.0)
                gmc_ms.append(tracker.camera_motion_ms)
                shown.append(len(out))
            print(
                f"{interval:>12} {'on' if gmc else 'off':>6} {statistics.median(times):>10.2f} "
                f"{float(np.percentile(times, 90)):>8.2f} {statistics.median(gmc_ms):>7.2f} "
                f"{tracker.dlib_updates / len(frames):>15.2f} {statistics.fmean(shown):>16.2f} "
                f"{tracker.tracks_confirmed:>5}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
