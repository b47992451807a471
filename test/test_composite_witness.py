# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The first frame's classifier as a third witness where a long loss would end (witness.py).

On real footage (Crossing, and Human3 as the scene that replaces it):

- the witness is the head as the first frame's training left it: online updates change the
  tracker's head, not the witness's copy (a tracker that never updated scores the same boxes
  the same on the same features);
- it accepts the target shortly after the frames its level was learnt on, and refuses people of
  another scene that the Siamese network finds target-like;
- in the tracker: a return after a scene cut resumes when the witness accepts it, and stays LOST
  (the box on the target all the same) when it refuses; off, nothing is copied or asked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_paths import sequence_dir  # noqa: E402

from rtmdnet_ros.composite.witness import FirstFrameWitness  # noqa: E402
from rtmdnet_ros.evaluation.metrics import iou  # noqa: E402
from rtmdnet_ros.sequences import read_groundtruth  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402

WITNESS = {"composite_witness_spreads": 1.25}


def frames_of(name: str, n: int, size: tuple[int, int] | None = None
              ) -> tuple[list[np.ndarray], np.ndarray]:
    """The first n RGB frames of a shared sequence (resized to ``size``, boxes with them)."""
    folder = sequence_dir(name)
    gt = read_groundtruth(folder)[:n].copy()
    frames = [cv2.cvtColor(cv2.imread(str(folder / "img" / f"{i + 1:04d}.jpg")),
                           cv2.COLOR_BGR2RGB) for i in range(len(gt))]
    if size is not None:
        sx, sy = size[0] / frames[0].shape[1], size[1] / frames[0].shape[0]
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
        gt *= np.array([sx, sy, sx, sy])
    return frames, gt


@pytest.fixture(scope="module")
def crossing():
    frames, gt = frames_of("Crossing", 32)
    return frames, gt


def test_the_witness_is_the_first_frames_head_whatever_the_online_updates_learn(crossing):
    frames, gt = crossing
    # Verified on every frame: the classifier learns (long-term updates every 10 frames).
    tracked = Tracker(seed=0, device="cpu", overrides={**WITNESS, "composite_verify_every": 1})
    tracked.init(frames[0], gt[0])
    for frame in frames[1:25]:
        tracked.update(frame)
    assert tracked.counters.get("long_updates", 0) >= 1
    fresh = Tracker(seed=0, device="cpu", overrides=WITNESS)
    fresh.init(frames[0], gt[0])  # the same first-frame training, and nothing since
    policy, untouched = tracked._policy, fresh._policy
    untouched.witness.take(untouched._cls)
    assert policy.witness.taken and untouched.witness.taken
    image = frames[25]
    c = policy._cls.classify(image)
    boxes = np.stack([gt[25], gt[25] + np.array([40.0, 0.0, 0.0, 0.0]), gt[0]])
    kept = policy.witness.scores(image, policy._cls, c, boxes)
    np.testing.assert_allclose(kept, untouched.witness.scores(image, policy._cls, c, boxes),
                               atol=1e-4)
    online = policy._cls.score_boxes(image, c, boxes)
    assert np.abs(online - kept).max() > 0.5, (online, kept)
    tracked.close()
    fresh.close()


def test_the_witness_accepts_the_target_and_refuses_people_of_another_scene(crossing):
    frames, gt = crossing
    tracker = Tracker(seed=0, device="cpu", overrides=WITNESS)
    tracker.init(frames[0], gt[0])
    policy = tracker._policy
    cls, witness = policy._cls, policy.witness
    witness.take(cls)
    # The level, from the target on the first ten frames (the boxes both parts would agree on).
    for k in range(1, 11):
        c = cls.classify(frames[k])
        witness.observe(frames[k], cls, c, gt[k])
        cls.follow(gt[k])
    assert witness.level.count == 10
    c = cls.classify(frames[11])
    accepted, target = witness.judge(frames[11], cls, c, gt[11])
    assert accepted, (target, witness.level.mean, witness.level.spread)
    size = (frames[0].shape[1], frames[0].shape[0])
    strangers, boxes = frames_of("Human3", 21, size)
    for k in (0, 10, 20):
        c = cls.classify(strangers[k])
        accepted, value = witness.judge(strangers[k], cls, c, boxes[k])
        assert not accepted and value < target - 2.0, (k, value, target)
    tracker.close()


def test_a_return_after_a_cut_resumes_only_where_the_witness_accepts_it(crossing):
    """Crossing, 20 frames of Human3 cut in after frame 12: the target comes back at frame 32.

    At 1.25 spreads the first frame's head accepts the target's return (it has changed little
    since the level was learnt); at a vanishing width it refuses every return below the level:
    the track then stays LOST, though its box is on the target, which is what a witness that
    cannot follow the target's appearance costs.
    """
    frames, gt = crossing
    donor, _ = frames_of("Human3", 20, (frames[0].shape[1], frames[0].shape[0]))
    frames = frames[:12] + donor + frames[12:]
    for spreads, resumes in ((1.25, True), (1e-6, False)):
        tracker = Tracker(seed=0, device="cpu", overrides={"composite_witness_spreads": spreads})
        tracker.init(frames[0], gt[0])
        results = [tracker.update(frame) for frame in frames[1:]]
        tracker.close()
        assert not any(r.success for r in results[11:31])  # nothing claimed in the cut
        back = iou(np.array([r.box_xywh for r in results[31:]]), gt[12:])
        assert back.min() >= 0.5, back.round(2)  # both follow the target once it is back
        counters = tracker.counters
        if resumes:
            assert counters.get("witness_resume_accepted", 0) >= 1, counters
            assert all(r.success for r in results[-10:])
        else:
            assert counters.get("witness_resume_refused", 0) >= 2, counters
            assert not any(r.success for r in results[31:])


def test_an_unset_witness_copies_nothing_and_accepts_everything(crossing):
    frames, gt = crossing
    tracker = Tracker(seed=0, device="cpu")
    tracker.init(frames[0], gt[0])
    tracker.update(frames[1])
    witness = tracker._policy.witness
    assert not witness.enabled and not witness.taken
    c = tracker._policy._cls.classify(frames[2])
    accepted, value = witness.judge(frames[2], tracker._policy._cls, c, gt[2])
    assert accepted and np.isnan(value)
    assert not any(k.startswith("witness") for k in tracker.counters)
    tracker.close()
    with pytest.raises(ValueError, match="spreads must be >= 0"):
        FirstFrameWitness(-1.0)
