# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One target's track over frames: the IDLE/TRACKING/LOST state machine, without ROS.

Why a separate, ROS-free module: the rules that decide what a frame's answer is are the subtle
part of the node, three of its threads touch them at once (the worker tracking frames,
``~/init`` training on a frame, ``~/reset`` stopping without waiting), and ``rtmdnet-bag`` must
answer a recording exactly as the node would. Kept here they are tested on a real tracker
without DDS, and both front ends only convert images, call these methods and publish what they
return.

The rules:
- Every init and reset bumps a *generation*; a frame result computed under an older generation
  is void (never published), so a reset is answered at once and a late tracking step cannot
  resurrect the old track.
- ``~/init`` may start on a cached, older frame. The frames that arrived after it are then
  *caught up*: a few evenly spaced ones (``catch_up_frames``), always ending with the newest, are
  tracked before new frames, so the tracker follows the target across the gap.
- A frame taken by the worker before an init it then waited for is older than the new track:
  it is skipped and, when strictly older than the init frame, counted as late.
- Tracks are numbered 1, 2, 3, ... for the node's lifetime (``Detection2D.id``).
- TRACKING or LOST is the tracker's own decision (``TrackResult.success``), never re-decided
  here: the node's ``lost_score_threshold`` reaches the tracker as its ``success_threshold``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rtmdnet_ros.score_scale import probability

# The values of TrackerStatus.state (msg/TrackerStatus.msg), as plain ints so that offline tools
# need no generated message module; a test checks them against the generated constants.
IDLE = 0
TRACKING = 1
LOST = 2
STATE_NAMES = {IDLE: "IDLE", TRACKING: "TRACKING", LOST: "LOST"}

__all__ = ["IDLE", "LOST", "STATE_NAMES", "TRACKING", "FrameOutcome", "InitOutcome",
           "ResetOutcome", "SessionStatus", "TrackSession", "check_init_box", "pick_catch_up"]


@dataclass(frozen=True)
class FrameOutcome:
    """What one tracked (or skipped) frame means for the outputs.

    ``skipped`` is None when the frame is answered (detections + status), else why not:
    ``"late"`` (older than the track: taken before the init it waited for), ``"size"`` (image
    size differs from the track's first frame) or ``"void"`` (an init/reset came meanwhile).
    """

    skipped: str | None
    state: int = IDLE
    previous: int = IDLE
    score: float = 0.0
    raw: float = 0.0
    box: np.ndarray | None = None
    track_id: str = ""
    label: str = ""
    track_shape: tuple[int, int] | None = None

    @property
    def changed(self) -> bool:
        """Whether the state changed with this frame (worth a log line)."""
        return self.skipped is None and self.previous != self.state


@dataclass(frozen=True)
class InitOutcome:
    """The answer of an init: a new track's id, or a reason it did not start.

    ``answer`` is the init frame's own answer, published like a tracked frame's: the given box
    with score 1 (it is the user's ground truth), state TRACKING.
    """

    success: bool
    reason: str = ""
    track_id: str = ""
    catch_up: int = 0  # cached frames queued to be tracked before new ones
    answer: FrameOutcome | None = None


@dataclass(frozen=True)
class SessionStatus:
    """What ``~/status`` reports, read in one go (the state may change between frames)."""

    state: int
    raw: float
    track_id: str
    processing_ms: float
    frames_processed: int


def check_init_box(box: Sequence[float], shape: tuple[int, ...]) -> str:
    """Why a box cannot start a track on an image of ``shape``; "" when it can.

    Checked before the tracker sees it, so every way to start a track (``~/init``, a bag's
    ``--box`` or detection) refuses the same boxes with the same words.
    """
    x, y, w, h = (float(v) for v in box)
    if not all(np.isfinite((x, y, w, h))):
        return f"box has a non-finite value: x={x} y={y} w={w} h={h}"
    if w <= 0 or h <= 0:
        return f"box size must be positive, got {w} x {h} px"
    height, width = shape[:2]
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        return (f"box (x={x:.1f}, y={y:.1f}, w={w:.1f}, h={h:.1f}) lies outside the "
                f"{width}x{height} image")
    return ""


