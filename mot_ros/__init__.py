"""mot_ros: SSD MobileNet detection + dlib correlation tracking for ROS 2.

The package is split so that everything except :mod:`mot_ros.ros.node` (and the other
ROS entry points) is plain Python: detection, tracking, drawing and MOT file I/O can be
used and tested without rclpy.
"""

__version__ = "0.1.0"
