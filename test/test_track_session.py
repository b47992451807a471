# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's track session without ROS: states, generations, catch-up, numbering.

Most cases run on the real RT-MDNet tracker and a synthetic clip (one first-frame training per
module, then updates). The size and timing cases use a small tracker class with fixed answers;
the session itself is never replaced. The state is the tracker's own decision: a real tracker
built with the node's threshold mapping shows its search and the published state move together.
"""

from __future__ import annotations

import math
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_clip import make_clip  # noqa: E402

from rtmdnet_ros.geometry import iou  # noqa: E402
from rtmdnet_ros.node.frame_cache import FrameCache  # noqa: E402
from rtmdnet_ros.node.parameters import (  # noqa: E402
    lost_threshold_to_raw,
    tracker_option_overrides,
)
from rtmdnet_ros.options import TrackerOptions  # noqa: E402
from rtmdnet_ros.track_session import (  # noqa: E402
    IDLE,
    LOST,
    TRACKING,
    TrackSession,
    pick_catch_up,
)
from rtmdnet_ros.track_types import TrackResult  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402

SYNC = TrackerOptions().replace(torch_threads=1, update_mode="sync")

@pytest.fixture(scope="module")
def clip():
    return make_clip(n_frames=24, seed=1)


@pytest.fixture(scope="module")
def tracker():
    t = Tracker(options=SYNC, device="cpu", seed=5)
    yield t
    t.close()


def fill(cache: FrameCache, frames: list[np.ndarray], start: int = 0) -> None:
    """Put frames into a cache as the image callback does (stamp = index + 1)."""
    for i, frame in enumerate(frames, start):
        cache.put(i + 1, f"header{i}", frame)


def test_catch_up_picks_evenly_and_ends_at_the_newest():
    later = list(range(10))
    assert pick_catch_up(later, 3) == [3, 6, 9]
    assert pick_catch_up(later, 0) == [9]
    assert pick_catch_up(later, 50) == later[1:]  # never more than one per cached frame
    assert pick_catch_up([], 3) == []
    assert pick_catch_up(later) == later  # the node's rule: every frame, in order


def test_real_tracker_init_on_a_cached_frame_catches_up_then_follows(tracker, clip):
    frames, boxes = clip
    cache = FrameCache(30.0)
    fill(cache, frames[:9])  # the user drew the box on frame 0; 8 newer frames are cached
    session = TrackSession(tracker)
    assert session.state == IDLE and session.track_id == ""
    first = cache.find(1)
    discarded = []
    out = session.init(frames[0], tuple(boxes[0]), first.sequence, first.header, "car",
                       lambda: cache.after(first), started=discarded.append)
    assert out.success and out.track_id == "1" and out.catch_up == 8
    assert discarded == [9]  # the newest cached frame is already queued
    assert session.state == TRACKING
    # A frame the worker took before the init (here the newest) is queued for the catch-up:
    # not answered now, out of order, but in its turn.
    newest = cache.find(9)
    assert session.track(newest.sequence, newest.header, newest.msg).skipped == "late"
    caught = []
    while (frame := session.next_catch_up()) is not None:
        caught.append(frame.stamp_ns)
        result = session.track(frame.sequence, frame.header, frame.msg)
        assert result.skipped is None and result.track_id == "1" and result.label == "car"
        assert result.state == TRACKING  # the catch-up itself never loses the target
    assert caught == list(range(2, 10))  # every cached frame, oldest first
    for i in range(9, 16):
        cache.put(i + 1, f"header{i}", frames[i])
        frame = cache.take_newest(timeout=1)
        result = session.track(frame.sequence, frame.header, frame.msg)
        assert result.skipped is None and result.state == TRACKING, result
        assert iou(result.box, boxes[i]) > 0.5
    status = session.status()
    assert (status.state, status.track_id, status.frames_processed) == (TRACKING, "1", 1 + 8 + 7)
    assert status.processing_ms > 0 and status.raw > 0
    # The worker may hold the init frame itself (taken before the init it waited for): it is
    # the track's first frame already, so it is skipped but not counted as lost.
    assert session.track(first.sequence, first.header, first.msg).skipped == "late"
    assert session.status().frames_unanswered == 0


def test_reset_voids_a_step_and_numbering_continues(tracker, clip):
    frames, boxes = clip
    cache = FrameCache(5)
    fill(cache, frames[:1])
    session = TrackSession(tracker)
    frame = cache.newest()
    assert session.init(frames[0], tuple(boxes[0]), frame.sequence, frame.header, "a",
                        lambda: []).track_id == "1"
    reset = session.reset()
    assert reset.was == TRACKING and reset.track_id == "1" and not reset.initialising
    assert session.state == IDLE and session.last_box is None
    assert session.reset().was == IDLE  # a second reset: nothing to stop
    # Idle frames are answered idle (no tracker call, score 0).
    idle = session.track(frame.sequence + 2, "h", frames[2])
    assert (idle.skipped, idle.state, idle.score, idle.box) == (None, IDLE, 0.0, None)
    # The next track gets the next number; a frame older than its init frame is late.
    assert session.init(frames[2], tuple(boxes[2]), frame.sequence + 2, "h", "b",
                        lambda: []).track_id == "2"
    late = session.track(frame.sequence + 1, "h", frames[1])
    assert late.skipped == "late" and session.status().frames_unanswered == 1


def test_reset_during_init_cancels_the_track(tracker, clip):
    frames, boxes = clip
    session = TrackSession(tracker)
    outcomes = []
    entered = threading.Event()

    def frames_after() -> list:
        entered.set()  # training is done; the reset below lands before the commit
        session.reset()
        return []

    outcomes.append(session.init(frames[0], tuple(boxes[0]), 1, "h", "a", frames_after))
    assert entered.is_set()
    assert not outcomes[0].success and "~/reset was called during initialisation" in \
        outcomes[0].reason
    assert session.state == IDLE and session.track_id == ""


def test_bad_boxes_are_refused_before_the_tracker_and_keep_the_track(tracker, clip):
    frames, boxes = clip
    session = TrackSession(tracker)
    bad = [((10.0, 10.0, 0.0, 5.0), "size must be positive"),
           ((10.0, math.nan, 8.0, 5.0), "non-finite"),
           ((1e4, 10.0, 8.0, 5.0), "lies outside"),
           ((0.0, 0.0, 1e4, 1e4), "box too large for the image"),
           ((10.0, 10.0, 3.0, 40.0), "box too small: 3.0 x 40.0 px"),
           ((-38.0, 10.0, 40.0, 40.0), "box too small: 2.0 x 40.0 px")]  # mostly outside
    for box, needle in bad:
        out = session.init(frames[0], box, 1, "h", "a", lambda: [])
        assert not out.success and needle in out.reason, out.reason
    assert session.state == IDLE and session.status().frames_processed == 0
    # The init frame's own answer: the given box, score 1, TRACKING, the new track's id.
    started = session.init(frames[0], tuple(boxes[0]), 1, "h", "car", lambda: [])
    answer = started.answer
    assert started.success and answer is not None and answer.skipped is None
    assert (answer.state, answer.previous, answer.score, answer.track_id, answer.label) == (
        TRACKING, IDLE, 1.0, started.track_id, "car")
    np.testing.assert_array_equal(answer.box, boxes[0])
    # A refused re-init leaves the running track alone.
    refused = session.init(frames[1], (5.0, 5.0, -1.0, 3.0), 2, "h", "car", lambda: [])
    assert not refused.success
    assert (session.state, session.track_id) == (TRACKING, started.track_id)


@dataclass
class FixedScoreTracker:
    """A tracker whose answers are fixed scores, to check the state rule at exact values."""

    scores: list[float]
    threshold: float = 0.0  # its own success rule: score > threshold
    closed: bool = False
    gate: threading.Event | None = None  # when set up, update waits for it (a slow step)
    inside: threading.Event | None = None
    fail_init: bool = False  # init raises as the real tracker does on a box it cannot learn

    def init(self, image: np.ndarray, box: tuple[float, ...]) -> None:
        if self.fail_init:
            raise ValueError("bad regression data: features (0, 1080), y (0, 4)")
        self.box = np.asarray(box, dtype=np.float64)

    def update(self, image: np.ndarray) -> TrackResult:
        if self.gate is not None and self.inside is not None:
            self.inside.set()
            self.gate.wait(timeout=30)
        score = self.scores.pop(0)
        return TrackResult(self.box, score, score > self.threshold)

    def close(self) -> None:
        self.closed = True


def test_state_is_the_trackers_decision_and_size_changes_are_skipped():
    image = np.zeros((48, 64, 3), np.uint8)
    # Raw threshold 0.405 = lost_score_threshold 0.6 mapped once (parameters.py).
    fixed = FixedScoreTracker([2.0, -0.1, 0.3, 5.0], threshold=lost_threshold_to_raw(0.6))
    session = TrackSession(fixed)
    assert session.init(image, (4, 4, 10, 10), 1, "h", "x", lambda: []).success
    states = []
    for seq in (2, 3):
        out = session.track(seq, "h", image)
        states.append((out.state, out.previous, out.changed))
    assert states == [(TRACKING, TRACKING, False), (LOST, TRACKING, True)]
    out = session.track(4, "h", image)  # sigmoid(0.3) = 0.574 < 0.6: the tracker says LOST
    assert out.state == LOST and 0.57 < out.score < 0.58
    wrong = session.track(5, "h", np.zeros((10, 10, 3), np.uint8))
    assert wrong.skipped == "size" and wrong.track_shape == (48, 64)
    assert session.status().frames_unanswered == 1  # counted among the node's dropped frames
    assert session.track(6, "h", image).state == TRACKING
    swapped = FixedScoreTracker([])
    session.replace_tracker(lambda old: swapped)
    assert session.tracker is swapped
    session.close()
    assert swapped.closed


def test_a_reset_during_a_tracking_step_voids_its_answer():
    image = np.zeros((48, 64, 3), np.uint8)
    slow = FixedScoreTracker([3.0], gate=threading.Event(), inside=threading.Event())
    session = TrackSession(slow)
    assert session.init(image, (4, 4, 10, 10), 1, "h", "x", lambda: []).track_id == "1"
    results = []
    worker = threading.Thread(target=lambda: results.append(session.track(2, "h", image)))
    worker.start()
    assert slow.inside.wait(timeout=10)  # the worker is inside tracker.update
    reset = session.reset()  # answered at once although the tracker is busy
    assert reset.was == TRACKING and session.state == IDLE
    slow.gate.set()
    worker.join(timeout=10)
    assert results[0].skipped == "void" and session.state == IDLE
    assert session.status().frames_unanswered == 1  # counted among the dropped frames


def test_close_stops_the_trackers_update_worker(clip):
    """What the node's cleanup transition relies on: no tracker thread outlives the session."""
    frames, boxes = clip
    tracker = Tracker(options=TrackerOptions().replace(torch_threads=1, update_mode="async"),
                      device="cpu", seed=2)
    session = TrackSession(tracker)
    assert session.init(frames[0], tuple(boxes[0]), 1, "h", "a", lambda: []).success
    assert session.track(2, "h", frames[1]).skipped is None

    def workers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "rtmdnet-update" and t.is_alive()]

    assert workers(), "the async tracker runs an update worker"
    session.close()
    for thread in workers():
        thread.join(timeout=30)
    assert workers() == []


