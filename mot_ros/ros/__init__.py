"""The ROS 2 adapter: the only part of mot_ros that imports rclpy or message packages.

``node``             mot_node: image (or detections) in, tracks and annotated image out
``parameters``       every node parameter, declared once, read into one frozen config
``conversions``      sensor_msgs / vision_msgs <-> the core's types
``video_publisher``, ``recorder``   the demo's publisher and the track recorder
"""
