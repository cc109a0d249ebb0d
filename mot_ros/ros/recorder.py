"""Records what the tracking node publishes: annotated video, MOT tracks file, summary.

Subscribes to ``image`` (to number the input frames: MOT files count frames from 1 in the
order the camera produced them, and a track message is matched to its frame by the header
stamp it copies), ``tracks``, ``annotated_image`` and ``/diagnostics``. On shutdown
(Ctrl-C / SIGINT / SIGTERM) it closes the files and writes ``summary.json``.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import cv2
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from mot_ros.evaluation.mot_io import tracks_to_rows, write_tracks
from mot_ros.ros.conversions import detection_array_to_tracks, image_to_bgr


def _stamp_key(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class TrackRecorder(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("track_recorder", **kwargs)
        out = self.declare_parameter(
            "output_dir",
            "out/demo",
            ParameterDescriptor(
                description="Directory for annotated.mp4, tracks.txt, summary.json.", read_only=True
            ),
        ).value
        self.video_fps = self.declare_parameter(
            "video_fps",
            10.0,
            ParameterDescriptor(
                description="Frame rate written into annotated.mp4.", read_only=True
            ),
        ).value
        self.out_dir = Path(out)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.frame_of_stamp: dict[int, int] = {}
        self.frames_in = 0
        self.tracks_msgs = 0
        self.annotated_frames = 0
        self.track_ids: set[int] = set()
        self.rows = 0
        self.node_stats: dict[str, str] = {}
        self.writer = None
        self.tracks_file = open(self.out_dir / "tracks.txt", "w")  # noqa: SIM115 - closed in close()
        reliable = QoSProfile(depth=50)
        self.create_subscription(Image, "image", self._on_image, qos_profile_sensor_data)
        self.create_subscription(Detection2DArray, "tracks", self._on_tracks, reliable)
        self.create_subscription(Image, "annotated_image", self._on_annotated, reliable)
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)

    def _on_image(self, msg: Image) -> None:
        self.frames_in += 1
        self.frame_of_stamp[_stamp_key(msg.header.stamp)] = self.frames_in

    def _on_tracks(self, msg: Detection2DArray) -> None:
        self.tracks_msgs += 1
        frame = self.frame_of_stamp.get(_stamp_key(msg.header.stamp))
        if frame is None:
            self.get_logger().warning(
                "tracks for an image this recorder did not see; skipped", throttle_duration_sec=5.0
            )
            return
        tracks = detection_array_to_tracks(msg)
        self.track_ids.update(t.track_id for t in tracks)
        self.rows += write_tracks(self.tracks_file, tracks_to_rows(frame, tracks))

    def _on_annotated(self, msg: Image) -> None:
        img = image_to_bgr(msg)
        if self.writer is None:
            path = str(self.out_dir / "annotated.mp4")
            self.writer = cv2.VideoWriter(
                path, cv2.VideoWriter_fourcc(*"mp4v"), self.video_fps, (img.shape[1], img.shape[0])
            )
        self.writer.write(img)
        self.annotated_frames += 1

    def _on_diag(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.hardware_id == "mot_ros":
                self.node_stats = {kv.key: kv.value for kv in status.values}

    def summary(self) -> dict:
        return {
            "frames_in": self.frames_in,
            "tracks_messages": self.tracks_msgs,
            "annotated_frames": self.annotated_frames,
            "track_rows": self.rows,
            "distinct_track_ids": len(self.track_ids),
            "node": self.node_stats,
        }

    def close(self) -> dict:
        if self.writer is not None:
            self.writer.release()
        self.tracks_file.close()
        summary = self.summary()
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    node = TrackRecorder()
    # SIGTERM from a supervisor closes the files as cleanly as Ctrl-C does
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        summary = node.close()
        print(json.dumps(summary), flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
