"""Starts the mot_ros tracking node (and, optionally, a video publisher as its camera).

    ros2 launch mot_ros mot.launch.py image:=/camera/image_raw
    ros2 launch mot_ros mot.launch.py video:=/path/to/video.mp4     # no camera needed
    ros2 launch mot_ros mot.launch.py namespace:=robot1 params_file:=/path/to/my.yaml
    ros2 launch mot_ros mot.launch.py lifecycle:=true   # managed node, configured + activated
    ros2 launch mot_ros mot.launch.py lifecycle:=true autostart:=false  # left unconfigured

Parameters come from the YAML file only; this file passes it and remaps topics.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition, LaunchConfigurationNotEquals, UnlessCondition
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from launch_ros.parameter_descriptions import ParameterValue
from lifecycle_msgs.msg import Transition

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
    lifecycle = LaunchConfiguration("lifecycle")
    # PythonExpression rather than AndSubstitution, which Humble's launch does not have
    autostart = PythonExpression(
        [
            "'",
            lifecycle,
            "'.lower() == 'true' and '",
            LaunchConfiguration("autostart"),
            "'.lower() == 'true'",
        ]
    )
    node_args = dict(
        package="mot_ros",
        name="mot_node",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), {"use_sim_time": use_sim_time}],
        remappings=[("image", image)],
        output="screen",
        emulate_tty=True,
    )
    managed = LifecycleNode(
        executable="mot_lifecycle_node", condition=IfCondition(lifecycle), **node_args
    )

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
            DeclareLaunchArgument(
                "lifecycle",
                default_value="false",
                description="Start the managed (lifecycle) variant of the node.",
            ),
            DeclareLaunchArgument(
                "autostart",
                default_value="true",
                description="With lifecycle:=true, configure and activate it at once.",
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
            Node(executable="mot_node", condition=UnlessCondition(lifecycle), **node_args),
            managed,
            # autostart: configure at once, activate when configure succeeded
            RegisterEventHandler(
                OnStateTransition(
                    target_lifecycle_node=managed,
                    start_state="configuring",
                    goal_state="inactive",
                    entities=[
                        EmitEvent(
                            event=ChangeState(
                                lifecycle_node_matcher=matches_action(managed),
                                transition_id=Transition.TRANSITION_ACTIVATE,
                            )
                        )
                    ],
                ),
                condition=IfCondition(autostart),
            ),
            EmitEvent(
                event=ChangeState(
                    lifecycle_node_matcher=matches_action(managed),
                    transition_id=Transition.TRANSITION_CONFIGURE,
                ),
                condition=IfCondition(autostart),
            ),
        ]
    )
