# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Which cached frame an ``~/init`` starts on, or why none can be used, in the user's words.

Kept apart from the service because the rules are the part a user meets first: a box drawn on a
frame seconds ago must start on that frame, and a refusal must say what to change (the stamp,
the camera, a parameter), never how the cache works inside.
"""

from __future__ import annotations

from rtmdnet_ros.node.frame_cache import CachedFrame, FrameCache
from rtmdnet_ros.ros_io.stamps import format_stamp


def find_init_frame(cache: FrameCache, stamp_ns: int, topic: str) -> CachedFrame | str:
    """Return the frame to start on (``stamp_ns`` 0 = the newest), or the refusal sentence."""
    if cache.received == 0:
        return (f"no image received yet on {topic}: start the camera (or check the topic name "
                "and image_transport) and call ~/init again")
    frame = cache.newest() if stamp_ns == 0 else cache.find(stamp_ns)
    if frame is not None:
        return frame
    count, oldest, newest = cache.stamp_range()
    return (f"stamp {format_stamp(stamp_ns)} is not in the frame cache ({count} frames from "
            f"{format_stamp(oldest)} to {format_stamp(newest)}); use a recent stamp, zero for "
            "the newest frame, or raise frame_cache_length")
