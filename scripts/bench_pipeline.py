#!/usr/bin/env python3
"""The real-time benchmark: the sample video through the real ROS 2 graph, timed end to end.

Three kinds of process, all with the project's Fast DDS profile on a private ROS domain:

    publisher (this script, --role publish) --image--> mot_node --tracks, annotated_image,
    /diagnostics--> subscriber (this script)

* The publisher plays the video at a fixed rate on an absolute schedule (frame k at
  t0 + k / rate) and sets ``header.stamp`` immediately before ``publish()``, so a frame's
  latency includes everything after the camera driver handed it over.
* ``mot_node`` is the installed executable with ``config/mot.yaml`` (plus ``--param``
  overrides), as the launch file starts it.
* The subscriber (this process) takes ``tracks`` (latency = receive time minus the stamp),
  optionally ``annotated_image`` (as rviz would), and ``/diagnostics`` (the node's own
  per-stage times), and samples the node's CPU time and memory from ``/proc``.

Per run (input rate x annotated_image subscribed or not) it reports frames published,
answered on ``tracks`` (distinct stamps), dropped (published - answered), processed fps,
latency p50/p95/p99/max, the latency drift over the run (p50 of the last quarter of frames
minus p50 of the first quarter), the node's median per-stage times from ``/diagnostics``,
its CPU % (of one core; 200 % = both cores) and peak RSS, and, measured in the same run
just before the graph starts, the detector alone on video frames in this process with the
node's detector settings: ``node/det`` is the node's median time per frame the detector
ran on (image callback to ``tracks`` published) divided by that.

``--load`` adds a competing process that burns CPU on the same cores (a stand-in for the
camera driver and the rest of a robot) for the whole run, reference included.
``--rss-reps N`` plays the video N times into one node and prints its RSS after each.

Timings depend on everything else on the machine: ``uptime``'s load is printed with the
tables. A JSON summary with every figure is written beside the table.

    python scripts/bench_pipeline.py                  # all rates, annotated on/off, RSS check
    python scripts/bench_pipeline.py --quick          # ~2 minutes
    python scripts/bench_pipeline.py --rates 30 --annotated off --load
    python scripts/bench_pipeline.py --param detector.num_threads:=1 --load
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROFILE = ROOT / "config" / "fastdds_shm.xml"
PARAMS = ROOT / "config" / "mot.yaml"
NAMESPACE = "/bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(text: str) -> None:
    print(f"[bench] {text}", flush=True)


# --- processes --------------------------------------------------------------------------


def installed(name: str) -> list[str]:
    path = Path(sysconfig.get_paths()["data"]) / "lib" / "mot_ros" / name
    if not path.exists():
        sys.exit(f"{path} not found: run 'make setup' to install mot_ros into the environment")
    return [sys.executable, str(path)]


def node_executable(source: Path | None) -> list[str]:
    """The installed mot_node, or the one of another checkout (for before/after runs)."""
    if source is None:
        return installed("mot_node")
    code = (
        f"import sys; sys.path.insert(0, {str(source.resolve())!r}); "
        "from mot_ros.ros.node import main; sys.exit(main())"
    )
    return [sys.executable, "-c", code]


class Proc:
    """A child process with its output in a log file; stopped with SIGINT, then killed."""

    def __init__(self, cmd: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.popen.args[1]} exited ({self.popen.returncode}):\n{self.output()}"
                )
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {text!r} in {self.log_path}")

    def stop(self, timeout: float = 15.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB."""
    rss = hwm = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024.0
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024.0
    return rss, hwm


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


# --- node configuration -------------------------------------------------------------------


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    else:
        out[prefix] = value


def node_parameters(params_file: Path, overrides: list[str]) -> dict:
    """Parameter values by full name: the YAML file the node gets, then ``name:=value``."""
    import yaml

    data = yaml.safe_load(params_file.read_text())
    values: dict = {}
    for section in data.values():
        _flatten("", section.get("ros__parameters", {}), values)
    for item in overrides:
        name, sep, text = item.partition(":=")
        if not sep:
            sys.exit(f"--param must look like name:=value, got {item!r}")
        values[name] = yaml.safe_load(text)
    return values


# --- the detector alone -------------------------------------------------------------------


