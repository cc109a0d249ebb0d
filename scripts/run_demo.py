#!/usr/bin/env python3
"""The demo: the sample video through the real ROS 2 graph, recorded and summarised.

Starts three processes exactly as ``launch/mot.launch.py`` would start the nodes (same
executables from lib/mot_ros, same ``--params-file config/mot.yaml``, same remapping):

    video_publisher --(image)--> mot_node --(tracks, annotated_image)--> track_recorder

waits for the publisher to reach the end of the video, lets the last frames drain, stops
the node and the recorder, then writes a picture strip and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mot_ros.data import sample_video_path  # noqa: E402


def executable(name: str) -> list[str]:
    """An installed mot_ros executable (lib/mot_ros/<name> in the environment prefix)."""
    prefix = Path(sysconfig.get_paths()["data"])
    path = prefix / "lib" / "mot_ros" / name
    if not path.exists():
        sys.exit(f"{path} not found: run 'make setup' to install mot_ros into the environment")
    return [sys.executable, str(path)]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True,
    )


def wait_for_line(log: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            sys.exit(f"{proc.args[1]} exited with {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    sys.exit(f"timed out waiting for '{text}' in {log}")


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def picture_strip(video: Path, out: Path, count: int = 3, width: int = 1152) -> None:
    """A few annotated frames side by side, for the README."""
    import cv2
    import numpy as np

    cap = cv2.VideoCapture(str(video))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    frames = []
    for i in range(count):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int((i + 1) * n / (count + 1)))
        ok, frame = cap.read()
        if ok:
            frames.append(frame)
    cap.release()
    if not frames:
        return
    strip = np.hstack(frames)
    scale = width / strip.shape[1]
    strip = cv2.resize(strip, (width, int(strip.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(out), strip, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=None, help="default: the sample video")
    ap.add_argument("--params-file", type=Path, default=ROOT / "config" / "mot.yaml")
    ap.add_argument("--output", type=Path, default=ROOT / "out" / "demo")
    ap.add_argument("--fps", type=float, default=0.0, help="publish rate (0: the video's)")
    ap.add_argument("--max-frames", type=int, default=0)
    args = ap.parse_args()

    video = args.video or sample_video_path()
    out = args.output.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config/fastdds_shm.xml"))

    ros = ["--ros-args", "-r", "image:=/camera/image_raw"]
    recorder = start(
        executable("track_recorder") + ros + ["-p", f"output_dir:={out}", "-p", "video_fps:=10.0"],
        out / "recorder.log",
    )
    node = start(
        executable("mot_node") + ros + ["--params-file", str(args.params_file)],
        out / "mot_node.log",
    )
    wait_for_line(out / "mot_node.log", "ready:", node, timeout=300)
    t0 = time.monotonic()
    publisher = start(
        executable("video_publisher")
        + ros
        + [
            "-p",
            f"source:={video}",
            "-p",
            f"fps:={args.fps}",
            "-p",
            f"max_frames:={args.max_frames}",
            "-p",
            "start_delay:=2.0",
        ],
        out / "video_publisher.log",
    )
    print(f"[demo] publishing {video.name} through mot_node; logs in {out}", flush=True)
    publisher.wait()
    wall = time.monotonic() - t0
    time.sleep(3.0)  # the last frames drain and one more /diagnostics period passes
    stop(node)
    stop(recorder)
    if publisher.returncode or node.returncode not in (0, -signal.SIGINT):
        print((out / "mot_node.log").read_text())
        return 1

    summary = json.loads((out / "summary.json").read_text())
    stats = summary["node"]
    published = int((out / "video_publisher.log").read_text().split("published ")[-1].split()[0])
    picture_strip(out / "annotated.mp4", out / "strip.png")
    rows = [
        ("frames published", published),
        ("frames received by mot_node", stats.get("frames_received")),
        ("frames processed", stats.get("frames_processed")),
        ("tracks started", stats.get("tracks_started")),
        ("frames detected (detector ran)", stats.get("frames_detected")),
        ("node ms/frame, median", stats.get("node_ms_median")),
        ("latency stamp->tracks p95 ms", stats.get("run_latency_ms_p95")),
        ("annotated frames recorded", summary["annotated_frames"]),
        ("MOT rows written", summary["track_rows"]),
        ("distinct track ids in tracks.txt", summary["distinct_track_ids"]),
        ("wall time s", f"{wall:.1f}"),
    ]
    print("[demo] summary")
    for key, value in rows:
        print(f"  {key:34s} {value}")
    print(f"[demo] outputs: {out}/annotated.mp4, tracks.txt, strip.png, summary.json")
    ok = summary["track_rows"] > 0 and int(stats.get("frames_processed", 0)) > 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