def test_one_threshold_moves_the_trackers_search_and_the_published_state(clip):
    """lost_score_threshold reaches the tracker once; its search width follows the same state."""
    frames, boxes = clip
    states: dict[float, list[tuple[int, float, bool]]] = {}
    for threshold in (0.5, 0.999):
        overrides = tracker_option_overrides({"lost_score_threshold": threshold})
        t = Tracker(options=SYNC, device="cpu", seed=5, overrides=overrides)
        raw = lost_threshold_to_raw(threshold)
        assert t.options.rtmdnet.success_threshold == pytest.approx(raw)
        session = TrackSession(t)
        assert session.init(frames[0], tuple(boxes[0]), 1, "h", "x", lambda: []).success
        seen = []
        for i in range(1, 6):
            out = session.track(i + 1, "h", frames[i])
            # The tracker widens its search exactly on the frames the node publishes LOST.
            widened = t.classifier.search.widened
            seen.append((out.state, out.score, widened))
            assert widened == (out.state == LOST)
        states[threshold] = seen
        t.close()
    # Same frames, same seed: the strict threshold turns confident frames into LOST ones.
    assert all(s == TRACKING for s, _, _ in states[0.5])
    assert all(s == LOST for s, score, _ in states[0.999] if score <= 0.999)
    assert any(s == LOST for s, _, _ in states[0.999])