class DetectorReference:
    """The node's detector, built here with the node's settings, timed on video frames."""

    def __init__(self, values: dict, video: Path, count: int) -> None:
        import cv2

        from mot_ros.detection.factory import create_detector
        from mot_ros.ros.parameters import build_config

        config = build_config(values)
        self.detector = create_detector(config.detector)
        self.backend = type(self.detector).__name__
        self.threads = config.detector.num_threads
        cap = cv2.VideoCapture(str(video))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
        self.frames = []
        for i in range(count):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(i * n / count))
            ok, frame = cap.read()
            if ok:
                self.frames.append(frame)
        cap.release()
        for frame in self.frames[:3]:  # warm-up
            self.detector.detect(frame)

    def median_ms(self) -> float:
        times = []
        for frame in self.frames:
            t0 = time.perf_counter()
            self.detector.detect(frame)
            times.append((time.perf_counter() - t0) * 1000.0)
        return statistics.median(times)


# --- the subscriber -----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@dataclass
class RunResult:
    rate: float
    annotated: bool
    load: bool
    published: int = 0
    publisher_late: int = 0
    answered: int = 0
    dropped: int = 0
    answered_pct: float = 0.0
    processed_fps: float = 0.0
    latency_ms: dict = field(default_factory=dict)
    latency_drift_ms: float = float("nan")
    annotated_received: int = 0
    node: dict = field(default_factory=dict)
    stages_ms: dict = field(default_factory=dict)
    node_ms_per_frame: float = float("nan")
    node_ms_per_detected_frame: float = float("nan")
    detector_alone_ms: float = float("nan")
    ratio_node_detector: float = float("nan")
    cpu_pct: float = float("nan")
    rss_mb: float = float("nan")
    peak_rss_mb: float = float("nan")
    rss_by_rep_mb: list = field(default_factory=list)
    wall_s: float = 0.0
    load_average: str = ""


class Subscriber:
    """This process's side of the graph: tracks, annotated_image and /diagnostics."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile
        from vision_msgs.msg import Detection2DArray

        self.rclpy = rclpy
        self.node = rclpy.create_node("bench_subscriber")
        self.latency: dict[int, float] = {}  # stamp ns -> ms, first arrival
        self.order: list[int] = []
        self.diag: list[dict[str, str]] = []
        self.annotated = 0
        self._annotated_sub = None
        self.node.create_subscription(
            Detection2DArray, f"{NAMESPACE}/tracks", self._on_tracks, QoSProfile(depth=100)
        )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 50)

    def reset(self, annotated: bool) -> None:
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import Image

        self.latency.clear()
        self.order.clear()
        self.diag.clear()
        self.annotated = 0
        if self._annotated_sub is not None:
            self.node.destroy_subscription(self._annotated_sub)
            self._annotated_sub = None
        if annotated:  # as rviz subscribes: reliable, depth 1
            self._annotated_sub = self.node.create_subscription(
                Image, f"{NAMESPACE}/annotated_image", self._on_annotated, QoSProfile(depth=1)
            )

    def _on_tracks(self, msg) -> None:
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if stamp not in self.latency:
            self.latency[stamp] = (now - stamp) / 1e6
            self.order.append(stamp)

    def _on_annotated(self, msg) -> None:
        self.annotated += 1

    def _on_diag(self, msg) -> None:
        for status in msg.status:
            if "mot_node" in status.name:
                self.diag.append({kv.key: kv.value for kv in status.values})

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.rclpy.spin_once(self.node, timeout_sec=min(0.05, deadline - time.monotonic()))

    def matched(self) -> bool:
        return self.node.count_publishers(f"{NAMESPACE}/tracks") > 0


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


from mot_ros.pipeline.stats import STAGES  # noqa: E402


def summarise_diagnostics(diag: list[dict[str, str]], result: RunResult) -> None:
    """Counters from the node's last status; per-stage times as the median of its windows."""
    if not diag:
        return
    last = diag[-1]
    for key in (
        "frames_received",
        "frames_processed",
        "frames_dropped_busy",
        "frames_rejected_bad",
        "frames_detected",
        "detect_every",
        "detector_backend",
        "detector_threads",
        "level",
    ):
        if key in last:
            result.node[key] = last[key]
    for stage in STAGES:
        values = [_float(d.get(f"{stage}_ms_median")) for d in diag]
        values = [v for v in values if v == v]
        if values:
            result.stages_ms[stage] = statistics.median(values)
    node_ms = [_float(d.get("node_ms_median", d.get("processing_ms_median"))) for d in diag]
    node_ms = [v for v in node_ms if v == v]
    if node_ms:
        result.node_ms_per_frame = statistics.median(node_ms)
    # an older node reports one processing time, and detects on every frame it processes
    detected = [
        _float(d.get("node_ms_detected_median", d.get("processing_ms_median"))) for d in diag
    ]
    detected = [v for v in detected if v == v]
    if detected:
        result.node_ms_per_detected_frame = statistics.median(detected)


