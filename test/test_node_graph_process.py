# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The cross-process graph as on a robot: real processes, real DDS.

``bench/bench_graph.py`` runs a camera process (a real sequence padded to 640x480 ``bgr8``, the
shipped Fast DDS profile), the tracker node process and a consumer; this test runs it at a rate
the 2-core CI machine sustains and asserts what a consumer relies on: at least 85 % of the
played frames answered (see below), every unanswered frame counted as dropped by the node,
every answer in stamp order, and both processes exiting 0. Needs the
shared sequences (skips without them, fails under CI=true).
"""

from __future__ import annotations

import json
import subprocess
import sys

from data_paths import sequence_dir
from node_harness import REPO_ROOT, require_ros, ros_env

require_ros()

# A frame can take several times its quiet time when the machine is loaded (docs/node.md, "In a
# real graph"): 2 Hz leaves room for that.
RATE_HZ = 2.0
FRAMES = 60


def test_camera_process_to_node_process_answers_frames_in_order(tmp_path):
    sequence = sequence_dir("boat1")
    out = tmp_path / "graph.json"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "bench_graph.py"), "--sequence-dir",
         str(sequence), "--frames", str(FRAMES + 1), "--rate", str(RATE_HZ), "--no-offline",
         "--json", str(out)],
        cwd=REPO_ROOT, env=ros_env(), capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    summary = result.stdout
    assert report["profile"].endswith("config/fastdds.xml"), summary
    assert report["frames_played"] == FRAMES, summary
    # The aim is 95 %, which this graph meets alone; inside the full suite a few frames are lost
    # before reaching the node (docs/node.md, "In a real graph"). So the floor is 85 %, and
    # every frame the node did not answer must be one it counted as dropped.
    assert report["frames_answered"] >= 0.85 * FRAMES, summary
    assert report["frames_answered"] + report["frames_dropped_reported"] >= FRAMES - 1, summary
    assert report["in_stamp_order"], summary
    assert report["node_exit_code"] == 0 and report["camera_exit_code"] == 0, summary
    # Every detection of a played frame carries a stamp the camera sent (nothing invented).
    played = {int(s) for s in report["played_stamps"]}
    answered = [d for d in report["detections"] if d["stamp_ns"] in played]
    assert len({d["stamp_ns"] for d in answered}) == report["frames_answered"]
