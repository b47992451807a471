# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The newest-frame slot and the recent, stamp-keyed history behind the tracker node.

Why a separate, ROS-free module: the image callback must only store a frame and return, the
worker must always get the newest frame (never a backlog), and the init service must find the
frame a user drew a box on, seconds ago. All three touch the same small structure under one
lock; keeping it free of rclpy makes that logic testable on its own.

The history is measured in seconds of arrival time, not frames: a person typing a service call
needs the same few seconds whatever the camera's rate. Frames are stored as received (raw
message objects): converting every frame would cost time for frames that are then dropped. A
cap in bytes bounds it too: ten seconds of a 1080p camera are about 2 GB, more than a small
robot can spare, and there the cap, not the seconds, decides how far back an init can reach.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Whatever the rate, the history never holds more frames than this (a flooding publisher).
MAX_FRAMES = 4000


@dataclass(frozen=True)
class CachedFrame:
    """One received frame: its stamp in nanoseconds, its header and the untouched message."""

    stamp_ns: int
    header: Any
    msg: Any
    compressed: bool
    sequence: int  # arrival order, to tell frames with equal stamps apart
    received: float = 0.0  # arrival time (the cache's clock, monotonic seconds)
    size: int = 0  # bytes of image data, for the memory the history takes


@dataclass(frozen=True)
class Footprint:
    """What the history holds now: frames, their bytes, and the arrival time they span."""

    frames: int
    bytes: int
    span_s: float