# --- one run ------------------------------------------------------------------------------


def run_once(
    args,
    sub: Subscriber,
    reference: DetectorReference | None,
    rate: float,
    annotated: bool,
    frames: int,
    reps: int,
    logs: Path,
) -> RunResult:
    result = RunResult(rate=rate, annotated=annotated, load=args.load > 0)
    tag = f"{rate:g}fps-{'annotated' if annotated else 'tracks'}" + (
        f"-x{reps}" if reps > 1 else ""
    )
    node_cmd = node_executable(args.node_source) + [
        "--ros-args",
        "--params-file",
        str(args.params_file),
        "-r",
        f"__ns:={NAMESPACE}",
    ]
    for item in args.param:
        node_cmd += ["-p", item]
    sub.reset(annotated)
    node = Proc(node_cmd, logs / f"mot_node-{tag}.log")
    publisher = None
    try:
        node.wait_for("ready:", timeout=180)
        deadline = time.monotonic() + 30
        while not sub.matched() and time.monotonic() < deadline:
            sub.spin_for(0.1)
        if reference is not None:
            result.detector_alone_ms = reference.median_ms()
        pub_cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--role",
            "publish",
            "--video",
            str(args.video),
            "--rate",
            str(rate),
            "--frames",
            str(frames),
            "--reps",
            str(reps),
        ]
        publisher = Proc(pub_cmd, logs / f"publisher-{tag}.log")
        publisher.wait_for("publishing", timeout=60)
        cpu0, wall0 = proc_cpu_seconds(node.pid), time.monotonic()
        total = frames * reps
        expected = total / rate
        rep_len = frames / rate
        next_progress = wall0 + 5.0
        rss_samples: list[tuple[float, float]] = []
        while publisher.popen.poll() is None:
            sub.spin_for(0.25)
            now = time.monotonic()
            rss_samples.append((now - wall0, proc_memory_mb(node.pid)[0]))
            if now >= next_progress:
                lat = list(sub.latency.values())[-200:]
                log(
                    f"  {tag}: {now - wall0:5.1f}/{expected:.0f} s, {len(sub.latency)} answered, "
                    f"p50 {percentile(lat, 50):.0f} ms (last 200), "
                    f"node RSS {rss_samples[-1][1]:.0f} MB"
                )
                next_progress = now + 5.0
            if now - wall0 > expected + 60:
                raise RuntimeError(f"publisher did not finish within {expected + 60:.0f} s")
        wall = time.monotonic() - wall0
        sub.spin_for(2.5)  # the last frames drain, one more /diagnostics period passes
        cpu1 = proc_cpu_seconds(node.pid)
        result.rss_mb, result.peak_rss_mb = proc_memory_mb(node.pid)
        result.cpu_pct = 100.0 * (cpu1 - cpu0) / max(wall + 2.5, 1e-6)
        if reps > 1:
            for i in range(1, reps + 1):
                t = i * rep_len
                before = [mb for ts, mb in rss_samples if ts <= t]
                result.rss_by_rep_mb.append(before[-1] if before else float("nan"))
        pub_stats = json.loads(publisher.output().strip().splitlines()[-1])
    finally:
        if publisher is not None:
            publisher.stop()
        code = node.stop()
    if code not in (0, -signal.SIGINT):
        raise RuntimeError(f"mot_node exited with {code}:\n{node.output()[-3000:]}")
    result.published = pub_stats["published"]
    result.publisher_late = pub_stats["late"]
    stamps = set(pub_stats.get("stamps", []))
    answered = [s for s in sub.order if not stamps or s in stamps]
    lat = [sub.latency[s] for s in answered]
    result.answered = len(answered)
    result.dropped = result.published - result.answered
    result.answered_pct = 100.0 * result.answered / max(result.published, 1)
    result.processed_fps = result.answered / max(pub_stats["duration_s"], 1e-6)
    result.latency_ms = {
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "p99": percentile(lat, 99),
        "max": max(lat) if lat else float("nan"),
    }
    q = max(len(lat) // 4, 1)
    if len(lat) >= 8:
        result.latency_drift_ms = percentile(lat[-q:], 50) - percentile(lat[:q], 50)
    result.annotated_received = sub.annotated
    result.wall_s = wall
    result.load_average = load_average()
    summarise_diagnostics(sub.diag, result)
    if result.detector_alone_ms > 0 and result.node_ms_per_detected_frame > 0:
        result.ratio_node_detector = result.node_ms_per_detected_frame / result.detector_alone_ms
    return result


# --- tables -------------------------------------------------------------------------------


def _f(value: float, digits: int = 1) -> str:
    return "–" if value != value else f"{value:.{digits}f}"


def flow_table(results: list[RunResult]) -> list[str]:
    head = (
        "| input fps | annotated | load | published | answered | dropped | answered % "
        "| processed fps | p50 ms | p95 ms | p99 ms | max ms | drift ms |"
    )
    lines = [head, _rule(head)]
    for r in results:
        lat = r.latency_ms
        lines.append(
            f"| {r.rate:g} | {'yes' if r.annotated else 'no'} | {'yes' if r.load else 'no'} "
            f"| {r.published} | {r.answered} | {r.dropped} | {_f(r.answered_pct)} "
            f"| {_f(r.processed_fps)} | {_f(lat.get('p50', float('nan')))} "
            f"| {_f(lat.get('p95', float('nan')))} | {_f(lat.get('p99', float('nan')))} "
            f"| {_f(lat.get('max', float('nan')))} | {_f(r.latency_drift_ms)} |"
        )
    return lines


def cost_table(results: list[RunResult]) -> list[str]:
    stage_cols = " | ".join(f"{s} ms" for s in STAGES)
    head = (
        f"| input fps | annotated | {stage_cols} | node ms/frame | node ms/detected frame "
        "| detector alone ms | node/det | detected % | CPU % | peak RSS MB |"
    )
    lines = [head, _rule(head)]
    for r in results:
        stages = " | ".join(_f(r.stages_ms.get(s, float("nan")), 2) for s in STAGES)
        detected = float("nan")
        if "frames_detected" in r.node and r.node.get("frames_processed"):
            detected = (
                100.0 * _float(r.node["frames_detected"]) / _float(r.node["frames_processed"])
            )
        lines.append(
            f"| {r.rate:g} | {'yes' if r.annotated else 'no'} | {stages} "
            f"| {_f(r.node_ms_per_frame, 2)} | {_f(r.node_ms_per_detected_frame, 2)} "
            f"| {_f(r.detector_alone_ms, 2)} "
            f"| {_f(r.ratio_node_detector, 2)} | {_f(detected)} | {_f(r.cpu_pct, 0)} "
            f"| {_f(r.peak_rss_mb, 0)} |"
        )
    return lines


def _rule(head: str) -> str:
    return "|" + "---|" * (head.count("|") - 1)


# --- roles --------------------------------------------------------------------------------


def role_publish(args) -> int:
    """Publish the video at a fixed rate; print a JSON summary as the last line."""
    import cv2
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from mot_ros.ros.conversions import bgr_to_image

    rclpy.init()
    node = rclpy.create_node("bench_publisher")
    pub = node.create_publisher(Image, f"{NAMESPACE}/image", qos_profile_sensor_data)
    cap = cv2.VideoCapture(str(args.video))
    if not cap.isOpened():
        print(f"cannot open {args.video}", file=sys.stderr)
        return 2
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(0.5)  # let the match settle on both sides
    clock = node.get_clock()
    period = 1.0 / args.rate
    total = args.frames * args.reps
    stamps: list[int] = []
    late = 0

    def next_frame(index: int):
        if index % args.frames == 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, frame = cap.read()
        if not ok:  # shorter than --frames: start again
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = cap.read()
        return bgr_to_image(frame, Header(frame_id="camera"))

    print(f"publishing {total} frames at {args.rate:g} fps", flush=True)
    msg = next_frame(0)
    t0 = time.monotonic() + 0.1
    for k in range(total):
        target = t0 + k * period
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif -delay > period / 2:
            late += 1
        stamp = clock.now()
        msg.header.stamp = stamp.to_msg()
        pub.publish(msg)
        stamps.append(stamp.nanoseconds)
        if k + 1 < total:
            msg = next_frame(k + 1)
    duration = time.monotonic() - t0
    cap.release()
    node.destroy_node()
    rclpy.try_shutdown()
    summary = {"published": total, "late": late, "duration_s": duration, "stamps": stamps}
    print(json.dumps(summary), flush=True)
    return 0


def role_load(args) -> int:
    """Burn CPU: ``duty`` of every 10 ms busy (1.0: one whole core), until killed."""
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    busy, period = args.duty * 0.01, 0.01
    x = 0
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < busy:
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        rest = period - (time.perf_counter() - start)
        if rest > 0:
            time.sleep(rest)


# --- main ---------------------------------------------------------------------------------


def parse_rates(text: str, video_fps: float) -> list[float]:
    rates = []
    for item in text.split(","):
        item = item.strip()
        rates.append(video_fps if item == "video" else float(item))
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--role", choices=("bench", "publish", "load"), default="bench", help=argparse.SUPPRESS
    )
    ap.add_argument("--video", type=Path, default=None, help="default: the sample video")
    ap.add_argument("--rate", type=float, default=30.0, help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--duty", type=float, default=1.0, help=argparse.SUPPRESS)
    ap.add_argument(
        "--rates", default="video,30,60", help="input rates in fps; 'video' = the file's own"
    )
    ap.add_argument(
        "--annotated",
        choices=("both", "on", "off"),
        default="both",
        help="runs with annotated_image subscribed (on), not (off), or both",
    )
    ap.add_argument("--frames", type=int, default=0, help="frames per run (0: the whole video)")
    ap.add_argument(
        "--rss-reps",
        type=int,
        default=10,
        help="repetitions of the video for the RSS check (0: off)",
    )
    ap.add_argument("--rss-rate", type=float, default=60.0, help="input rate of the RSS check")
    ap.add_argument(
        "--load",
        type=float,
        nargs="?",
        const=1.0,
        default=0.0,
        help="a competing process busy this share of one core (alone: 1.0) during every run",
    )
    ap.add_argument("--params-file", type=Path, default=PARAMS)
    ap.add_argument(
        "--param", action="append", default=[], help="node parameter override name:=value"
    )
    ap.add_argument(
        "--node-source",
        type=Path,
        default=None,
        help="run mot_node from this directory's mot_ros package (e.g. an older checkout)",
    )
    ap.add_argument("--ref-frames", type=int, default=60, help="frames for the detector alone")
    ap.add_argument("--quick", action="store_true", help="250 frames per run, rates 30,60, RSS x3")
    ap.add_argument("--json", type=Path, default=ROOT / "out" / "bench" / "pipeline.json")
    ap.add_argument(
        "--update-readme",
        action="store_true",
        help="also replace the table between the bench markers in README.md",
    )
    args = ap.parse_args()

    from mot_ros.data import sample_video_path

    args.video = (args.video or sample_video_path()).resolve()
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(PROFILE))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if args.role == "publish":
        return role_publish(args)
    if args.role == "load":
        return role_load(args)
    # a private domain: other benchmarks, tests or robots on this host never interfere
    os.environ["ROS_DOMAIN_ID"] = os.environ.get(
        "MOT_BENCH_DOMAIN_ID", str(random.SystemRandom().randint(200, 232))
    )
    try:
        return run_bench(args)
    except RuntimeError as exc:
        print(f"[bench] error: {exc}", file=sys.stderr)
        return 1


