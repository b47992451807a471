# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image stamps as integers and as text: the key frames and answers are matched by.

One conversion for every front end (the node and its tool nodes, ``rtmdnet-bag``, the benches),
so a stamp keys the same frame everywhere. Works on rclpy's ``builtin_interfaces/Time`` and on
rosbags' dataclass alike (both have ``sec`` and ``nanosec``).
"""

from __future__ import annotations

from typing import Any

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp: Any) -> int:
    """Return a ``builtin_interfaces/Time`` as integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def header_stamp_ns(header: Any) -> int:
    """Return a ``std_msgs/Header``'s stamp as integer nanoseconds."""
    return stamp_to_ns(header.stamp)


def format_stamp(stamp_ns: int) -> str:
    """Write a stamp as ``sec.nanosec`` the way ``ros2 topic echo`` users read it."""
    return f"{stamp_ns // NS_PER_S}.{stamp_ns % NS_PER_S:09d}"
