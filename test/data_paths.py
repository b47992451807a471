# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where tests find the shared sequences, and how they react when they are missing.

A user's own clone may not have the shared data: tests skip and say why. Under CI (CI=true) the
data must be there, so its absence fails instead of hiding behind a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtmdnet_ros.sequences import default_data_root

REPO_ROOT = Path(__file__).resolve().parents[1]


def sequences_dir() -> Path:
    """Return the sequences folder, skipping (or failing under CI) when it is absent."""
    path = default_data_root() / "sequences"
    if not path.is_dir():
        reason = f"shared sequences not found at {path} (set RTMDNET_DATA to the data folder)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return path


def sequence_dir(name: str) -> Path:
    """Return one sequence folder (img/ + groundtruth_rect.txt), with the same skip/fail rule."""
    path = sequences_dir() / name
    if not path.is_dir():
        reason = f"sequence {name} not found in {path.parent}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def ros2_tools_dir() -> Path:
    """Return the ROS 2 tools folder ($RTMDNET_ROS2_TOOLS, else ../shared/ros2-tools)."""
    env = os.environ.get("RTMDNET_ROS2_TOOLS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "ros2-tools"


def require_ros2_tools() -> Path:
    """Return the venv's ``ros2`` command; skip when the tools folder is absent (fail under CI).

    ``make setup`` installs ros2cli/launch from that folder; when the folder is there but the
    venv has no ``ros2``, the set-up is broken, which is a failure, never a skip.
    """
    tools = ros2_tools_dir()
    ros2 = REPO_ROOT / ".venv" / "bin" / "ros2"
    if not (tools / "wheels").is_dir():
        reason = (f"ROS 2 tools not found at {tools} (set RTMDNET_ROS2_TOOLS; make setup installs "
                  "ros2cli/launch from there)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    if not ros2.is_file():
        pytest.fail(f"{tools} exists but {ros2} does not: run make setup", pytrace=False)
    return ros2


def nanotrack_v3_dir() -> Path:
    """Return upstream NanoTrack v3's folder (ONNX files, checkpoint), same skip/fail rule."""
    from rtmdnet_ros import siamese_refiner
    from rtmdnet_ros.training.siamese import upstream_nanotrack_v3_dir

    path = upstream_nanotrack_v3_dir()
    if not (path / siamese_refiner.BACKBONE_FILE).is_file():
        reason = f"NanoTrack v3 models not found at {path} (set RTMDNET_NANOTRACK_V3_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return path
