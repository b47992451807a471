# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where things are: the repository, its requirement files and what the venv holds where."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "rtmdnet_ros"
# The ROS 2 Kilted wheels on PyPI are built for CPython 3.11 only.
REQUIRED_PYTHON = (3, 11)
REQUIREMENTS = REPO / "requirements"
# Installed together, so pip resolves them as one set; constraints.txt pins everything else.
REQUIREMENT_FILES = ("ros2-kilted.txt", "project.txt")
OPTIONAL_REQUIREMENTS = "optional.txt"
CONSTRAINTS = "constraints.txt"
VISION_MSGS_SRC = REPO / "tools" / "vision_msgs"
# Words of the fallback's package.xml description that tell it apart from a real vision_msgs.
FALLBACK_MARKER = "Stand-in for the upstream vision_msgs"
# Generated rtmdnet_ros.msg / .srv go here (relative to the venv), not into site-packages, so that
# the source tree, listed first in the .pth file, always provides the package's own modules.
INTERFACES_PYTHON_DIR = "lib/rtmdnet_ros_interfaces"
PTH_NAME = "rtmdnet_ros_dev.pth"
STATE_NAME = ".setup-state.json"
# Files installed by the CMake build besides the interfaces: a change to any of them reinstalls.
INSTALLED_DIRS = ("launch", "config", "rviz", "scripts")
