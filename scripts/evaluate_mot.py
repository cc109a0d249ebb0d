#!/usr/bin/env python3
"""Score one or more MOTChallenge tracker-results files against a ground-truth file.

    scripts/evaluate_mot.py --gt MOT17-04/gt/gt.txt --tracks a.txt --tracks b.txt

prints one table row per tracks file (MOTA, IDF1, MOTP, IDSW, FP, FN, recall, precision,
MT, ML, frames), using the MOTChallenge rules implemented in :mod:`mot_ros.evaluation.metrics`
(IoU >= 0.5, ignore regions from ``consider == 0`` rows, MOT16 class handling).
``--json`` writes the full figures for scripts and CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# scripts/ lives in the source checkout: its mot_ros, not an installed copy, is the one to run
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mot_ros.evaluation.metrics import EvaluationConfig, evaluate, format_table
from mot_ros.evaluation.mot_io import MotFormatError, read_ground_truth, read_tracks


def _names(paths: list[Path]) -> list[str]:
    """File stems, or full paths where stems would be ambiguous (a/tracks.txt, b/tracks.txt)."""
    stems = [p.stem for p in paths]
    return [s if stems.count(s) == 1 else str(p) for s, p in zip(stems, paths, strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gt", type=Path, required=True, help="ground truth (MOT16/17 gt.txt)")
    parser.add_argument(
        "--tracks", type=Path, action="extend", nargs="+", required=True,
        help="tracker results file(s); repeat the option or list several",
    )  # fmt: skip
    parser.add_argument(
        "--iou-threshold", type=float, default=EvaluationConfig.iou_threshold,
        help="minimum IoU for a match (default: %(default)s, the MOTChallenge value)",
    )  # fmt: skip
    parser.add_argument(
        "--no-mot16-classes", action="store_true",
        help="score every consider=1 row regardless of its class column",
    )  # fmt: skip
    parser.add_argument(
        "--num-frames", type=int, default=None,
        help="sequence length (seqLength); default: the last frame in either file",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    try:
        config = EvaluationConfig(
            iou_threshold=args.iou_threshold, mot16_classes=not args.no_mot16_classes
        )
        gt = read_ground_truth(args.gt)
        results = []
        for name, path in zip(_names(args.tracks), args.tracks, strict=True):
            results.append(
                (name, evaluate(gt, read_tracks(path), config, num_frames=args.num_frames))
            )
    except (MotFormatError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    print(format_table(results))
    if args.json is not None:
        payload = {name: m.as_dict() for name, m in results}
        args.json.write_text(json.dumps(payload, indent=2, allow_nan=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
