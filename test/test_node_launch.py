# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The launch file, the parameters file and the rviz config, as files.

The launch file itself is run by launch_testing in test/test_launch_tracker.py and by the
README's ``ros2 launch`` lines in test/test_ros2_cli.py (both need the ROS 2 tools that
``make setup`` installs from ../shared/ros2-tools). The YAML/rviz checks here run everywhere.
"""

from __future__ import annotations

import py_compile

import yaml
from node_harness import REPO_ROOT, require_ros

LAUNCH_FILE = REPO_ROOT / "launch" / "tracker.launch.py"
PARAMS_FILE = REPO_ROOT / "config" / "tracker.yaml"
RVIZ_FILE = REPO_ROOT / "rviz" / "tracker.rviz"


def test_launch_file_compiles():
    py_compile.compile(str(LAUNCH_FILE), doraise=True)


def test_params_file_matches_the_declared_parameters():
    require_ros()
    from rtmdnet_ros.node.parameters import PARAMETER_NAMES
    from rtmdnet_ros.node.tracker_node import NODE_NAME

    data = yaml.safe_load(PARAMS_FILE.read_text())
    params = data[f"/**/{NODE_NAME}"]["ros__parameters"]  # any namespace
    assert set(params) == set(PARAMETER_NAMES), "config/tracker.yaml and the node disagree"
    assert params["lost_score_threshold"] == 0.5 and params["image_transport"] == "raw"


def test_rviz_config_shows_the_debug_image():
    config = yaml.safe_load(RVIZ_FILE.read_text())
    displays = config["Visualization Manager"]["Displays"]
    images = [d for d in displays if d["Class"] == "rviz_default_plugins/Image" and d["Enabled"]]
    assert images and images[0]["Topic"]["Value"] == "/rtmdnet_tracker/debug_image"