README_BEGIN = "<!-- bench-pipeline:begin -->"
README_END = "<!-- bench-pipeline:end -->"


def update_readme(readme: Path, lines: list[str]) -> None:
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        sys.exit(f"{readme} has no {README_BEGIN} ... {README_END} block")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    # Markdown: the tables as tables, every other line its own paragraph
    out: list[str] = [""]
    for line in lines:
        if not line.startswith("|") and out[-1] != "":
            out.append("")
        out.append(line.strip())
    block = "\n".join([*out, ""])
    readme.write_text(head + README_BEGIN + block + README_END + tail)


def run_bench(args) -> int:
    import cv2
    import rclpy

    cap = cv2.VideoCapture(str(args.video))
    video_fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    video_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    if args.quick:
        args.frames = args.frames or 250
        if args.rates == "video,30,60":
            args.rates = "30,60"
        args.rss_reps = min(args.rss_reps, 3)
    frames = args.frames or video_frames
    rates = parse_rates(args.rates, video_fps)
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.annotated]
    logs = args.json.parent.resolve()
    logs.mkdir(parents=True, exist_ok=True)
    values = node_parameters(args.params_file, args.param)
    plan = sum(frames / r + 12 for r in rates) * len(modes)
    if args.rss_reps:
        plan += video_frames * args.rss_reps / args.rss_rate + 12
    log(
        f"{args.video.name}: {video_frames} frames at {video_fps:g} fps; runs: rates "
        f"{', '.join(f'{r:g}' for r in rates)} x annotated "
        f"{'/'.join('on' if m else 'off' for m in modes)}"
        f", {frames} frames each; RSS check {args.rss_reps} x the video at {args.rss_rate:g} fps; "
        f"about {plan / 60:.1f} min. Logs in {logs}"
    )
    busy = os.getloadavg()[0]
    load_before = load_average()
    log(f"load average now: {load_average()} ({os.cpu_count()} cores)")
    if busy > 0.5 * (os.cpu_count() or 1):
        log(
            "  the machine is already busy: latencies will be pessimistic; compare ratios, "
            "or rerun on a quiet machine"
        )
    load = None
    if args.load > 0:
        load = Proc(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--role",
                "load",
                "--duty",
                str(args.load),
            ],
            logs / "load.log",
        )
        log(f"competing load: one process busy {args.load:.0%} of a core (pid {load.pid})")
    rclpy.init()
    results: list[RunResult] = []
    rss: RunResult | None = None
    started = time.monotonic()
    try:
        log("building the detector alone reference (the node's detector settings)")
        reference = DetectorReference(values, args.video, args.ref_frames)
        sub = Subscriber()
        for annotated in modes:
            for rate in rates:
                state = "subscribed" if annotated else "not subscribed"
                log(f"run: {rate:g} fps, annotated_image {state}")
                r = run_once(args, sub, reference, rate, annotated, frames, 1, logs)
                results.append(r)
                log(
                    f"  answered {r.answered}/{r.published} ({r.answered_pct:.1f} %), "
                    f"p50 {_f(r.latency_ms['p50'])} ms, p95 {_f(r.latency_ms['p95'])} ms, "
                    f"node/det {_f(r.ratio_node_detector, 2)}"
                )
        if args.rss_reps:
            log(
                f"RSS check: the video {args.rss_reps} times at {args.rss_rate:g} fps into one node"
            )
            rss = run_once(
                args, sub, reference, args.rss_rate, False, video_frames, args.rss_reps, logs
            )
    finally:
        if load is not None:
            load.stop()
        rclpy.try_shutdown()

    total_s = time.monotonic() - started
    out = [
        f"mot_ros pipeline benchmark: {args.video.name}, node params {args.params_file.name}"
        + (f" + {' '.join(args.param)}" if args.param else "")
        + f"; detector {reference.backend}, {reference.threads} threads"
        + (f"; competing load {args.load:.0%} of a core" if load else ""),
        f"load average before / after the runs: {load_before} / {load_average()} "
        f"({os.cpu_count()} cores); "
        f"took {total_s:.0f} s",
        "",
        *flow_table(results),
        "",
        *cost_table(results),
    ]
    if rss is not None:
        reps = rss.rss_by_rep_mb
        spread = max(reps) - min(reps) if reps else float("nan")
        out += [
            "",
            f"RSS over {args.rss_reps} repetitions of the video at {args.rss_rate:g} fps "
            f"(MB after each): " + ", ".join(_f(v, 0) for v in reps),
            f"  spread {_f(spread, 1)} MB (first to last {_f(reps[-1] - reps[0], 1)} MB), "
            f"peak {_f(rss.peak_rss_mb, 0)} MB; answered {rss.answered}/{rss.published}, "
            f"p95 {_f(rss.latency_ms['p95'])} ms, drift {_f(rss.latency_drift_ms)} ms",
        ]
    print("\n".join(out), flush=True)
    summary = {
        "video": str(args.video),
        "params_file": str(args.params_file),
        "param_overrides": args.param,
        "load": args.load,
        "load_average": load_average(),
        "cores": os.cpu_count(),
        "detector_backend": reference.backend,
        "detector_threads": reference.threads,
        "node_source": str(args.node_source) if args.node_source else None,
        "load_average_before": load_before,
        "runs": [asdict(r) for r in results],
        "rss_check": asdict(rss) if rss else None,
        "wall_s": total_s,
    }
    args.json.write_text(json.dumps(summary, indent=2))
    (args.json.with_suffix(".md")).write_text("\n".join(out) + "\n")
    log(f"JSON summary: {args.json}; table: {args.json.with_suffix('.md')}")
    if args.update_readme:
        update_readme(ROOT / "README.md", out)
        log("README.md: benchmark table replaced")
    return 0


if __name__ == "__main__":
    sys.exit(main())
