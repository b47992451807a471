# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A node that stops leaves no shared-memory segment behind (rtmdnet_ros/ros_io/dds_segments.py).

The tracker node runs as a real process with the shipped Fast DDS profile (64 MB segments); its
own segment is found the way the module finds it, through the process's open lock file, and
must be gone from /dev/shm once the node has exited on Ctrl-C.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from rtmdnet_ros.node import process
from rtmdnet_ros.ros_io.dds_segments import SHM, own_segments

pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm on this machine")


def test_the_node_removes_its_segment_when_it_stops():
    node = process.start(process.tracker_command("dds_segments", {"device": "cpu"}),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log: list[str] = []
    try:
        for line in node.stdout:  # up to the activation line: the model is loaded, all is up
            log.append(line.decode(errors="replace"))
            if "listening on" in log[-1]:
                break
        assert node.poll() is None, "".join(log)
        segments = own_segments(Path(f"/proc/{node.pid}/fd"))
        assert segments, "the node holds no Fast DDS segment"
        assert all(path.exists() for path in segments)
        assert segments[0].stat().st_size >= 64 * 2**20  # the shipped profile's segment
        node.send_signal(signal.SIGINT)
        log += [line.decode(errors="replace") for line in node.stdout]
        assert node.wait(timeout=30) == 0, "".join(log)
        assert [path for path in segments if path.exists()] == []
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
