# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Launch the rtmdnet_tracker node: ``ros2 launch rtmdnet_ros tracker.launch.py``.

Kept to plain launch_ros so it runs on any distro that has it. The node is a managed (lifecycle)
node: with ``autostart:=true`` (the default) this file emits its configure transition and, once it
is inactive, activate, so the one-line launch ends with a tracking node; ``autostart:=false``
leaves it unconfigured for a lifecycle manager or ``ros2 lifecycle set``. A failed configure
(a parameter of the wrong type or out of range, a bad choice, model_path, cuda without CUDA) is
logged in one line and the node stays up, unconfigured, as under ``ros2 run``. A node that
exits non-zero anyway (ROS could not read its arguments, a crash) ends the launch with exit 1
and its error line.
Topic names are relative, so ``namespace:=cam1`` gives /cam1/image ->
/cam1/rtmdnet_tracker/detections, and several cameras run side by side.
"""

import os  # noqa: I001 (ruff takes launch/ for this repo's own package)

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, RegisterEventHandler, \
    SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit, OnProcessIO
from launch.substitutions import LaunchConfiguration, PythonExpression
from launch.events import matches_action
from launch_ros.actions import LifecycleNode
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

# Fast DDS 3 (Kilted and later) reads the first name, Fast DDS 2 (Humble, Jazzy) the second.
_PROFILE_VARIABLE = ("FASTRTPS_DEFAULT_PROFILES_FILE"
                     if os.environ.get("ROS_DISTRO", "") in ("humble", "iron", "jazzy")
                     else "FASTDDS_DEFAULT_PROFILES_FILE")


def _default_params_file() -> str:
    """Installed config when the package is installed, else the source tree's copy."""
    try:
        return os.path.join(get_package_share_directory("rtmdnet_ros"), "config", "tracker.yaml")
    except PackageNotFoundError:
        return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "config", "tracker.yaml")


def _default_dds_profile() -> str:
    """Return the user's Fast DDS profile when the environment names one, else ours."""
    own = os.environ.get(_PROFILE_VARIABLE)
    if own:
        return own
    for config in (os.path.dirname(_default_params_file()),  # installed (or source) config/
                   os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "config")):
        if os.path.isfile(os.path.join(config, "fastdds.xml")):
            return os.path.join(config, "fastdds.xml")
    return ""


class _EndOnFailure:
    """End the launch with exit 1 when the node process fails, repeating its own error line.

    Without this, a node process that ends early (ROS could not read its arguments: exit 2 with
    one line) leaves `ros2 launch` running, waiting for a lifecycle transition that can never
    come, until Ctrl-C, and then exiting 0. An exception raised from an event handler is
    launch's documented way to end with a non-zero status ("Caught exception in launch"); the
    node's clean exits (0: Ctrl-C, the shutdown transition) end nothing early.
    """

    def __init__(self) -> None:
        self.error_line = ""

    def on_stderr(self, event: object) -> None:
        """Keep the node's last one-line error (``[rtmdnet_tracker] error: ...``)."""
        for line in event.text.decode(errors="replace").splitlines():
            if "] error: " in line:
                self.error_line = line.strip()

    def on_exit(self, event: object, context: object) -> None:
        """Raise on a non-zero exit so launch shuts down and returns 1."""
        if event.returncode != 0:
            why = f": {self.error_line}" if self.error_line else ""
            raise RuntimeError(f"{event.action.name} exited with code {event.returncode}{why}")


def generate_launch_description() -> LaunchDescription:
    """Declare the arguments and the one node."""
    args = [
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace of the node and its topics"),
        DeclareLaunchArgument("params_file", default_value=_default_params_file(),
                              description="YAML with rtmdnet_tracker: ros__parameters:"),
        DeclareLaunchArgument("image_topic", default_value="image",
                              description="Camera topic remapped onto the node's 'image' input"),
        DeclareLaunchArgument("image_transport", default_value="raw",
                              description="raw (sensor_msgs/Image) or compressed "
                                          "(<image_topic>/compressed)"),
        DeclareLaunchArgument("device", default_value="auto", description="auto | cpu | cuda"),
        DeclareLaunchArgument("publish_debug", default_value="true",
                              description="Publish ~/debug_image while subscribed"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="Emit configure and activate at launch (true) or "
                                          "leave the node unconfigured for a lifecycle manager"),
        DeclareLaunchArgument("detections_topic", default_value="",
                              description="vision_msgs/Detection2DArray topic of a detector "
                                          "(the node's detections_topic; empty = none)"),
        DeclareLaunchArgument("click_to_track", default_value="false",
                              description="true = a click in rqt_image_view on the debug image "
                                          "(~/debug_image_mouse_left) starts a track"),
        DeclareLaunchArgument("dds_profile", default_value=_default_dds_profile(),
                              description="Fast DDS XML profile of the node (default: the "
                                          "shipped config/fastdds.xml, 64 MB shared memory; "
                                          "none = Fast DDS defaults); give the camera driver "
                                          "the same one"),
    ]
    profile = LaunchConfiguration("dds_profile")
    use_profile = SetEnvironmentVariable(
        _PROFILE_VARIABLE, profile,
        condition=IfCondition(PythonExpression(['"', profile, '" not in ("", "none")'])))
    image_topic = LaunchConfiguration("image_topic")
    node = LifecycleNode(
        package="rtmdnet_ros",
        executable="tracker_node",
        name="rtmdnet_tracker",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "image_transport": LaunchConfiguration("image_transport"),
                "device": LaunchConfiguration("device"),
                "publish_debug": LaunchConfiguration("publish_debug"),
                "detections_topic": LaunchConfiguration("detections_topic"),
                # rqt_image_view publishes a click on <its image topic>_mouse_left.
                "click_topic": PythonExpression([
                    '"~/debug_image_mouse_left" if "', LaunchConfiguration("click_to_track"),
                    '".lower() == "true" else ""']),
                # The transitions come from this file (below), not from the node itself.
                "autostart": False,
            },
        ],
        remappings=[
            ("image", image_topic),
            ("image/compressed", [image_topic, "/compressed"]),
        ],
    )
    autostart = IfCondition(LaunchConfiguration("autostart"))
    configure = EmitEvent(
        event=ChangeState(lifecycle_node_matcher=matches_action(node),
                          transition_id=Transition.TRANSITION_CONFIGURE),
        condition=autostart)
    activate_when_inactive = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node, goal_state="inactive",
            entities=[EmitEvent(event=ChangeState(
                lifecycle_node_matcher=matches_action(node),
                transition_id=Transition.TRANSITION_ACTIVATE))]),
        condition=autostart)
    failure = _EndOnFailure()
    watch = [RegisterEventHandler(OnProcessIO(target_action=node, on_stderr=failure.on_stderr)),
             RegisterEventHandler(OnProcessExit(target_action=node, on_exit=failure.on_exit))]
    return LaunchDescription([*args, use_profile, activate_when_inactive, *watch, node,
                              configure])
