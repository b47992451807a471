# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Several targets without ROS: one track session per target, shared ids, shared frames.

Real RT-MDNet trackers (reference mode, sync updates) follow two textured patches crossing a
textured scene; every frame is one RGB array that both sessions step on, as the node's worker
does. The rules of ``node/targets.py``: which session an init with or without a track id
trains on, the ids the targets get (never the same twice), and the refusals in words.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_clip import Crossing, S  # noqa: E402

from rtmdnet_ros.geometry import iou  # noqa: E402
from rtmdnet_ros.node.targets import Targets  # noqa: E402
from rtmdnet_ros.options import TrackerOptions  # noqa: E402
from rtmdnet_ros.track_session import IDLE, TRACKING, TrackSession  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402

SYNC = TrackerOptions().replace(torch_threads=1, update_mode="sync", mode="reference")


class Builder:
    """Builds each target's session on a real tracker, counting the builds."""

    def __init__(self) -> None:
        self.built: list[TrackSession] = []

    def __call__(self, new_id):
        session = TrackSession(Tracker(options=SYNC, device="cpu", seed=5), new_id=new_id)
        self.built.append(session)
        return session


@pytest.fixture(scope="module")
def two():
    builder = Builder()
    targets = Targets(2, builder)
    yield targets, builder
    targets.close()


def start(targets: Targets, track_id: str, rgb: np.ndarray, box, sequence: int):
    claim = targets.claim(track_id)
    assert not isinstance(claim, str), claim
    session, keep = claim
    try:
        return session, session.init(rgb, box, sequence, f"h{sequence}", "obj", lambda: [],
                                     keep_id=keep,
                                     if_idle=targets.max_targets > 1 and not keep)
    finally:
        targets.release(session)


def test_max_targets_must_be_positive():
    with pytest.raises(ValueError, match="max_targets must be at least 1, got 0"):
        Targets(0, Builder())


def test_two_crossing_targets_on_shared_frames_keep_their_ids(two):
    targets, builder = two
    scene = Crossing()
    rgb = scene.frame(0)
    box_a, box_b = scene.boxes(0)
    assert len(builder.built) == 1  # the first target's session: built at once
    sa, a = start(targets, "", rgb, box_a, 1)
    sb, b = start(targets, "", rgb, box_b, 1)
    assert (a.success, b.success, a.track_id, b.track_id) == (True, True, "1", "2")
    assert sa is not sb and len(builder.built) == 2  # the second built when added
    assert targets.running_ids() == "1, 2"
    full = targets.claim("")
    assert full == ("max_targets (2) targets are running (track ids 1, 2): stop one "
                    "(~/reset_target with its id) or start the node with a larger max_targets")
    assert targets.claim("7") == ("no target has track id '7' (running: 1, 2); give the id "
                                  "of a running target, or leave track_id empty")
    for t in range(1, 31):  # A and B swap sides around t = 17
        rgb = scene.frame(t)  # one array, converted once, for both targets
        truth_a, truth_b = scene.boxes(t)
        out_a = sa.track(t + 1, f"h{t}", rgb)
        out_b = sb.track(t + 1, f"h{t}", rgb)
        assert (out_a.track_id, out_b.track_id) == ("1", "2")
        assert out_a.state == out_b.state == TRACKING, t
        assert iou(out_a.box, truth_a) > 0.5 and iou(out_b.box, truth_b) > 0.5, t
    assert [s.track_id for s in targets.sessions()] == ["1", "2"]
    assert len(targets.statuses()) == 2


def test_a_named_target_is_reinitialised_with_its_id_and_a_reset_frees_its_session(two):
    targets, builder = two
    scene = Crossing()
    rgb = scene.frame(31)
    truth_a, truth_b = scene.boxes(31)
    session, again = start(targets, "2", rgb, truth_b, 40)  # re-init target 2: same id
    assert again.success and again.track_id == "2" and session is targets.find("2")
    targets.find("1").reset()  # one target stops, the other runs on
    assert targets.find("1") is None and targets.running_ids() == "2"
    assert [s.state for s in targets.sessions()] == [IDLE, TRACKING]
    session, new = start(targets, "", rgb, truth_a, 41)  # an add reuses the stopped session
    assert new.success and new.track_id == "3"  # ids are never given twice
    assert len(builder.built) == 2 and session is targets.sessions()[0]
    targets.reset_all()
    assert targets.running_ids() == "none"
    assert [s.state for s in targets.statuses()] == [IDLE]  # one IDLE status when none runs


def test_one_target_replaces_its_track_and_numbers_on():
    builder = Builder()
    targets = Targets(1, builder)
    rgb = Crossing().frame(0)
    try:
        first_session, first = start(targets, "", rgb, (40, 50, S, S), 1)
        session, second = start(targets, "", rgb, (240, 150, S, S), 2)  # as today: replaced
        assert (first.track_id, second.track_id) == ("1", "2")
        assert session is first_session is targets.first and len(builder.built) == 1
        assert targets.running_ids() == "2"
        assert targets.claim("1") == ("no target has track id '1' (running: 2); give the id "
                                      "of a running target, or leave track_id empty")
    finally:
        targets.close()


def test_a_failed_build_frees_its_place():
    """A tracker that cannot be built refuses that add only; the place is free again."""
    built = []

    def make(new_id):
        built.append(new_id)
        if len(built) == 2:
            raise RuntimeError("out of memory")
        return TrackSession(object(), new_id=new_id)  # no frame is tracked here

    targets = Targets(2, make)
    first = targets.claim("")  # the idle first session, claimed by this add
    assert first == (targets.first, "")
    with pytest.raises(RuntimeError, match="out of memory"):
        targets.claim("")  # the second place: its build fails
    session, keep = targets.claim("")  # built again, not refused as full
    assert keep == "" and session is not targets.first and len(targets.sessions()) == 2
    assert isinstance(targets.claim(""), str)  # both places claimed: max_targets reached
    targets.release(targets.first)
    assert targets.claim("") == (targets.first, "")