@dataclass(frozen=True)
class ResetOutcome:
    """What a reset stopped: the state it left, the track, and the last header (for status)."""

    was: int
    track_id: str
    header: Any
    initialising: bool


def pick_catch_up(later: Sequence[Any], count: int) -> list[Any]:
    """Evenly spaced frames from those after the init frame, always ending at the newest.

    ``count`` 0 jumps straight to the newest frame (still tracked, so the track continues from
    the newest image rather than waiting for the next one).
    """
    if not later:
        return []
    n = min(count, len(later))
    if n <= 0:
        return [later[-1]]
    idx = sorted({round(i) for i in np.linspace(0, len(later) - 1, n + 1)[1:]})
    return [later[i] for i in idx]


class TrackSession:
    """The tracker plus the state that says what its answers mean; safe across threads.

    Two locks, always taken in this order: ``tracker_lock`` serialises the tracker itself (an
    init's training and a frame's update never overlap), the state lock guards the small
    state and is held only for moments, so ``reset`` never waits for the tracker.
    """

    def __init__(self, tracker: Any, catch_up_frames: int = 3) -> None:
        self.tracker_lock = threading.Lock()
        self._lock = threading.Lock()
        self._tracker = tracker
        self.catch_up_frames = int(catch_up_frames)
        self._state = IDLE
        self._generation = 0
        self._track_id = ""
        self._track_label = ""
        self._track_shape: tuple[int, int] | None = None
        self._next_track_number = 1
        self._track_start_seq = 0
        self._last_box: np.ndarray | None = None
        self._last_raw = 0.0
        self._last_header: Any = None
        self._catch_up: list[Any] = []
        self._frames_processed = 0
        self._late_frames = 0
        self._initialising = False
        self._processing_ms = 0.0

    # ------------------------------------------------------------------ read-only views
    @property
    def tracker(self) -> Any:
        """The tracker in use (replaced only under ``tracker_lock``)."""
        return self._tracker

    @property
    def state(self) -> int:
        """IDLE, TRACKING or LOST."""
        with self._lock:
            return self._state

    @property
    def track_id(self) -> str:
        """The current track's id; empty while idle."""
        with self._lock:
            return self._track_id

    @property
    def late_frames(self) -> int:
        """Frames that waited out an init and were older than its frame (never tracked)."""
        with self._lock:
            return self._late_frames

    @property
    def last_box(self) -> np.ndarray | None:
        """The last box (x, y, w, h) the tracker gave, or the init box; None while idle."""
        with self._lock:
            return None if self._last_box is None else self._last_box.copy()

    def status(self) -> SessionStatus:
        """Return the status fields, taken together."""
        with self._lock:
            return SessionStatus(self._state, self._last_raw, self._track_id,
                                 self._processing_ms, self._frames_processed)

    # ------------------------------------------------------------------ worker side
    def next_catch_up(self) -> Any | None:
        """Return the next cached frame to catch up on after an init, or None (then: newest)."""
        with self._lock:
            return self._catch_up.pop(0) if self._catch_up else None

    def track(self, sequence: int, header: Any, rgb: np.ndarray,
              started: float | None = None) -> FrameOutcome:
        """Track one frame (arrival number ``sequence``) and say what to publish.

        Idle frames wait for the tracker lock too: frames arriving during an init are caught up
        afterwards instead of being answered "idle" first.
        """
        t0 = time.perf_counter() if started is None else started
        box: np.ndarray | None = None
        raw = 0.0
        tracking = False
        with self.tracker_lock:
            with self._lock:
                generation, state = self._generation, self._state
                track_id, label, shape = self._track_id, self._track_label, self._track_shape
                if state != IDLE and sequence <= self._track_start_seq:
                    self._late_frames += int(sequence < self._track_start_seq)
                    return FrameOutcome("late", state, state, track_id=track_id)
            if state != IDLE:
                if rgb.shape[:2] != shape:
                    return FrameOutcome("size", state, state, track_id=track_id, label=label,
                                        track_shape=shape)
                result = self._tracker.update(rgb)
                raw = float(result.score)
                tracking = bool(result.success)
                box = np.asarray(result.box_xywh, dtype=np.float64)
        score = probability(raw) if state != IDLE else 0.0
        with self._lock:
            if generation != self._generation:
                return FrameOutcome("void", track_id=track_id)
            if state != IDLE:
                state = TRACKING if tracking else LOST
                self._frames_processed += 1
            previous, self._state = self._state, state
            self._last_box, self._last_raw, self._last_header = box, raw, header
            self._processing_ms = (time.perf_counter() - t0) * 1000.0
        return FrameOutcome(None, state, previous, score, raw, box, track_id, label, shape)

    # ------------------------------------------------------------------ services
    def init(self, rgb: np.ndarray, box: tuple[float, float, float, float], sequence: int,
             header: Any, label: str, frames_after: Callable[[], list[Any]],
             next_tracker: Callable[[Any], Any] | None = None,
             started: Callable[[int], None] | None = None) -> InitOutcome:
        """Start a new track on the frame ``sequence`` (already converted to ``rgb``).

        ``frames_after`` lists the cached frames newer than the init frame; it is asked after
        the training, so frames that arrived during it are caught up too. ``next_tracker`` may
        swap the tracker first (options changed at run time build the next tracker).
        ``started`` is called with the last sequence the new track covers, still under the
        tracker lock, so the caller can forget a pending copy of a frame already queued.
        A refused box (:func:`check_init_box`) leaves the current track as it was.
        """
        reason = check_init_box(box, rgb.shape)
        if reason:
            return InitOutcome(False, reason)
        t0 = time.perf_counter()
        x, y, w, h = (float(v) for v in box)
        height, width = rgb.shape[:2]
        with self.tracker_lock:
            with self._lock:
                self._generation += 1
                generation = self._generation
                self._catch_up = []
                previous, self._state = self._state, IDLE
                self._initialising = True
            try:
                if next_tracker is not None:
                    self._tracker = next_tracker(self._tracker)
                self._tracker.init(rgb, (x, y, w, h))
            except ValueError as exc:
                return InitOutcome(False, f"tracker rejected the box: {exc}")
            finally:
                with self._lock:
                    self._initialising = False
            later = frames_after()
            with self._lock:
                if generation != self._generation:  # a reset arrived during the training
                    return InitOutcome(False, "~/reset was called during initialisation")
                track_id = str(self._next_track_number)
                self._next_track_number += 1
                self._track_id, self._track_label = track_id, label
                self._track_shape = (height, width)
                self._track_start_seq = sequence
                self._state = TRACKING
                self._last_box = np.array([x, y, w, h], dtype=np.float64)
                self._last_raw = 0.0
                self._last_header = header
                self._frames_processed += 1
                self._processing_ms = (time.perf_counter() - t0) * 1000.0
                self._catch_up = pick_catch_up(later, self.catch_up_frames)
                queued = len(self._catch_up)
                answer = FrameOutcome(None, TRACKING, previous, 1.0, 0.0, self._last_box.copy(),
                                      track_id, label, self._track_shape)
            if started is not None:
                started(later[-1].sequence if later else sequence)
        return InitOutcome(True, track_id=track_id, catch_up=queued, answer=answer)

    def reset(self) -> ResetOutcome:
        """Stop tracking now, without waiting for a tracking step or an init in progress."""
        with self._lock:
            outcome = ResetOutcome(self._state, self._track_id, self._last_header,
                                   self._initialising)
            self._generation += 1
            self._catch_up = []
            self._state = IDLE
            self._track_id = ""
            self._track_shape = None
            self._last_box = None
            self._last_raw = 0.0
        return outcome

    def replace_tracker(self, make: Callable[[Any], Any]) -> None:
        """Swap the tracker for ``make(current)`` between frames (the current one is idle)."""
        with self.tracker_lock:
            self._tracker = make(self._tracker)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the tracker's own threads (its asynchronous update worker).

        Waits up to ``timeout`` for a step in progress: a thread still inside torch at
        interpreter exit can abort the process, so closing behind the step is the safe order.
        """
        close = getattr(self._tracker, "close", None)
        if not callable(close):
            return
        locked = self.tracker_lock.acquire(timeout=timeout)
        try:
            close()
        finally:
            if locked:
                self.tracker_lock.release()
