"""Helpers for tests over a real ROS 2 graph: the node under test runs as its installed
executable in a subprocess (as ``ros2 launch`` would start it), the test drives it from an
rclpy node in the test process."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.node import Node

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "config" / "mot.yaml"


def installed_executable(name: str) -> list[str]:
    path = Path(sysconfig.get_paths()["data"]) / "lib" / "mot_ros" / name
    assert path.exists(), f"{path} missing: run 'make setup' to install mot_ros"
    return [sys.executable, str(path)]


class NodeProcess:
    """A mot_ros executable in a subprocess, with its combined output kept in a file."""

    def __init__(self, name: str, ros_args: list[str], log_dir: Path) -> None:
        self.log = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self.proc = subprocess.Popen(
            installed_executable(name) + ["--ros-args", *ros_args],
            stdout=open(self.log, "w"),  # noqa: SIM115 - closed with the process
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited ({self.proc.returncode}):\n{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {text!r}:\n{self.output()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT, as Ctrl-C / launch shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def spin_until(node: Node, condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        rclpy.spin_once(node, timeout_sec=0.02)
    return condition()
