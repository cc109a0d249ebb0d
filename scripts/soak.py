#!/usr/bin/env python3
"""Soak: many frames through the real node over a real ROS 2 graph; memory and threads.

Starts the installed ``mot_node`` exactly as the launch file would (``--params-file
config/mot.yaml``), publishes frames of the sample video (looped, stamps always
increasing) in lockstep -- each frame waits for its ``tracks`` answer, up to a timeout --
and mixes in malformed messages (every ``--bad-every``-th message: wrong encodings,
short data, lying sizes, 16-bit and odd encodings) so that the rejection paths soak too.
Every ``--sample-every`` frames it reads the node's RSS and thread count from /proc.

Prints RSS start (after ``--warmup`` frames, when caches and the model have settled),
end and max, the drift end - start, thread counts, answered/missing frames and the
answer-time median and p99. Not a test: a command whose figures go into reports.

    make soak                        # 20,000 frames
    make soak SOAK_ARGS="--frames 2000 --mode detections"
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import rclpy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import Detection2D, Detection2DArray  # noqa: E402

from mot_ros.data import sample_video_path  # noqa: E402
from mot_ros.ros.conversions import bgr_to_image  # noqa: E402


def _proc_status(pid: int) -> tuple[float, int]:
    """RSS in MB and thread count of a process, from /proc/<pid>/status."""
    rss = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024.0
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss, threads


def _bad_image(frame: np.ndarray, header, k: int) -> Image:
    msg = bgr_to_image(frame, header)
    kind = k % 6
    if kind == 0:
        msg.encoding = "32FC1"
    elif kind == 1:
        msg.data = bytes(msg.data)[: len(msg.data) // 3]
    elif kind == 2:
        msg.height *= 2
    elif kind == 3:
        msg.step = 11
    elif kind == 4:
        msg.width, msg.data = 0, b""
    else:
        msg.encoding, msg.width = "yuv422", msg.width - 1
    return msg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20_000, help="good frames to send")
    ap.add_argument("--warmup", type=int, default=300, help="frames before the start RSS")
    ap.add_argument("--bad-every", type=int, default=10, help="one malformed message per N")
    ap.add_argument("--sample-every", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=5.0, help="seconds to wait per answer")
    ap.add_argument(
        "--mode",
        choices=("image", "detections"),
        default="image",
        help="image: the detector runs in the node; detections: tracking-only mode "
        "(fixed boxes sent with each image, much faster)",
    )
    args = ap.parse_args()

    exe = Path(sysconfig.get_paths()["data"]) / "lib" / "mot_ros" / "mot_node"
    if not exe.exists():
        sys.exit(f"{exe} not found: run 'make setup'")
    os.environ.setdefault("ROS_DOMAIN_ID", str(150 + os.getpid() % 50))
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds_shm.xml"))
    ns = "/soak"
    log = Path(tempfile.mkdtemp(prefix="mot_soak_")) / "mot_node.log"
    cmd = [
        sys.executable,
        str(exe),
        "--ros-args",
        "--params-file",
        str(ROOT / "config" / "mot.yaml"),
    ]
    cmd += ["-r", f"__ns:={ns}", "-p", f"input:={args.mode}"]
    node_proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115

    cap = cv2.VideoCapture(str(sample_video_path()))
    video = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        video.append(frame)
    cap.release()

    rclpy.init()
    node = rclpy.create_node("soak_driver")
    image_pub = node.create_publisher(Image, f"{ns}/image", 10)
    det_pub = node.create_publisher(Detection2DArray, f"{ns}/detections", 10)
    answered: set[tuple[int, int]] = set()
    node.create_subscription(
        Detection2DArray,
        f"{ns}/tracks",
        lambda m: answered.add((m.header.stamp.sec, m.header.stamp.nanosec)),
        50,
    )

    def spin_until(cond, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            rclpy.spin_once(node, timeout_sec=0.01)
        return cond()

    boxes = Detection2DArray()
    for x in (150.0, 350.0, 550.0):
        d = Detection2D()
        d.bbox.center.position.x, d.bbox.center.position.y = x, 300.0
        d.bbox.size_x, d.bbox.size_y = 40.0, 100.0
        boxes.detections.append(d)

    seq = done = 0
    samples: list[tuple[int, float, int]] = []
    times: list[float] = []
    missing = 0
    t0 = time.monotonic()
    try:
        for _ in range(600):  # wait until the node is up and answering
            if node_proc.poll() is not None:
                sys.exit(f"mot_node exited ({node_proc.returncode}):\n{log.read_text()}")
            if image_pub.get_subscription_count() > 0:
                break
            spin_until(lambda: False, 0.1)
        done = 0
        for i in range(args.frames):
            done = i + 1
            seq += 1
            header = Header()
            header.stamp.sec, header.stamp.nanosec = 1_000_000 + seq // 1000, (seq % 1000) * 1000
            header.frame_id = "camera"
            if args.bad_every and i % args.bad_every == args.bad_every - 1:
                image_pub.publish(_bad_image(video[i % len(video)], header, i))
                seq += 1
                header.stamp.sec = 1_000_000 + seq // 1000
                header.stamp.nanosec = (seq % 1000) * 1000
            frame = video[i % len(video)]
            key = (header.stamp.sec, header.stamp.nanosec)
            start = time.perf_counter()
            image_pub.publish(bgr_to_image(frame, header))
            if args.mode == "detections":
                boxes.header = header
                det_pub.publish(boxes)
            if spin_until(lambda k=key: k in answered, args.timeout):
                times.append(time.perf_counter() - start)
            else:
                missing += 1
            answered.discard(key)
            if i == args.warmup or i % args.sample_every == 0 or i == args.frames - 1:
                rss, threads = _proc_status(node_proc.pid)
                samples.append((i, rss, threads))
                if i % (args.sample_every * 4) == 0:
                    print(
                        f"  frame {i:6d}: RSS {rss:7.1f} MB, threads {threads}, "
                        f"{(time.monotonic() - t0) / 60:.1f} min",
                        flush=True,
                    )
            if node_proc.poll() is not None:
                print(f"mot_node died at frame {i}:\n{log.read_text()}")
                return 1
    except KeyboardInterrupt:  # Ctrl-C or `timeout -s INT`: report what ran
        print(f"interrupted after {done} frames")
        rss, threads = _proc_status(node_proc.pid)
        samples.append((done, rss, threads))
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        node_proc.send_signal(2)
        try:
            node_proc.wait(15)
        except subprocess.TimeoutExpired:
            node_proc.kill()

    after = [s for s in samples if s[0] >= args.warmup]
    start_rss = after[0][1]
    end_rss = after[-1][1]
    max_rss = max(s[1] for s in after)
    threads = sorted({s[2] for s in samples})
    times_ms = sorted(t * 1000 for t in times)
    p99 = times_ms[int(0.99 * (len(times_ms) - 1))] if times_ms else float("nan")
    load = os.getloadavg()
    print(
        f"soak ({args.mode} mode): {done} good frames + "
        f"{done // args.bad_every if args.bad_every else 0} malformed, "
        f"{(time.monotonic() - t0) / 60:.1f} min, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(
        f"RSS after {args.warmup} frames {start_rss:.1f} MB, end {end_rss:.1f} MB, "
        f"max {max_rss:.1f} MB, drift {end_rss - start_rss:+.1f} MB; "
        f"first sample (frame 0) {samples[0][1]:.1f} MB"
    )
    print(f"threads: {', '.join(map(str, threads))} (over {len(samples)} samples)")
    print(
        f"answered {len(times)} of {done} frames ({missing} without an answer within "
        f"{args.timeout:g} s); answer ms median {statistics.median(times_ms):.1f}, p99 {p99:.1f}"
    )
    print(f"node exit code {node_proc.returncode}; log {log}")
    return 0 if node_proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
