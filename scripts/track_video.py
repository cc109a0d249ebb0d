#!/usr/bin/env python3
"""Run the detector and the tracker over a video or an image folder; write MOTChallenge tracks.

    scripts/track_video.py --video ~/.cache/mot_ros/vtest.avi --out vtest_tracks.txt
    scripts/track_video.py --video MOT17-04/img1 --detections MOT17-04/det/det.txt \\
        --out MOT17-04.txt --gt MOT17-04/gt/gt.txt

``--video`` is a video file, or a folder of images in name order (a MOTChallenge sequence
folder with ``img1/000001.jpg ...`` works directly). Frames are numbered from 1 in that
order, as MOTChallenge does. With ``--detections`` the detector is not loaded: the boxes of
a ``det.txt`` drive the tracker (tracking-only mode, the way MOTChallenge's public-detection
track compares trackers on equal detections). Detector and tracker options are generated
from :data:`mot_ros.ros.parameters.PARAMETERS`, so they have the node's names (dashes for
underscores), defaults, ranges and validation.

The summary reports the median processing time per frame (detector + tracker; decoding and
file writing excluded) and, with ``--gt``, the MOT metrics of the run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

# scripts/ lives in the source checkout: its mot_ros, not an installed copy, is the one to run
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from mot_ros.evaluation.mot_io import MotFormatError, read_detections, tracks_to_rows, write_tracks
from mot_ros.ros.parameters import PARAMETERS, ParamSpec, build_config
from mot_ros.types import Detections

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
_CONFIG_TARGETS = ("detector", "tracker")


def iter_frames(source: Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """BGR frames of a video file or an image folder (``img1/`` inside it is preferred)."""
    import cv2

    limit = max_frames if max_frames is not None else float("inf")
    if source.is_dir():
        folder = source / "img1" if (source / "img1").is_dir() else source
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
        for count, path in enumerate(images):
            if count >= limit:
                return
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                raise OSError(f"cannot read image {path}")
            yield frame
        return
    if not source.is_file():
        raise FileNotFoundError(f"video not found: {source}")
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise OSError(f"OpenCV cannot open {source} as a video")
    try:
        count = 0
        while count < limit:
            ok, frame = capture.read()
            if not ok:
                break
            count += 1
            yield frame
    finally:
        capture.release()


def _option(spec: ParamSpec) -> str:
    return "--" + spec.field.replace("_", "-")


def _config_specs() -> list[ParamSpec]:
    specs = [p for p in PARAMETERS if p.target in _CONFIG_TARGETS]
    options = [_option(p) for p in specs]
    clashes = {o for o in options if options.count(o) > 1}
    if clashes:  # a new parameter would shadow another: fail loudly, not silently
        raise RuntimeError(f"detector and tracker parameters share option names: {clashes}")
    return specs


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    for target in _CONFIG_TARGETS:
        group = parser.add_argument_group(f"{target} options (ROS parameters {target}.*)")
        for spec in _config_specs():
            if spec.target != target:
                continue
            kwargs: dict = {"dest": spec.name, "default": None}
            help_text = spec.description.replace("%", "%%")
            if spec.choices:
                kwargs["choices"] = spec.choices
            if spec.min is not None or spec.max is not None:
                help_text += f" Range [{spec.min}, {spec.max}]."
            if isinstance(spec.default, bool):
                kwargs["action"] = argparse.BooleanOptionalAction
            elif isinstance(spec.default, list):
                kwargs["nargs"] = "*"
            else:
                kwargs["type"] = type(spec.default)
            if "action" not in kwargs:
                kwargs["metavar"] = spec.field.upper()
            names = [_option(spec)]
            if spec.name == "detector.confidence_threshold":
                names.append("--threshold")
            group.add_argument(*names, help=f"{help_text} Default: {spec.default!r}.", **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + "\n\n" + __doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--video", type=Path, required=True, help="video file or image folder")
    parser.add_argument("--out", type=Path, required=True, help="MOT tracks file to write")
    parser.add_argument(
        "--detections", type=Path, default=None,
        help="det.txt: track these fixed detections instead of running the detector",
    )  # fmt: skip
    parser.add_argument(
        "--min-det-score", type=float, default=None,
        help="with --detections: drop rows below this raw score",
    )  # fmt: skip
    parser.add_argument(
        "--clip-scores", action="store_true",
        help="with --detections: clamp scores outside [0, 1] (e.g. MOT17 DPM) instead of failing",
    )  # fmt: skip
    parser.add_argument(
        "--detect-every", type=int, default=1,
        help="run the detector (or use the file's detections) on every N-th frame; "
        "dlib carries the tracks in between (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    parser.add_argument(
        "--no-dlib", action="store_true",
        help="SORT-style baseline: a track missed by the detector is not carried by dlib "
        "(max_missed_detections=0, no correlation tracker, IoU-only matching; "
        "needs --detect-every 1)",
    )  # fmt: skip
    parser.add_argument(
        "--gt", type=Path, default=None, help="gt.txt: print MOT metrics at the end"
    )
    _add_config_options(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    values = {
        spec.name: getattr(args, spec.name)
        for spec in _config_specs()
        if getattr(args, spec.name) is not None
    }
    if args.no_dlib:
        if args.detect_every != 1:
            print(
                "error: --no-dlib needs --detect-every 1 (dlib bridges the gaps)", file=sys.stderr
            )
            return 2
        values["tracker.max_missed_detections"] = 0
        values["tracker.use_correlation_tracker"] = False
        values["tracker.appearance_weight"] = 0.0  # SORT matches on IoU alone
        values["tracker.appearance_gate"] = 1.0
        values["tracker.appearance_reid_distance"] = 0.0
    if args.detect_every < 1:
        print(f"error: --detect-every must be >= 1, got {args.detect_every}", file=sys.stderr)
        return 2
    try:
        if not args.video.exists():
            raise FileNotFoundError(f"video or image folder not found: {args.video}")
        config = build_config(values)
        fixed = None
        if args.detections is not None:
            fixed = read_detections(
                args.detections, min_score=args.min_det_score, clip_scores=args.clip_scores
            )
    except (ValueError, FileNotFoundError) as exc:  # MotFormatError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from mot_ros.tracking.tracker import MultiObjectTracker

    if fixed is None:
        from mot_ros.detection.factory import create_detector

        detector = create_detector(config.detector)
    tracker = MultiObjectTracker(config.tracker)

    frame_ms: list[float] = []
    detect_ms: list[float] = []
    rows_written = 0
    frames = 0
    try:
        with open(args.out, "w", encoding="utf-8") as out:
            for index, frame in enumerate(iter_frames(args.video, args.max_frames)):
                number = index + 1
                start = time.perf_counter()
                detections: Detections | None = None
                if index % args.detect_every == 0:
                    if fixed is None:
                        detections = detector.detect(frame)
                        detect_ms.append((time.perf_counter() - start) * 1e3)
                    else:
                        detections = fixed.get(number, Detections.empty())
                objects = tracker.update(frame, detections)
                frame_ms.append((time.perf_counter() - start) * 1e3)
                rows_written += write_tracks(out, tracks_to_rows(number, objects))
                frames = number
    except OSError as exc:  # unreadable image or video
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if frames == 0:
        print(f"error: no frames read from {args.video}", file=sys.stderr)
        return 2
    mode = f"detections from {args.detections}" if fixed is not None else "detector"
    print(f"source        {args.video} ({mode}, detect every {args.detect_every})")
    print(f"frames        {frames}")
    print(f"tracks        {tracker.tracks_started} started, {tracker.tracks_confirmed} confirmed")
    print(f"rows written  {rows_written} -> {args.out}")
    print(f"dlib          {tracker.dlib_starts} starts, {tracker.dlib_updates} updates")
    print(
        f"ms/frame      median {statistics.median(frame_ms):.1f}, "
        f"mean {statistics.fmean(frame_ms):.1f} (detector + tracker)"
    )
    if detect_ms:
        print(f"detector ms   median {statistics.median(detect_ms):.1f} per run")

    if args.gt is not None:
        from mot_ros.evaluation.metrics import evaluate_files, format_table

        try:
            metrics = evaluate_files(args.gt, args.out)
        except (MotFormatError, FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(format_table([(args.out.stem, metrics)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
