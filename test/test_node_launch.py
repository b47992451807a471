# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The launch file, the parameters file and the rviz config.

launch/launch_ros are not installable here (no registry has them): the launch-description test
runs where they are importable (any ROS 2 distro) and is skipped with that reason otherwise. The
YAML/rviz checks run everywhere.
"""

from __future__ import annotations

import importlib.util
import py_compile

import pytest
import yaml
from node_harness import REPO_ROOT, require_ros

LAUNCH_FILE = REPO_ROOT / "launch" / "tracker.launch.py"
PARAMS_FILE = REPO_ROOT / "config" / "tracker.yaml"
RVIZ_FILE = REPO_ROOT / "rviz" / "tracker.rviz"


def test_launch_file_compiles():
    py_compile.compile(str(LAUNCH_FILE), doraise=True)


def test_launch_description_has_the_documented_arguments():
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros is not importable here (no ROS 2 distro; PyPI has no launch_ros)")
    spec = importlib.util.spec_from_file_location("tracker_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {arg.name for arg in description.get_launch_arguments()}
    assert names == {"namespace", "params_file", "image_topic", "image_transport", "device",
                     "publish_debug"}
    from launch_ros.actions import Node

    nodes = [e for e in description.entities if isinstance(e, Node)]
    assert len(nodes) == 1
    assert nodes[0].node_executable == "tracker_node"
    assert nodes[0].node_package == "rtmdnet_ros"


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
