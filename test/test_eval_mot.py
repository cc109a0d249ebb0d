"""Tracking-only evaluation over MOTChallenge folders: sequences, peers, the script.

A MOTChallenge-layout folder (``seqinfo.ini``, ``det/det.txt``, ``gt/gt.txt``) is written
from a rendered synthetic sequence; the script must score every mot_ros variant and every
installed peer on it, and the peers must actually track (not just run).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from synthetic import make_sequence, simulate_detections

from mot_ros.evaluation.metrics import evaluate
from mot_ros.evaluation.mot_io import (
    boxes_to_ground_truth,
    tracks_to_rows,
    write_detections,
    write_ground_truth,
)
from mot_ros.evaluation.peers import PEERS, available_peers
from mot_ros.evaluation.sequences import find_sequences, load_sequence
from mot_ros.types import Detections

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "eval_tracking.py"


@pytest.fixture(scope="module")
def sequence_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mot") / "SYN-01"
    (root / "det").mkdir(parents=True)
    (root / "gt").mkdir()
    _, truth = make_sequence(seed=0, num_frames=80)
    rng = np.random.default_rng(0)
    dets = {f + 1: simulate_detections(t, rng, 0.1, 0.03) for f, t in enumerate(truth)}
    write_detections(root / "det" / "det.txt", dets)
    rows = [
        r
        for f, t in enumerate(truth)
        for r in boxes_to_ground_truth(f + 1, [(object_id, box) for object_id, box, _ in t])
    ]
    write_ground_truth(root / "gt" / "gt.txt", rows)
    (root / "seqinfo.ini").write_text(
        "[Sequence]\nname=SYN-01\nimDir=img1\nframeRate=25\nseqLength=80\n"
        "imWidth=640\nimHeight=480\nimExt=.jpg\n"
    )
    return root


def test_load_sequence_reads_size_rate_and_both_files(sequence_folder):
    seq = load_sequence(sequence_folder)
    assert (seq.name, seq.image_size, seq.frame_rate, seq.num_frames) == (
        "SYN-01",
        (640, 480),
        25.0,
        80,
    )
    assert seq.scored_boxes > 300 and len(seq.detections) >= 70
    assert find_sequences(sequence_folder.parent) == [sequence_folder]


def test_load_sequence_without_seqinfo_needs_the_size(tmp_path, sequence_folder):
    bare = tmp_path / "bare"
    (bare / "det").mkdir(parents=True)
    (bare / "gt").mkdir()
    for part in ("det/det.txt", "gt/gt.txt"):
        (bare / part).write_text((sequence_folder / part).read_text())
    with pytest.raises(ValueError, match="image_size"):
        load_sequence(bare)
    assert load_sequence(bare, image_size=(640, 480)).frame_rate == 30.0


@pytest.mark.parametrize("name", sorted(PEERS))
def test_every_peer_tracks_the_synthetic_sequence(name, sequence_folder):
    reason = available_peers()[name]
    if reason is not None:
        pytest.skip(reason)
    seq = load_sequence(sequence_folder)
    step = PEERS[name](seq.frame_rate)
    tracks = {}
    for frame in range(1, seq.num_frames + 1):
        objects = step(seq.detections.get(frame, Detections.empty()))
        tracks[frame] = tracks_to_rows(frame, objects)
    m = evaluate(seq.ground_truth, tracks, num_frames=seq.num_frames)
    # every peer must really track (OC-SORT, strictest about low scores, finds least)
    assert m.mota > 0.3 and m.precision > 0.9 and m.idsw <= 5, (name, m)


def test_eval_script_scores_variants_and_peers_on_mot_folders(sequence_folder, tmp_path):
    out = tmp_path / "r.json"
    args = [sys.executable, str(SCRIPT), "--mot", str(sequence_folder.parent),
            "--variants", "defaults", "previous", "--peers", "trackers-sort",
            "supervision-bytetrack", "--json", str(out)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "## SYN-01: 80 frames, 640x480 @ 25 fps" in done.stdout
    import json

    results = json.loads(out.read_text())["SYN-01"]
    assert {"defaults", "previous"} <= set(results)
    for name, reason in available_peers().items():
        if name in ("trackers-sort", "supervision-bytetrack") and reason is None:
            assert results[name]["mota"] > 0.5
    # the published boxes of the defaults all had evidence: fewer FP than before
    assert results["defaults"]["fp"] <= results["previous"]["fp"]