def test_a_failed_training_changes_nothing_and_a_good_one_swaps_the_trackers():
    """While a track runs, a new one trains on a second tracker: a failure leaves the running
    tracker, state and id as they were; a success swaps them (the old one is the next spare)."""
    image = np.zeros((48, 64, 3), np.uint8)
    running = FixedScoreTracker([2.0, 2.0])
    spares: list[FixedScoreTracker] = []

    def build_spare(current: FixedScoreTracker) -> FixedScoreTracker:
        spares.append(FixedScoreTracker([3.0, 3.0], fail_init=True))
        return spares[-1]

    session = TrackSession(running, build_spare=build_spare)
    assert session.init(image, (4, 4, 10, 10), 1, "h1", "x", lambda: []).track_id == "1"
    assert spares == []  # nothing ran: the first track trains in place
    refused = session.init(image, (20, 20, 10, 10), 2, "h2", "y", lambda: [])
    assert not refused.success and "bad regression" not in refused.reason
    assert "could not learn a target from the box" in refused.reason
    assert "bad regression data" in refused.detail  # for the log, not the user
    assert (session.state, session.track_id, session.tracker) == (TRACKING, "1", running)
    out = session.track(3, "h3", image)
    assert (out.skipped, out.track_id, out.raw) == (None, "1", 2.0)  # the same tracker goes on
    spares[0].fail_init = False
    started = session.init(image, (20, 20, 10, 10), 4, "h4", "y", lambda: [])
    assert started.success and started.track_id == "2" and session.tracker is spares[0]
    assert session.track(5, "h5", image).raw == 3.0
    # The next init trains on the former running tracker: no third tracker is built.
    assert session.init(image, (8, 8, 10, 10), 6, "h6", "z", lambda: []).track_id == "3"
    assert session.tracker is running and len(spares) == 1
    session.close()
    assert running.closed and spares[0].closed


