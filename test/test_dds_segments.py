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
import time
from pathlib import Path

import pytest

from rtmdnet_ros.node import process
from rtmdnet_ros.ros_io.dds_segments import SHM, own_segments

pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm on this machine")


def mapped(pid: int) -> str:
    """Process ``pid``'s memory map: the segments it has mapped, its own and those it reads."""
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.fixture
def camera():
    """A publisher in this process, on the node's input: the node reads this process's segment."""
    import rclpy
    from sensor_msgs.msg import Image

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("dds_segments_camera", namespace="/dds_segments", context=context)
    publisher = node.create_publisher(Image, "image", 1)
    frame = Image(height=48, width=64, encoding="rgb8", step=64 * 3, data=bytes(64 * 48 * 3))
    yield node, publisher, frame
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_the_node_removes_its_segment_when_it_stops(camera):
    node = process.start(process.tracker_command("dds_segments", {"device": "cpu"}),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log: list[str] = []
    try:
        for line in node.stdout:  # up to the activation line: the model is loaded, all is up
            log.append(line.decode(errors="replace"))
            if "listening on" in log[-1]:
                break
        assert node.poll() is None, "".join(log)
        segments = own_segments(node.pid)
        assert segments, "the node holds no Fast DDS segment"
        assert all(path.exists() for path in segments)
        assert segments[0].stat().st_size >= 64 * 2**20  # the shipped profile's segment
        # Frames from this process until the node has mapped this process's segment to read it.
        _, publisher, frame = camera
        ours = [path for path in own_segments() if not path.name.endswith("_el")]
        assert ours, "this process holds no Fast DDS segment"
        deadline = time.monotonic() + 30.0
        while str(ours[0]) not in mapped(node.pid) and time.monotonic() < deadline:
            publisher.publish(frame)
            time.sleep(0.05)
        assert str(ours[0]) in mapped(node.pid), "the node never read this process's segment"
        node.send_signal(signal.SIGINT)
        log += [line.decode(errors="replace") for line in node.stdout]
        assert node.wait(timeout=30) == 0, "".join(log)
        assert [path for path in segments if path.exists()] == []
        # What the node read from this process stays: only its own segment was removed.
        assert all(path.exists() for path in ours)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
