"""MOTChallenge sequence folders: ``seqinfo.ini``, ``det/det.txt``, ``gt/gt.txt``.

Tracking-only evaluation needs no images: the public detections drive the tracker, the
ground truth scores it, and ``seqinfo.ini`` gives the image size (for clipping and for
removing tracks that left the frame) and the frame rate (for trackers that count in
seconds). A sequence folder without ``seqinfo.ini`` can still be read when the size is
passed in.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from mot_ros.evaluation.mot_io import (
    GroundTruthRow,
    PathLike,
    read_detections,
    read_ground_truth,
)
from mot_ros.types import Detections


@dataclass(frozen=True)
class MotSequence:
    """One sequence: detections by frame (0-based pixels), ground truth by frame (file
    coordinates), and what ``seqinfo.ini`` says about it."""

    name: str
    detections: dict[int, Detections]
    ground_truth: dict[int, list[GroundTruthRow]]
    num_frames: int
    image_size: tuple[int, int]  # (width, height)
    frame_rate: float

    @property
    def scored_boxes(self) -> int:
        return sum(r.consider for rows in self.ground_truth.values() for r in rows)


def read_seqinfo(path: PathLike) -> dict[str, str]:
    """The ``[Sequence]`` section of a ``seqinfo.ini`` as a dict (keys lower-case)."""
    parser = configparser.ConfigParser()
    if not parser.read(path, encoding="utf-8"):
        raise FileNotFoundError(f"seqinfo.ini not found: {path}")
    if "Sequence" not in parser:
        raise ValueError(f"{path}: no [Sequence] section")
    return {k.lower(): v for k, v in parser["Sequence"].items()}


def load_sequence(
    folder: PathLike,
    *,
    image_size: tuple[int, int] | None = None,
    frame_rate: float | None = None,
    min_score: float | None = None,
) -> MotSequence:
    """Read a MOTChallenge sequence folder.

    ``image_size`` and ``frame_rate`` override (or, without ``seqinfo.ini``, replace) the
    file's values. Detection scores outside [0, 1] are clamped (MOT17's DPM set has them).
    """
    folder = Path(folder)
    info_path = folder / "seqinfo.ini"
    info = read_seqinfo(info_path) if info_path.is_file() else {}
    if image_size is None:
        if "imwidth" not in info or "imheight" not in info:
            raise ValueError(f"{folder}: no seqinfo.ini with imWidth/imHeight; pass image_size")
        image_size = (int(info["imwidth"]), int(info["imheight"]))
    if frame_rate is None:
        frame_rate = float(info.get("framerate", 30.0))
    detections = read_detections(folder / "det" / "det.txt", min_score=min_score, clip_scores=True)
    ground_truth = read_ground_truth(folder / "gt" / "gt.txt")
    last = max([*detections, *ground_truth, int(info.get("seqlength", 0))])
    return MotSequence(
        name=info.get("name", folder.name),
        detections=detections,
        ground_truth=ground_truth,
        num_frames=last,
        image_size=image_size,
        frame_rate=frame_rate,
    )


def find_sequences(root: PathLike) -> list[Path]:
    """Sequence folders under ``root`` (those with ``det/det.txt`` and ``gt/gt.txt``), sorted;
    ``root`` itself if it is one."""
    root = Path(root)

    def is_sequence(p: Path) -> bool:
        return (p / "det" / "det.txt").is_file() and (p / "gt" / "gt.txt").is_file()

    if is_sequence(root):
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder: {root}")
    return sorted(p for p in root.rglob("*") if p.is_dir() and is_sequence(p))
