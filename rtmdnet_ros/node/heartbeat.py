# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The status heartbeat: ``~/status`` at a fixed rate when nothing else is published.

Why: status is otherwise published per frame, so with the camera stopped (or a long
initialisation) a monitor hears nothing and cannot tell "no camera" from "node dead". The
heartbeat repeats the current state on the last answered image's header (stamps never go back)
and says what is missing. It also says, once the camera's size and rate are known, how much
memory the frame cache can take.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rtmdnet_ros.node.frame_cache import FrameCache
from rtmdnet_ros.node.outputs import NodeOutputs
from rtmdnet_ros.node.targets import Targets


def image_age(cache: FrameCache) -> float:
    """Seconds since the newest image arrived; -1 before the first."""
    newest = cache.newest()
    return -1.0 if newest is None else cache.age(newest)


class Heartbeat:
    """A timer on the node from activate to deactivate."""

    def __init__(self, node: Any, outputs: NodeOutputs, targets: Targets, cache: FrameCache,
                 topic: Callable[[], str], rate_hz: float) -> None:
        self._node = node
        self._outputs = outputs
        self._targets = targets
        self._cache = cache
        self._topic = topic
        self._timer: Any = None
        self._memory_said = (0, -1.0)  # (frame size, cap) the cache's memory was last said for
        self.set_rate(rate_hz)

    def set_rate(self, rate_hz: float) -> None:
        """(Re)start the timer at ``rate_hz`` (the ``status_rate`` parameter)."""
        self.stop()
        self._period = 1.0 / float(rate_hz)
        # Four ticks per period; a tick publishes when the next would be too late, so the gap
        # between two statuses stays within [3/4, 1] period.
        self._tick_s = self._period / 4
        self._timer = self._node.create_timer(self._tick_s, self._tick)

    def stop(self) -> None:
        """Stop the timer (deactivate)."""
        if self._timer is not None:
            self._node.destroy_timer(self._timer)
            self._timer = None

    def _tick(self) -> None:
        self._say_memory()
        if time.monotonic() - self._outputs.last_status < self._period - self._tick_s:
            return
        age = image_age(self._cache)
        if age < 0:
            message = f"no image received yet on {self._topic()}"
        elif age >= self._period:
            message = f"no image for {age:.0f} s on {self._topic()}"
        else:
            message = ""  # images arrive; the tracker is busy (an initialisation, a catch-up)
        for status in self._targets.statuses():  # one per running target
            self._outputs.status(status, message)

    def _say_memory(self) -> None:
        """Log the memory the cache takes when full, at the rate seen (once per size and cap)."""
        footprint = self._cache.footprint()
        if footprint.frames < 2 or footprint.span_s < 1.0:
            return
        frame_bytes = footprint.bytes // footprint.frames
        said_bytes, said_cap = self._memory_said
        cap = self._cache.max_mb * 1e6
        if abs(frame_bytes - said_bytes) <= 0.25 * said_bytes and cap == said_cap:
            return  # said already for about this size and this cap
        self._memory_said = (frame_bytes, cap)
        rate = (footprint.frames - 1) / footprint.span_s
        seconds = self._cache.seconds
        full = frame_bytes * rate * seconds
        line = (f"frame cache: {seconds:g} s of frames at {rate:.1f} Hz and "
                f"{frame_bytes / 1e3:.0f} kB per frame take up to {full / 1e6:.0f} MB "
                "(frame_cache_seconds)")
        if cap and full > cap:
            line += (f"; capped at {cap / 1e6:g} MB (frame_cache_max_mb): an init reaches "
                     f"{cap / (frame_bytes * rate):.1f} s back")
        self._node.get_logger().info(line)
