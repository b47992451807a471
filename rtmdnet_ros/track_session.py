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
- A refused init changes nothing: the box is checked against the image first, and while a track
  runs the new one is trained on a second tracker (the *spare*), swapped in only on success.
- ``~/init`` may start on a cached, older frame. Every frame that arrived after it is then
  *caught up*, oldest first, before new frames, so the tracker follows the target across the
  gap as if it had been live (a jump over many frames loses it). Frames that arrive meanwhile
  are caught up in further rounds; a tracker slower than the camera cannot take them all, so a
  round that is not shorter than the last takes half as many frames, evenly spaced, each round
  ending at the newest frame: the catch-up ends after at most twice the first round's work.
- Frames are answered in arrival order within a track: a frame taken by the worker before an init
  it then waited for is older than the new track, or queued for the catch-up: it is skipped
  (counted as late only when strictly older than the init frame).
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
    branch: str = ""  # the tracker's rule for this frame (TrackResult.branch)

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
    reason: str = ""  # in the user's terms: what to change
    track_id: str = ""
    detail: str = ""  # the tracker's own words for a failed training, for the log
    note: str = ""  # what ``accept`` said of an accepted start, for the log
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
    score: float = 0.0  # the detections' scale: a probability (1 on the init frame)
    # Frames handed to this target and never answered (counted among its dropped frames): older
    # than its init frame, of another size than its track, or voided by an init or reset.
    frames_unanswered: int = 0


# The smallest box side the tracker can draw training samples around, in pixels (its sample
# generator keeps every sample at least this size and this far inside the image).
MIN_BOX_SIDE = 5.0


