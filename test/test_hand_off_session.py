# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The two things a detector hand-off needs of the tracker and the track, without ROS.

- ``Tracker.score_box``: the real tracker's own verifier judges a box from elsewhere (the
  target's box above its threshold, a background box below it; no learnt target: refused);
- ``TrackSession.init(resume=...)``: a LOST track restarts with the same id, and a restart that
  comes after the track changed (recovered, reset, replaced) is refused and changes nothing;
  ``if_idle`` (auto_init) never replaces a running track.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_clip import make_clip  # noqa: E402

from rtmdnet_ros.options import TrackerOptions  # noqa: E402
from rtmdnet_ros.track_session import LOST, TRACKING, TrackSession  # noqa: E402
from rtmdnet_ros.track_types import TrackResult  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402

OPTIONS = TrackerOptions().replace(torch_threads=1, update_mode="sync", first_frame="inline")


def test_the_trackers_verifier_scores_a_box_from_elsewhere():
    frames, boxes = make_clip(n_frames=12, seed=1)
    tracker = Tracker(options=OPTIONS, device="cpu", seed=5)
    try:
        with pytest.raises(ValueError, match="no learnt target"):
            tracker.score_box(frames[0], boxes[0])
        tracker.init(frames[0], boxes[0])
        for frame in frames[1:6]:
            tracker.update(frame)
        threshold = tracker.options.rtmdnet.success_threshold
        on_target = tracker.score_box(frames[8], boxes[8])
        x, y, w, h = boxes[8]
        height, width = frames[8].shape[:2]
        # The same size where the target is not: the opposite corner of the frame.
        away = (width - w - 2 if x < width / 2 else 2.0, height - h - 2 if y < height / 2
                else 2.0, w, h)
        off_target = tracker.score_box(frames[8], away)
        assert on_target > threshold > off_target, (on_target, off_target)
        # Judging a box changes nothing of the track: the next frame is answered as before.
        result = tracker.update(frames[6])
        assert result.success
        with pytest.raises(ValueError, match="must be finite"):
            tracker.score_box(frames[8], (float("nan"), 1, 10, 10))
    finally:
        tracker.close()
    with pytest.raises(ValueError, match="no learnt target"):
        tracker.score_box(frames[0], boxes[0])


class ScriptedTracker:
    """Answers with a scripted success per frame (the state machine's input), scores boxes 1."""

    def __init__(self, successes: list[bool]) -> None:
        self.successes = successes
        self.inits: list[tuple[float, ...]] = []

    def init(self, image: np.ndarray, box: tuple[float, ...]) -> None:
        self.inits.append(tuple(box))
        self.box = np.asarray(box, dtype=np.float64)

    def update(self, image: np.ndarray) -> TrackResult:
        ok = self.successes.pop(0)
        return TrackResult(self.box + 3.0, 1.0 if ok else -1.0, ok)

    def score_box(self, image: np.ndarray, box: tuple[float, ...]) -> float:
        return 1.0


def test_a_lost_track_restarts_with_its_id_and_a_stale_restart_is_refused():
    image = np.zeros((48, 64, 3), np.uint8)
    tracker = ScriptedTracker([True, False, False, True])
    session = TrackSession(tracker)
    first = session.init(image, (4, 4, 10, 10), 1, "h1", "person", lambda: [])
    assert first.success and first.track_id == "1"
    assert session.track(2, "h2", image).state == TRACKING
    assert session.last_tracking_box.tolist() == [7.0, 7.0, 13.0, 13.0]
    assert session.track(3, "h3", image).state == LOST
    # Where it was lost: the last TRACKING box, not the LOST frames' guesses.
    assert session.last_tracking_box.tolist() == [7.0, 7.0, 13.0, 13.0]
    assert session.score_box(image, (5, 5, 10, 10)) == (1.0, 0.0)
    # The verdict comes in the same hold of the tracker as the restart: a refusal trains nothing.
    refused = session.init(image, (20, 20, 10, 10), 3, "h3", "person", lambda: [], resume="1",
                           accept=lambda t: (False, f"logit {t.score_box(image, ()) - 2:+.2f}"))
    assert not refused.success and refused.reason == "logit -1.00"
    assert len(tracker.inits) == 1 and session.state == LOST
    again = session.init(image, (20, 20, 10, 10), 3, "h3", "person", lambda: [], resume="1",
                         accept=lambda t: (True, "verifier +1.00 > +0.00"))
    assert again.success and again.track_id == "1" and again.answer.previous == LOST
    assert again.note == "verifier +1.00 > +0.00"
    assert session.state == TRACKING and session.track_id == "1"
    assert session.track_label == "person"
    # A restart for a track that is not LOST (recovered meanwhile) is refused, unchanged.
    late = session.init(image, (30, 30, 10, 10), 4, "h4", "person", lambda: [], resume="1")
    assert not late.success and "track 1 is no longer LOST (now track 1 TRACKING)" in late.reason
    assert session.track_id == "1" and tracker.inits[-1] == (20.0, 20.0, 10.0, 10.0)
    # The next new track is numbered on: the restart took no number.
    assert session.init(image, (4, 4, 10, 10), 5, "h5", "x", lambda: []).track_id == "2"
    assert not session.init(image, (4, 4, 10, 10), 6, "h6", "x", lambda: [],
                            resume="1").success
    # An automatic start (auto_init) never replaces a track that an init started meanwhile.
    auto = session.init(image, (8, 8, 10, 10), 7, "h7", "x", lambda: [], if_idle=True)
    assert not auto.success and auto.reason == "track 2 started meanwhile (TRACKING): not replaced"
    assert tracker.inits[-1] == (4.0, 4.0, 10.0, 10.0) and session.track_id == "2"
    session.reset()
    assert session.init(image, (8, 8, 10, 10), 8, "h8", "x", lambda: [], if_idle=True).success