class FrameCache:
    """Newest-frame slot + the last ``seconds`` of frames, safe to use from several threads.

    ``put`` replaces the pending newest frame; if the worker had not taken the previous one yet,
    that frame counts as dropped (the node never queues). ``take_newest`` hands the worker the
    pending frame once. ``find`` looks a stamp up in the history for a stamped init.
    """

    def __init__(self, seconds: float, max_mb: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Keep ``seconds`` of frames, and at most ``max_mb`` megabytes of them (0: no cap)."""
        self._check(seconds, max_mb)
        self._seconds = float(seconds)
        self._max_bytes = int(max_mb * 1e6)
        self._clock = clock
        self._lock = threading.Condition()
        self._history: deque[CachedFrame] = deque(maxlen=MAX_FRAMES)
        self._bytes = 0  # image bytes held by the history
        self._pending: CachedFrame | None = None
        self._sequence = 0
        self._received = 0
        self._dropped = 0
        self._replaced: set[int] = set()  # frames counted as dropped, still in the history
        self._closed = False

    @staticmethod
    def _check(seconds: float, max_mb: float) -> None:
        if not seconds > 0:
            raise ValueError(f"frame cache length must be > 0 s, got {seconds}")
        if not max_mb >= 0:
            raise ValueError(f"frame cache cap must be >= 0 MB (0 = none), got {max_mb}")

    @property
    def seconds(self) -> float:
        """How far back (arrival time) frames are kept for a stamped init."""
        return self._seconds

    @property
    def max_mb(self) -> float:
        """The cap on the history's image bytes, in megabytes (0: none)."""
        return self._max_bytes / 1e6

    def resize(self, seconds: float | None = None, max_mb: float | None = None) -> None:
        """Change how many seconds, or megabytes, of frames are kept (the newest stay)."""
        seconds = self._seconds if seconds is None else seconds
        max_mb = self.max_mb if max_mb is None else max_mb
        self._check(seconds, max_mb)
        with self._lock:
            self._seconds = float(seconds)
            self._max_bytes = int(max_mb * 1e6)
            self._evict(self._clock())

    def _evict(self, now: float) -> None:
        """Drop frames older than the window or beyond the cap, always keeping the newest."""
        history = self._history
        cap = self._max_bytes
        while len(history) > 1 and (now - history[0].received > self._seconds
                                    or (cap and self._bytes > cap)):
            self._forget(history.popleft())

    def _forget(self, frame: CachedFrame) -> None:
        """Account for a frame leaving the history (lock held)."""
        self._bytes -= frame.size
        self._replaced.discard(frame.sequence)

    def put(self, stamp_ns: int, header: Any, msg: Any, compressed: bool = False) -> bool:
        """Store a new frame as the pending newest one; return True when one was dropped."""
        now = self._clock()
        data = getattr(msg, "data", None)
        size = len(data) if data is not None and hasattr(data, "__len__") else 0
        with self._lock:
            self._sequence += 1
            frame = CachedFrame(stamp_ns, header, msg, compressed, self._sequence, now, size)
            if len(self._history) == self._history.maxlen:
                self._forget(self._history[0])  # the deque drops it on the append
            self._history.append(frame)
            self._bytes += size
            self._evict(now)
            dropped = self._pending is not None
            if dropped:
                self._dropped += 1
                self._replaced.add(self._pending.sequence)
            self._pending = frame
            self._received += 1
            self._lock.notify_all()
            return dropped

    def take_newest(self, timeout: float | None = None) -> CachedFrame | None:
        """Wait for and return the pending newest frame (each frame is handed out once)."""
        with self._lock:
            if self._pending is None and not self._closed:
                self._lock.wait(timeout)
            frame, self._pending = self._pending, None
            return frame

    def wake(self) -> None:
        """Wake a waiting worker (for shutdown or for work queued elsewhere)."""
        with self._lock:
            self._lock.notify_all()

    def close(self) -> None:
        """Make every current and future wait return at once."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def newest(self) -> CachedFrame | None:
        """Return the most recent frame in the history, without consuming it."""
        with self._lock:
            return self._history[-1] if self._history else None

    def age(self, frame: CachedFrame) -> float:
        """Seconds since ``frame`` arrived."""
        return self._clock() - frame.received

    def find(self, stamp_ns: int) -> CachedFrame | None:
        """Return the newest cached frame with exactly this stamp, or None."""
        with self._lock:
            self._evict(self._clock())
            for frame in reversed(self._history):
                if frame.stamp_ns == stamp_ns:
                    return frame
            return None

    def at_or_before(self, stamp_ns: int) -> CachedFrame | None:
        """Return the newest cached frame stamped at or before ``stamp_ns``, or None."""
        with self._lock:
            self._evict(self._clock())
            return max((f for f in self._history if f.stamp_ns <= stamp_ns),
                       key=lambda f: (f.stamp_ns, f.sequence), default=None)

    def after(self, frame: CachedFrame) -> list[CachedFrame]:
        """Return the cached frames that arrived after ``frame``, oldest first."""
        with self._lock:
            return [f for f in self._history if f.sequence > frame.sequence]

    def tracked_late(self, frame: CachedFrame) -> None:
        """Stop counting ``frame`` as dropped: a catch-up tracks it after all."""
        with self._lock:
            if frame.sequence in self._replaced:
                self._replaced.discard(frame.sequence)
                self._dropped -= 1

    def discard_pending_up_to(self, sequence: int) -> None:
        """Forget the pending frame if it is not newer than ``sequence`` (already tracked)."""
        with self._lock:
            if self._pending is not None and self._pending.sequence <= sequence:
                self._pending = None

    def stamp_range(self) -> tuple[int, int, int]:
        """Return (count, oldest stamp, newest stamp) for messages that explain a refusal."""
        with self._lock:
            self._evict(self._clock())
            if not self._history:
                return 0, 0, 0
            return len(self._history), self._history[0].stamp_ns, self._history[-1].stamp_ns

    def footprint(self) -> Footprint:
        """Return what the history holds now (for the memory line in the log)."""
        with self._lock:
            if not self._history:
                return Footprint(0, 0, 0.0)
            span = self._history[-1].received - self._history[0].received
            return Footprint(len(self._history), self._bytes, span)

    @property
    def received(self) -> int:
        """Frames stored since start."""
        return self._received

    @property
    def dropped(self) -> int:
        """Frames replaced before the worker took them and not caught up after an init."""
        return self._dropped