def check_init_box(box: Sequence[float], shape: tuple[int, ...],
                   min_side: float = MIN_BOX_SIDE) -> str:
    """Why a box cannot start a track on an image of ``shape``; "" when it can.

    Checked before the tracker sees it, so every way to start a track (``~/init``, a bag's
    ``--box`` or detection) refuses the same boxes with the same words, and a refusal says what
    to change rather than where the tracker failed. A box partly outside the image counts by its
    part inside (that is what the tracker learns from).
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
    inside_w = min(x + w, width) - max(x, 0.0)
    inside_h = min(y + h, height) - max(y, 0.0)
    if inside_w < min_side or inside_h < min_side:
        return (f"box too small: {inside_w:.1f} x {inside_h:.1f} px inside the {width}x{height} "
                f"image; the tracker needs at least {min_side:g} x {min_side:g} px")
    if inside_w > width - 2 * min_side and inside_h > height - 2 * min_side:
        return (f"box too large for the image: {inside_w:.0f} x {inside_h:.0f} px of a "
                f"{width}x{height} image; the tracker learns the target against what surrounds "
                f"it, so leave at least {2 * min_side:g} px of the image outside the box in "
                "width or height")
    return ""


@dataclass(frozen=True)
class ResetOutcome:
    """What a reset stopped: the state it left, the track, and the last header (for status)."""

    was: int
    track_id: str
    header: Any
    initialising: bool


def pick_catch_up(later: Sequence[Any], count: int | None = None) -> list[Any]:
    """Return the frames to track after an init on a cached frame, ending at the newest.

    ``count`` None takes every one (the node: a jump over frames can lose the target); a number
    takes that many evenly spaced, 0 = only the newest.
    """
    if not later:
        return []
    if count is None:
        return list(later)
    n = min(count, len(later))
    if n <= 0:
        return [later[-1]]
    idx = sorted({round(i) for i in np.linspace(0, len(later) - 1, n + 1)[1:]})
    return [later[i] for i in idx]


class TrackSession:
    """The tracker plus the state that says what its answers mean; safe across threads.

    Two locks, always taken in this order: ``tracker_lock`` serialises the trackers themselves
    (an init's training and a frame's update never overlap), the state lock guards the small
    state and is held only for moments, so ``reset`` never waits for the tracker.

    ``build_spare(current)`` makes a second tracker like ``current`` for training a new track
    while one runs (built at the first such init, then the two take turns); without it (the bag
    tool) an init trains the one tracker in place. ``catch_up_frames``: see :func:`pick_catch_up`.
    """

    def __init__(self, tracker: Any, catch_up_frames: int | None = None,
                 build_spare: Callable[[Any], Any] | None = None,
                 new_id: Callable[[], str] | None = None) -> None:
        """Take ``new_id()``, which gives a new track's id when several sessions share ids.

        Sessions of one node share it, so no two targets ever carry the same id; without it
        the session numbers its own tracks.
        """
        self.tracker_lock = threading.Lock()
        self._lock = threading.Lock()
        self._tracker = tracker
        self._spare: Any = None
        self._build_spare = build_spare
        self.catch_up_frames = catch_up_frames
        self._state = IDLE
        self._generation = 0
        self._track_id = ""
        self._track_label = ""
        self._track_shape: tuple[int, int] | None = None
        self._next_track_number = 1
        self._new_id = new_id
        self._track_start_seq = 0
        self._last_seq = 0  # the newest frame this track has answered (arrival number)
        self._last_box: np.ndarray | None = None
        self._tracking_box: np.ndarray | None = None
        self._last_raw = 0.0
        self._last_score = 0.0
        self._last_header: Any = None
        self._catch_up: list[Any] = []
        self._catching_up = 0  # sequence of the catch-up frame handed out last
        # The next round of the catch-up: frames_since(last frame) lists the newer ones, the
        # budget is the most frames the round may take; None when no round is due.
        self._frames_since: Callable[[Any], list[Any]] | None = None
        self._round_budget = 0
        self._last_caught: Any = None
        self._consumed: Callable[[int], None] | None = None
        self._frames_processed = 0
        self._unanswered = 0
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
    def track_label(self) -> str:
        """The current track's label (its class when it started on a detection)."""
        with self._lock:
            return self._track_label

    @property
    def last_tracking_box(self) -> np.ndarray | None:
        """The box of the track's last TRACKING answer (where a LOST target was last seen)."""
        with self._lock:
            return None if self._tracking_box is None else self._tracking_box.copy()

    @property
    def catching_up(self) -> int:
        """Cached frames still to be tracked after the last init."""
        with self._lock:
            return len(self._catch_up)

    @property
    def last_box(self) -> np.ndarray | None:
        """The last box (x, y, w, h) the tracker gave, or the init box; None while idle."""
        with self._lock:
            return None if self._last_box is None else self._last_box.copy()

    def status(self) -> SessionStatus:
        """Return the status fields, taken together."""
        with self._lock:
            return SessionStatus(self._state, self._last_raw, self._track_id,
                                 self._processing_ms, self._frames_processed, self._last_score,
                                 self._unanswered)

    # ------------------------------------------------------------------ worker side
    def next_catch_up(self) -> Any | None:
        """Return the next cached frame to catch up on after an init, or None (then: newest)."""
        with self._lock:
            if not self._catch_up:
                self._next_round()
            if not self._catch_up:
                return None
            frame = self._catch_up.pop(0)
            self._catching_up, self._last_caught = frame.sequence, frame
            return frame

    def _next_round(self) -> None:
        """Queue the frames that arrived during the last round (state lock held)."""
        since, last = self._frames_since, self._last_caught
        if since is None or last is None:
            return
        newer = since(last)
        if not newer:
            self._frames_since = None  # at the newest frame: live from here
            return
        if len(newer) < self._round_budget:
            count: int | None = None  # converging: take every frame
        else:
            count = self._round_budget // 2  # the camera is faster: thin out, end soon
            if count == 0:
                self._frames_since = None  # this round is the newest frame alone
        self._catch_up = pick_catch_up(newer, count)
        self._round_budget = len(self._catch_up)
        if self._consumed is not None:
            self._consumed(newer[-1].sequence)

    def _skip_reason(self, sequence: int) -> str | None:
        """Why a frame is not answered in the current track (state lock held), or None."""
        if self._state == IDLE:
            return None
        if sequence < self._track_start_seq:
            self._unanswered += 1  # older than the init frame: never tracked
            return "late"
        if sequence <= self._last_seq:
            return "late"  # answered already (the init frame, or a caught-up frame)
        if sequence != self._catching_up and (self._catch_up or sequence < self._catching_up):
            return "late"  # queued for the catch-up: answered there, in order
        return None

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
        branch = ""
        with self.tracker_lock:
            with self._lock:
                generation, state = self._generation, self._state
                track_id, label, shape = self._track_id, self._track_label, self._track_shape
                skip = self._skip_reason(sequence)
                if skip is not None:
                    return FrameOutcome(skip, state, state, track_id=track_id)
            if state != IDLE:
                if rgb.shape[:2] != shape:
                    with self._lock:
                        self._unanswered += 1
                    return FrameOutcome("size", state, state, track_id=track_id, label=label,
                                        track_shape=shape)
                result = self._tracker.update(rgb)
                raw = float(result.score)
                tracking = bool(result.success)
                branch = result.branch
                box = np.asarray(result.box_xywh, dtype=np.float64)
        score = probability(raw) if state != IDLE else 0.0
        with self._lock:
            if generation != self._generation:
                self._unanswered += 1
                return FrameOutcome("void", track_id=track_id)
            if state != IDLE:
                state = TRACKING if tracking else LOST
                self._frames_processed += 1
                self._last_seq = max(self._last_seq, sequence)
            previous, self._state = self._state, state
            self._last_box, self._last_raw, self._last_header = box, raw, header
            if state == TRACKING:
                self._tracking_box = box
            self._last_score = score
            self._processing_ms = (time.perf_counter() - t0) * 1000.0
        return FrameOutcome(None, state, previous, score, raw, box, track_id, label, shape,
                            branch)

    # ------------------------------------------------------------------ services
    def _candidate(self, running: bool,
                   next_tracker: Callable[[Any], Any] | None) -> Any:
        """Return the tracker the new track is trained on (tracker lock held).

        While a track runs it is the spare, so a failure leaves the running tracker untouched;
        ``next_tracker`` may replace it by one built with changed options.
        """
        if running and self._build_spare is not None:
            if self._spare is None:
                self._spare = self._build_spare(self._tracker)
            candidate = self._spare
        else:
            candidate = self._tracker
        if next_tracker is not None:
            replaced = next_tracker(candidate)
            if candidate is self._spare:
                self._spare = replaced
            else:
                self._tracker = replaced
            candidate = replaced
        return candidate

    def _may_resume(self, track_id: str) -> bool:
        """Whether ``track_id`` is the current track and LOST (state lock held)."""
        return self._track_id == track_id and self._state == LOST

    def _no_resume(self, track_id: str) -> str:
        state = STATE_NAMES[self._state]
        current = f"track {self._track_id} {state}" if self._track_id else state
        return f"track {track_id} is no longer LOST (now {current}): not restarted"

    def init(self, rgb: np.ndarray, box: tuple[float, float, float, float], sequence: int,
             header: Any, label: str, frames_after: Callable[[], list[Any]],
             next_tracker: Callable[[Any], Any] | None = None,
             started: Callable[[int], None] | None = None,
             frames_since: Callable[[Any], list[Any]] | None = None,
             resume: str = "", if_idle: bool = False,
             accept: Callable[[Any], tuple[bool, str]] | None = None,
             keep_id: str = "") -> InitOutcome:
        """Start a new track on the frame ``sequence`` (already converted to ``rgb``).

        ``frames_after`` lists the cached frames newer than the init frame; it is asked after
        the training, so frames that arrived during it are caught up too. ``next_tracker`` may
        swap the tracker to train first (options changed at run time build the next tracker).
        ``started`` is called with the last sequence the new track covers, still under the
        tracker lock, so the caller can forget a pending copy of a frame already queued (and
        again for each later round). ``frames_since(frame)`` lists the frames newer than
        ``frame``, for the catch-up's later rounds; without it there is one round.
        ``resume``: restart the LOST track with this id, keeping the id (a re-initialisation
        after a loss); ``if_idle``: start only while no track runs (an automatic start must not
        replace one an init started meanwhile). Both are checked once the tracker is this
        init's alone, so nothing can change the state until the track starts. ``accept(tracker)``
        judges the start with the running tracker in that same hold, before any training (a
        detection the verifier must accept: no frame is tracked between verdict and restart);
        it returns (go on, words): the refusal, or a note for the log.
        ``keep_id``: re-initialise the running track with this id, keeping the id (a target
        named by its id); refused when that track stopped meanwhile.
        A refused box or a failed training leaves the current track as it was.
        """
        reason = check_init_box(box, rgb.shape, _min_side(self._tracker))
        if reason:
            return InitOutcome(False, reason)
        t0 = time.perf_counter()
        x, y, w, h = (float(v) for v in box)
        height, width = rgb.shape[:2]
        with self.tracker_lock:
            with self._lock:
                if resume and not self._may_resume(resume):
                    return InitOutcome(False, self._no_resume(resume))
                if keep_id and self._track_id != keep_id:
                    return InitOutcome(False, f"track {keep_id} stopped meanwhile: not "
                                       "re-initialised")
                if if_idle and self._state != IDLE:
                    return InitOutcome(False, f"track {self._track_id} started meanwhile "
                                       f"({STATE_NAMES[self._state]}): not replaced")
            note = ""
            if accept is not None:
                accepted, note = accept(self._tracker)
                if not accepted:
                    return InitOutcome(False, note)
            with self._lock:
                generation = self._generation
                previous = self._state
                self._initialising = True
            try:
                candidate = self._candidate(previous != IDLE, next_tracker)
            except Exception as exc:  # the model loaded once already: a resource problem
                with self._lock:
                    self._initialising = False
                return InitOutcome(False, "no second tracker could be built to train the new "
                                   "track on (see the log); the running track goes on",
                                   detail=f"{type(exc).__name__}: {exc}")
            try:
                candidate.init(rgb, (x, y, w, h))
            except ValueError as exc:
                return InitOutcome(
                    False, f"the tracker could not learn a target from the box (x={x:.1f}, "
                    f"y={y:.1f}, w={w:.1f}, h={h:.1f}) on this {width}x{height} frame: draw a "
                    "box that fits the target more tightly", detail=str(exc))
            finally:
                with self._lock:
                    self._initialising = False
            later = frames_after()
            with self._lock:
                if generation != self._generation:  # a reset arrived during the training
                    return InitOutcome(False, "~/reset was called during initialisation")
                if candidate is not self._tracker:
                    self._spare, self._tracker = self._tracker, candidate
                self._generation += 1  # an answer in flight belongs to the old track: void
                previous = self._state
                if resume or keep_id:
                    track_id = resume or keep_id
                elif self._new_id is not None:
                    track_id = self._new_id()
                else:
                    track_id = str(self._next_track_number)
                    self._next_track_number += 1
                self._track_id, self._track_label = track_id, label
                self._track_shape = (height, width)
                self._track_start_seq = self._last_seq = self._catching_up = sequence
                self._state = TRACKING
                self._last_box = np.array([x, y, w, h], dtype=np.float64)
                self._tracking_box = self._last_box
                self._last_raw, self._last_score = 0.0, 1.0
                self._last_header = header
                self._frames_processed += 1
                self._processing_ms = (time.perf_counter() - t0) * 1000.0
                self._catch_up = pick_catch_up(later, self.catch_up_frames)
                queued = len(self._catch_up)
                self._round_budget, self._last_caught = queued, None
                self._frames_since = frames_since if queued else None
                self._consumed = started
                answer = FrameOutcome(None, TRACKING, previous, 1.0, 0.0, self._last_box.copy(),
                                      track_id, label, self._track_shape)
            if started is not None:
                started(later[-1].sequence if later else sequence)
        return InitOutcome(True, track_id=track_id, catch_up=queued, answer=answer, note=note)

    def score_box(self, rgb: np.ndarray, box: Sequence[float]) -> tuple[float, float]:
        """Return the running tracker's verdict on a box from elsewhere: (logit, threshold).

        Taken between two frames (the tracker lock), so it never overlaps an update; the box is
        accepted as the target when the logit is above the threshold, the tracker's own rule.
        Raises ValueError when the tracker cannot judge a box (no learnt target).
        """
        with self.tracker_lock:
            return verdict(self._tracker, rgb, box)

    def reset(self) -> ResetOutcome:
        """Stop tracking now, without waiting for a tracking step or an init in progress."""
        with self._lock:
            outcome = ResetOutcome(self._state, self._track_id, self._last_header,
                                   self._initialising)
            self._generation += 1
            self._catch_up = []
            self._frames_since = None
            self._state = IDLE
            self._track_id = ""
            self._track_shape = None
            self._last_box = self._tracking_box = None
            self._last_raw = self._last_score = 0.0
        return outcome

    def replace_tracker(self, make: Callable[[Any], Any]) -> None:
        """Swap the tracker for ``make(current)`` between frames (the current one is idle)."""
        with self.tracker_lock:
            self._tracker = make(self._tracker)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the trackers' own threads (their asynchronous update workers).

        Waits up to ``timeout`` for a step in progress: a thread still inside torch at
        interpreter exit can abort the process, so closing behind the step is the safe order.
        """
        locked = self.tracker_lock.acquire(timeout=timeout)
        try:
            for tracker in (self._tracker, self._spare):
                close = getattr(tracker, "close", None)
                if callable(close):
                    close()
        finally:
            if locked:
                self.tracker_lock.release()


def verdict(tracker: Any, rgb: np.ndarray, box: Sequence[float]) -> tuple[float, float]:
    """Return a tracker's (logit, threshold) for a box: its verifier's score and own rule.

    Raises ValueError when the tracker cannot judge a box (no learnt target, no verifier).
    """
    scorer = getattr(tracker, "score_box", None)
    if scorer is None:
        raise ValueError("this tracker cannot score a box")
    logit = float(scorer(rgb, tuple(float(v) for v in box)))
    threshold = float(getattr(getattr(getattr(tracker, "options", None), "rtmdnet", None),
                              "success_threshold", 0.0))
    return logit, threshold


def _min_side(tracker: Any) -> float:
    """Return the tracker's smallest sample side (its options), for the init box check."""
    options = getattr(tracker, "options", None)
    return float(getattr(getattr(options, "rtmdnet", None), "min_box_size", MIN_BOX_SIDE))
