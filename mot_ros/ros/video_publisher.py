"""Publishes a video file or a camera device on ``image`` (sensor_msgs/Image, bgr8).

For demos, tests and replaying recordings without rosbag2: frames are published at the
file's frame rate (or ``fps``), stamped with the current ROS time and ``frame_id``. With
``loop: false`` the node exits after the last frame, which makes a run reproducible.
"""

from __future__ import annotations

import sys
import time

import cv2
import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from mot_ros.ros.conversions import bgr_to_image


class VideoPublisher(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("video_publisher", **kwargs)

        def param(name, default, description):
            return self.declare_parameter(
                name, default, ParameterDescriptor(description=description, read_only=True)
            ).value

        source = param("source", "", "Video file path, or a camera device index such as '0'.")
        fps = param("fps", 0.0, "Publish rate in Hz; 0 uses the file's rate (30 for cameras).")
        self.loop = param("loop", False, "Restart the file at its end instead of exiting.")
        self.frame_id = param("frame_id", "camera", "header.frame_id of the published images.")
        self.max_frames = param("max_frames", 0, "Stop after this many frames (0: no limit).")
        start_delay = param(
            "start_delay",
            1.0,
            "Seconds to wait before the first frame, so "
            "subscribers started at the same time are matched.",
        )
        if not source:
            raise ValueError("parameter 'source' is empty: give a video file or a device index")
        self.capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
        if not self.capture.isOpened():
            raise ValueError(f"cannot open video source '{source}'")
        file_fps = self.capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.fps = fps if fps > 0 else file_fps
        self.source = source
        self.published = 0
        self.done = False
        self.pub = self.create_publisher(Image, "image", qos_profile_sensor_data)
        self._start = time.monotonic() + start_delay
        self.timer = self.create_timer(1.0 / self.fps, self._tick)
        self.get_logger().info(
            f"publishing '{source}' at {self.fps:.1f} Hz on {self.pub.topic_name}"
        )

    def _tick(self) -> None:
        if self.done or time.monotonic() < self._start:
            return
        ok, frame = self.capture.read()
        if not ok and self.loop and self.published:
            self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self.capture.read()
        if not ok or (self.max_frames and self.published >= self.max_frames):
            self.get_logger().info(f"end of '{self.source}' after {self.published} frames")
            self.done = True
            return
        header = Header()
        header.stamp = self.get_clock().now().to_msg()
        header.frame_id = self.frame_id
        self.pub.publish(bgr_to_image(frame, header))
        self.published += 1


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    try:
        node = VideoPublisher()
    except ValueError as exc:
        print(f"[video_publisher] error: {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        return 2
    try:
        while rclpy.ok() and not node.done:
            rclpy.spin_once(node, timeout_sec=0.1)
        print(f"[video_publisher] published {node.published} frames", flush=True)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # SIGINT/SIGTERM shut the context down while a callback was publishing: a normal stop
    finally:
        node.capture.release()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
