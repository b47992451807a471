# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Which cached frame an ``~/init`` starts on, or why none can be used, in the user's words.

Kept apart from the service because the rules are the part a user meets first: a box drawn on a
frame seconds ago must start on that frame; a box sent without a stamp must not start on a frame
from a camera that stopped long ago (the target has moved on); and a refusal must say what to
change (the stamp, the camera, a parameter), never how the cache works inside.
"""

from __future__ import annotations

from rtmdnet_ros.node.frame_cache import CachedFrame, FrameCache
from rtmdnet_ros.ros_io.stamps import format_stamp


def find_init_frame(cache: FrameCache, stamp_ns: int, topic: str,
                    max_age_s: float) -> CachedFrame | str:
    """Return the frame to start on (``stamp_ns`` 0 = the newest), or the refusal sentence.

    Without a stamp the newest frame is used only if it arrived at most ``max_age_s`` ago; with
    one, any frame still in the cache (``frame_cache_seconds``) is.
    """
    newest = cache.newest()
    if newest is None:
        return (f"no image received yet on {topic}: start the camera (or check the topic name "
                "and image_transport) and call ~/init again")
    if stamp_ns == 0:
        age = cache.age(newest)
        if age > max_age_s:
            return (f"the newest frame is too old: it arrived {age:.1f} s ago on {topic} "
                    f"(max_init_frame_age {max_age_s:g} s); is the camera running? Call ~/init "
                    "again once images arrive, or give the stamp of the frame the box was "
                    "drawn on")
        return newest
    frame = cache.find(stamp_ns)
    if frame is not None:
        return frame
    count, oldest, newest_ns = cache.stamp_range()
    return (f"stamp {format_stamp(stamp_ns)} is not in the frame cache (the last "
            f"{cache.seconds:g} s: {count} frames from {format_stamp(oldest)} to "
            f"{format_stamp(newest_ns)}); use the stamp of a recent frame, zero for the newest "
            "frame, or raise frame_cache_seconds")
