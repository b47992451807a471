# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``make demo`` end to end on its embedded default input (no shared data needed)."""

from __future__ import annotations

import re
import subprocess
import sys

import cv2
from node_harness import REPO_ROOT, assert_clean, require_ros, ros_env

require_ros()


def test_demo_runs_the_graph_and_prints_a_summary(tmp_path):
    video = tmp_path / "demo.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "rtmdnet_ros.node.demo", "--frames", "12", "--rate", "5",
         "--output", str(video)],
        cwd=REPO_ROOT, env=ros_env(), capture_output=True, text=True, timeout=300)
    out = result.stdout
    # A clean exit, as test_node_exit.py asks of every executable (these runs count there).
    assert_clean(result.returncode, out + result.stderr, "rtmdnet-demo")
    assert "matplotlib" in out and "grace_hopper.jpg" in out  # where the clip comes from
    assert re.search(r"frames received by the recorder : 12", out), out
    answered = int(re.search(r"frames answered by the tracker  : (\d+)", out).group(1))
    assert answered >= 3
    assert re.search(r"detection headers != image      : 0", out)
    iou = float(re.search(r"mean IoU with ground truth      : [\d.]+ over all published frames, "
                          r"([\d.]+) over answered", out).group(1))
    assert iou > 0.3, out
    assert re.search(r"latency image stamp -> detection: mean \d", out)
    capture = cv2.VideoCapture(str(video))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 12


def test_demo_from_a_detector_stand_in_starts_by_auto_init(tmp_path):
    """``make demo-detector``: no ~/init call; the stand-in's detection of frame 0 starts it."""
    result = subprocess.run(
        [sys.executable, "-m", "rtmdnet_ros.node.demo", "--from-detector", "--frames", "12",
         "--rate", "5", "--output", ""],
        cwd=REPO_ROOT, env=ros_env(), capture_output=True, text=True, timeout=300)
    out, log = result.stdout, result.stdout + result.stderr
    assert_clean(result.returncode, log, "rtmdnet-demo --from-detector")
    assert "init: track 1 started by auto_init on the stand-in's detection of frame 0" in out
    # The node's own line: the detection's box on the stamped frame it was computed on.
    assert re.search(r"track 1 \(target\) started by auto_init on the 'target' detection "
                     r"\(score 0\.90\) on the (newest|cached) frame \d+\.\d{9} at x=", log), log
    published = int(re.search(r"detector stand-in: (\d+) detections published", out).group(1))
    assert published >= 3  # frames 0, 5 and 10 (and frame 0 again if it had to be re-offered)
    assert re.search(r"frames received by the recorder : 12", out), out
    iou = float(re.search(r"mean IoU with ground truth      : [\d.]+ over all published frames, "
                          r"([\d.]+) over answered", out).group(1))
    assert iou > 0.3, out
