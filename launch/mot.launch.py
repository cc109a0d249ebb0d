"""Starts the mot_ros tracking node (and, optionally, a video publisher as its camera).

    ros2 launch mot_ros mot.launch.py image:=/camera/image_raw
    ros2 launch mot_ros mot.launch.py video:=/path/to/video.mp4     # no camera needed
    ros2 launch mot_ros mot.launch.py namespace:=robot1 params_file:=/path/to/my.yaml

Parameters come from the YAML file only; this file passes it and remaps topics.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import LaunchConfigurationNotEquals
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from launch import LaunchDescription


def _fastdds_profile_env(context):
    """Point Fast DDS at the profile (if any) for every process started after this."""
    profile = LaunchConfiguration("fastdds_profile").perform(context)
    if not profile:
        return []
    actions = [SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", profile)]
    # Fast DDS 2.x (Humble, Iron, Jazzy) reads only the old name; Fast DDS 3 (Kilted on)
    # warns at every start-up when the old name is set.
    if os.environ.get("ROS_DISTRO", "") in ("humble", "iron", "jazzy"):
        actions.append(SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", profile))
    return actions


def generate_launch_description():
    share = get_package_share_directory("mot_ros")
    image = LaunchConfiguration("image")
    video = LaunchConfiguration("video")
    use_sim_time = LaunchConfiguration("use_sim_time")

    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "image", default_value="image", description="Input image topic (sensor_msgs/Image)."
            ),
            DeclareLaunchArgument(
                "params_file",
                default_value=os.path.join(share, "config", "mot.yaml"),
                description="YAML file with the node's parameters.",
            ),
            DeclareLaunchArgument(
                "namespace",
                default_value="",
                description="Namespace of the nodes and their relative topics.",
            ),
            DeclareLaunchArgument(
                "use_sim_time",
                default_value="false",
                description="Use /clock (bag playback, simulation).",
            ),
            DeclareLaunchArgument(
                "video",
                default_value="",
                description="Also start a video publisher for this file or "
                "camera device index, publishing on the image topic.",
            ),
            DeclareLaunchArgument(
                "fastdds_profile",
                default_value=os.path.join(share, "config", "fastdds_shm.xml"),
                description="Fast DDS profile with a shared-memory segment large "
                "enough for camera images; empty to keep yours.",
            ),
            OpaqueFunction(function=_fastdds_profile_env),
            Node(
                package="mot_ros",
                executable="video_publisher",
                name="video_publisher",
                namespace=LaunchConfiguration("namespace"),
                # str: a camera index such as video:=0 would otherwise arrive as an integer.
                # No use_sim_time: the publisher is the time source, and on a /clock that
                # nobody publishes its timer would never fire.
                parameters=[{"source": ParameterValue(video, value_type=str)}],
                remappings=[("image", image)],
                condition=LaunchConfigurationNotEquals("video", ""),
                output="screen",
            ),
            Node(
                package="mot_ros",
                executable="mot_node",
                name="mot_node",
                namespace=LaunchConfiguration("namespace"),
                parameters=[LaunchConfiguration("params_file"), {"use_sim_time": use_sim_time}],
                remappings=[("image", image)],
                output="screen",
                emulate_tty=True,
            ),
        ]
    )
