# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Verification beside the frame path (``composite_verify_aside``) on real footage.

- The frame path answers every frame from the Siamese network while the classifier verifies in
  a worker; the track follows the target and the worker's verdicts reach it.
- A verdict that rejects the track turns the published state (the track session's, as the node
  publishes it) LOST from the next frame on, whatever the Siamese network says; one that
  finishes while a frame is being answered makes that frame LOST already.
- ``close`` waits for a verification in progress: no worker thread outlives the tracker.
In sequence (the default) nothing changes: test_composite_tracker.py's recorded boxes.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_composite_tracker import frames_of, require_siamese  # noqa: E402

from rtmdnet_ros.composite.aside import THREAD_NAME  # noqa: E402
from rtmdnet_ros.evaluation.metrics import iou  # noqa: E402
from rtmdnet_ros.track_session import LOST, TRACKING, TrackSession  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402


def verify_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


def aside_tracker(**overrides) -> Tracker:
    return Tracker(seed=0, device="cpu", overrides={"composite_verify_aside": True, **overrides})


def test_aside_follows_the_target_and_answers_every_frame_without_waiting():
    require_siamese()
    frames, gt = frames_of("Crossing", 40)
    tracker = aside_tracker()
    assert tracker.verifies_aside
    tracker.init(frames[0], gt[0])
    results = [tracker.update(f) for f in frames[1:]]  # no waiting: the worker keeps up or not
    overlap = iou(np.array([r.box_xywh for r in results]), gt[1:])
    assert overlap.mean() > 0.6, overlap.round(2)
    # Every frame is answered by the frame path: skimmed, or answered while verified aside.
    assert {r.branch for r in results} <= {"skim", "pending"}
    c = tracker.counters
    assert c.get("branch_skim", 0) + c.get("branch_pending", 0) == 39, c
    verified = sum(v for k, v in c.items() if k.startswith("verify_"))
    assert verified >= 1, c
    # The first verification's verdict reaches the track (at the latest on the next frame).
    assert tracker.wait_for_verification(60)
    tracker.update(frames[-1])
    c = tracker.counters
    assert c["aside_verdicts"] >= 1 and c.get("branch_agree", 0) >= 1, c
    tracker.close()
    assert not verify_threads()


@pytest.fixture(scope="module")
def away_and_back():
    """boat5, rolled by a third of the frame width for frames 10-24, then back."""
    frames, gt = frames_of("boat5", 30)
    width = frames[0].shape[1]
    for i in range(10, 25):
        frames[i] = np.roll(frames[i], width // 3, axis=1)
    return frames, gt


def test_a_rejecting_verdict_makes_the_published_state_lost_from_the_next_frame(away_and_back):
    """Each frame verified aside; a LOST verdict is never followed by a TRACKING answer."""
    require_siamese()
    frames, gt = away_and_back
    tracker = aside_tracker(composite_verify_every=1, composite_redetect_after=0)
    session = TrackSession(tracker)
    assert session.init(frames[0], tuple(gt[0]), 0, None, "", lambda: []).success
    states, rejected_before = [], []
    for seq, frame in enumerate(frames[1:], start=1):
        lost_verdicts = tracker.counters.get("branch_lost", 0)
        out = session.track(seq, None, frame)
        assert out.skipped is None
        states.append(out.state)
        # Verdicts apply at the start of a step: did this step apply a rejection?
        rejected_before.append(tracker.counters.get("branch_lost", 0) > lost_verdicts)
        assert tracker.wait_for_verification(60)  # the verdict is ready for the next frame
    assert any(rejected_before), tracker.counters
    first = rejected_before.index(True)  # the first frame after the verifier rejected
    assert 10 <= first + 1 <= 13, (first + 1, states)  # a frame of the rolled stretch judged
    for i, rejected in enumerate(rejected_before):
        if rejected:
            assert states[i] == LOST, (i + 1, states)
    assert states[:8] == [TRACKING] * 8  # before the roll: tracked, answered from the network
    session.close()
    assert not verify_threads()


def test_close_waits_for_the_verification_in_progress():
    require_siamese()
    frames, gt = frames_of("Crossing", 4)
    tracker = aside_tracker(composite_verify_every=1)
    started, release = threading.Event(), threading.Event()
    classify = tracker.classifier.classify

    def held_classify(image):
        started.set()
        assert release.wait(60)
        return classify(image)

    tracker.classifier.classify = held_classify
    tracker.init(frames[0], gt[0])
    result = tracker.update(frames[1])  # answered at once; its verification waits in the worker
    assert result.branch == "pending" and result.success
    assert started.wait(60) and len(verify_threads()) == 1
    release.set()
    tracker.close()  # returns only once the worker is out of the classifier
    assert not verify_threads()
    assert "aside_verdicts" not in tracker.counters  # its verdict was dropped, never applied
    with pytest.raises(ValueError, match="before init"):
        tracker.update(frames[2])
    # The tracker starts again after close, verifying aside as before.
    tracker.classifier.classify = classify
    tracker.init(frames[0], gt[0])
    tracker.update(frames[1])
    assert tracker.wait_for_verification(60)
    tracker.update(frames[2])
    assert tracker.counters["aside_verdicts"] == 1
    tracker.close()


def test_the_runner_takes_one_job_at_a_time_and_hands_back_its_result_or_error():
    from rtmdnet_ros.composite.aside import AsideRunner

    runner = AsideRunner()
    go = threading.Event()
    assert runner.submit(lambda: go.wait(60) and 42, context="frame 7")
    assert not runner.submit(lambda: 0)  # busy: refused, nothing started
    assert runner.take() is None  # not finished yet
    go.set()
    assert runner.wait(60)
    assert not runner.submit(lambda: 0)  # a result waits: refused until taken
    assert runner.take() == (42, "frame 7") and runner.take() is None
    assert runner.submit(lambda: 1 / 0)
    assert runner.wait(60)
    with pytest.raises(RuntimeError, match="failed: division by zero"):
        runner.take()
    assert runner.idle and runner.take() is None
    assert runner.submit(lambda: 5) and runner.close(60)
    assert runner.take() is None and runner.idle  # close dropped the result


def test_a_rejection_finishing_during_a_frame_makes_that_frame_lost(away_and_back):
    """The verdict lands while the next frame is being answered: that answer is LOST already."""
    require_siamese()
    frames, _ = away_and_back
    clean, gt = frames_of("boat5", 12)
    tracker = aside_tracker(composite_verify_every=1, composite_redetect_after=0)
    tracker.init(frames[0], gt[0])
    for frame in frames[1:10]:  # the target in view, each frame verified before the next
        assert tracker.update(frame).success
        assert tracker.wait_for_verification(60)
    release = threading.Event()
    classify, propose = tracker.classifier.classify, tracker._policy.proposer.propose

    def held_classify(image):
        assert release.wait(60)
        return classify(image)

    def propose_after_the_verdict(image):
        release.set()  # the held verification of frame 10 ends inside this frame's step
        assert tracker.wait_for_verification(60)
        return propose(image)

    tracker.classifier.classify = held_classify
    tracker.update(frames[10])  # the target gone: handed to the worker, held there
    tracker._policy.proposer.propose = propose_after_the_verdict
    lost_before = tracker.counters.get("branch_lost", 0)
    # Frame 11 with the target back where it was: the Siamese network alone would say TRACKING.
    result = tracker.update(clean[11])
    assert tracker.counters.get("branch_lost", 0) == lost_before + 1, tracker.counters
    assert not result.success and result.score <= tracker.options.rtmdnet.success_threshold
    tracker._policy.proposer.propose = propose
    tracker.close()