@pytest.mark.parametrize("every,arrivals", [(2, 1), (1, 3)], ids=["slower-camera", "faster"])
def test_the_catch_up_takes_later_rounds_and_ends_at_the_newest(every, arrivals):
    """Frames arriving during the catch-up are caught up too: all of them while the rounds
    shrink (a tracker faster than the camera), thinned out when the camera is faster, so the
    catch-up ends either way; every answer is newer than the one before."""
    image = np.zeros((48, 64, 3), np.uint8)
    cache = FrameCache(60.0)
    for i in range(1, 11):
        cache.put(i, f"h{i}", image)
    init_frame = cache.find(1)
    session = TrackSession(FixedScoreTracker([2.0] * 1000))
    out = session.init(image, (4, 4, 10, 10), init_frame.sequence, init_frame.header, "x",
                       lambda: cache.after(init_frame), started=cache.discard_pending_up_to,
                       frames_since=cache.after)
    assert out.catch_up == 9
    answered, stamp = [], 11
    while (frame := session.next_catch_up()) is not None:
        result = session.track(frame.sequence, frame.header, frame.msg)
        assert result.skipped is None and result.state == TRACKING
        answered.append(frame.stamp_ns)
        if len(answered) % every == 0:  # the camera goes on while the tracker works
            for _ in range(arrivals):
                cache.put(stamp, f"h{stamp}", image)
                stamp += 1
    assert answered == sorted(set(answered)) and answered[:9] == list(range(2, 11))
    if every == 2:  # converging: every frame, none skipped, up to the newest
        assert answered == list(range(2, stamp))
    else:
        assert len(answered) <= 2 * 9 + 1  # at most twice the first round's work
        assert answered[-1] >= stamp - arrivals - 1  # the newest when the last round began
    pending = cache.take_newest(timeout=0.01)  # what the worker takes next: newer, in order
    assert pending is None or pending.stamp_ns > answered[-1]
