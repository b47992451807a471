# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""launch_testing test of launch/tracker.launch.py: the file as ROS 2 tooling runs it.

launch_testing's pytest plugin (installed by ``make setup`` from ../shared/ros2-tools, and part of
every ROS 2 distro) starts the launch description below, runs the ``TestTrackerLaunch`` cases
while the node is up, shuts the launch down (SIGINT to the node, as Ctrl-C would) and then runs
the post-shutdown cases on the exit codes. Without launch_testing the module is skipped with the
reason, and under CI=true that is a failure (see test/data_paths.py).
"""

from __future__ import annotations

import importlib.util
import os
import unittest

import pytest
from data_paths import REPO_ROOT, ros2_tools_dir

if importlib.util.find_spec("launch_testing") is None:
    _REASON = (f"launch_testing is not importable (make setup installs it from {ros2_tools_dir()} "
               "when that folder exists; any ROS 2 distro has it)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but {_REASON}", pytrace=False)
    pytest.skip(_REASON, allow_module_level=True)

import launch_testing.actions  # noqa: E402 (only after the skip above)
import launch_testing.asserts  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from launch import LaunchDescription  # noqa: E402

LAUNCH_FILE = REPO_ROOT / "launch" / "tracker.launch.py"
NAMESPACE = "launch_test"
ARGUMENTS = {"namespace": NAMESPACE, "device": "cpu", "publish_debug": "false",
             "click_to_track": "true"}


@pytest.mark.launch_test
def generate_test_description() -> LaunchDescription:
    """Include the launch file as a user's own launch file would, with some of its arguments."""
    include = IncludeLaunchDescription(PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
                                       launch_arguments=ARGUMENTS.items())
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class TestTrackerLaunch(unittest.TestCase):
    """While the launched node runs."""

    def test_declares_the_documented_arguments(self) -> None:
        spec = importlib.util.spec_from_file_location("tracker_launch", LAUNCH_FILE)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        description = module.generate_launch_description()
        names = {arg.name for arg in description.get_launch_arguments()}
        self.assertEqual(names, {"namespace", "params_file", "image_topic", "image_transport",
                                 "device", "publish_debug", "autostart", "dds_profile",
                                 "detections_topic", "click_to_track"})

    def test_node_starts_in_the_namespace_and_answers_init(self, proc_output) -> None:
        # The node's own start-up lines, through launch's output capture.
        proc_output.assertWaitFor("on device cpu (requested cpu", timeout=90)
        proc_output.assertWaitFor(f"listening on /{NAMESPACE}/image (raw", timeout=30)
        # click_to_track:=true: clicks on the debug image's viewer; no detector given.
        proc_output.assertWaitFor(
            f"/rtmdnet_tracker/reset; clicks from /{NAMESPACE}/rtmdnet_tracker/"
            "debug_image_mouse_left",
            timeout=30)
        # The launch file hands the node the shipped Fast DDS profile (large images).
        proc_output.assertWaitFor("/config/fastdds.xml); publishing", timeout=30)

        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rtmdnet_ros.srv import InitTarget

        context = Context()  # its own: launch_testing's process may hold others
        rclpy.init(context=context)  # ROS_DOMAIN_ID/discovery range from test/conftest.py
        try:
            node = rclpy.create_node("launch_test_client", context=context)
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)
            client = node.create_client(InitTarget, f"/{NAMESPACE}/rtmdnet_tracker/init")
            self.assertTrue(client.wait_for_service(timeout_sec=30.0), "no ~/init service")
            request = InitTarget.Request()
            request.box.center.position.x, request.box.center.position.y = 40.0, 30.0
            request.box.size_x, request.box.size_y = 20.0, 20.0
            future = client.call_async(request)
            executor.spin_until_future_complete(future, timeout_sec=30.0)
            response = future.result()
            self.assertIsNotNone(response, "~/init did not answer")
            self.assertFalse(response.success)  # no camera in this launch
            self.assertIn(f"no image received yet on /{NAMESPACE}/image", response.message)
            executor.shutdown()
            node.destroy_node()
        finally:
            rclpy.shutdown(context=context)


@launch_testing.post_shutdown_test()
class TestTrackerShutdown(unittest.TestCase):
    """After launch_testing stopped the launch with SIGINT."""

    def test_node_exits_cleanly(self, proc_info, proc_output) -> None:
        launch_testing.asserts.assertExitCodes(proc_info)  # every process exited 0
        # ROS log lines go to stderr; launch kept them for the whole run.
        launch_testing.asserts.assertInStderr(proc_output, "RT-MDNet tracker on", "tracker_node")
