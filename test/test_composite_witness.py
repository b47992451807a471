# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The target's recent features as a third witness where a long loss would end (witness.py).

On real footage:

- boat5 with wakeboard4 cut in (as ``rtmdnet-eval --long-term`` splices it): the boat towing the
  wakeboarder, which the Siamese network scores at 1.0 and the online classifier above the
  target's own level, lies far below the target's features; the target on its return does not;
- Crossing: people of another scene (Human3) are refused, the walker a frame later accepted;
- in the tracker (Crossing with Human3 cut in): a return resumes where the witness accepts it and
  stays LOST, its box on the target all the same, where a vanishing width refuses it; off,
  nothing is pooled, kept or asked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_paths import sequence_dir  # noqa: E402

from rtmdnet_ros.composite.witness import FeatureWitness  # noqa: E402
from rtmdnet_ros.evaluation.metrics import iou  # noqa: E402
from rtmdnet_ros.options import TrackerOptions  # noqa: E402
from rtmdnet_ros.sequences import read_groundtruth  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402

SPREADS = 4.0


def frames_of(name: str, first: int, n: int, size: tuple[int, int] | None = None
              ) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames first..first+n-1 (0-based, RGB) of a shared sequence, resized to ``size``."""
    folder = sequence_dir(name)
    gt = read_groundtruth(folder)[first:first + n].copy()
    frames = [cv2.cvtColor(cv2.imread(str(folder / "img" / f"{i + 1:04d}.jpg")),
                           cv2.COLOR_BGR2RGB) for i in range(first, first + len(gt))]
    if size is not None:
        sx, sy = size[0] / frames[0].shape[1], size[1] / frames[0].shape[0]
        frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]
        gt *= np.array([sx, sy, sx, sy])
    return frames, gt


def learnt(frames: list[np.ndarray], gt: np.ndarray) -> tuple[Tracker, FeatureWitness]:
    """A tracker's classifier on frame 0 and a witness kept from the target on the others."""
    tracker = Tracker(seed=0, device="cpu", overrides={"composite_witness_spreads": SPREADS})
    tracker.init(frames[0], gt[0])
    cls, witness = tracker._policy._cls, tracker._policy.witness
    for frame, box in zip(frames[1:], gt[1:], strict=True):
        witness.observe(frame, cls, cls.classify(frame), box)
        cls.follow(box)
    return tracker, witness


def judged(tracker: Tracker, witness: FeatureWitness, frame: np.ndarray,
           box: np.ndarray) -> tuple[bool, float]:
    cls = tracker._policy._cls
    return witness.judge(frame, cls, cls.classify(frame), box)


def test_the_towing_boat_is_refused_and_the_boat_accepted_on_its_return():
    frames, gt = frames_of("boat5", 0, 61)
    tracker, witness = learnt(frames[:60], gt[:60])
    assert witness.size == 10 and witness.level.count == 58
    size = (frames[0].shape[1], frames[0].shape[0])
    # wakeboard4's frame 38 in boat5's size: the towing boat where the default resumed on it.
    cut, _ = frames_of("wakeboard4", 37, 1, size)
    accepted, stranger = judged(tracker, witness, cut[0], np.array([286.6, 117.7, 37.0, 45.0]))
    assert not accepted, (stranger, witness.level.mean, witness.level.spread)
    accepted, target = judged(tracker, witness, frames[60], gt[60])
    assert accepted, (target, witness.level.mean, witness.level.spread)
    assert witness.level.spreads_below(stranger) > SPREADS > witness.level.spreads_below(target)
    tracker.close()


def test_people_of_another_scene_are_refused_and_the_walker_accepted():
    frames, gt = frames_of("Crossing", 0, 12)
    tracker, witness = learnt(frames[:11], gt[:11])
    accepted, target = judged(tracker, witness, frames[11], gt[11])
    assert accepted, (target, witness.level.mean, witness.level.spread)
    strangers, boxes = frames_of("Human3", 0, 21, (frames[0].shape[1], frames[0].shape[0]))
    for k in (0, 10, 20):
        accepted, value = judged(tracker, witness, strangers[k], boxes[k])
        assert not accepted and value < target, (k, value, target)
    tracker.close()


def test_a_return_after_a_cut_is_accepted_by_the_witness():
    """Crossing, 20 frames of Human3 cut in after frame 12: the target comes back at frame 32."""
    frames, gt = frames_of("Crossing", 0, 32)
    donor, _ = frames_of("Human3", 0, 20, (frames[0].shape[1], frames[0].shape[0]))
    frames = frames[:12] + donor + frames[12:]
    tracker = Tracker(seed=0, device="cpu", overrides={"composite_witness_spreads": SPREADS})
    tracker.init(frames[0], gt[0])
    results = [tracker.update(frame) for frame in frames[1:]]
    tracker.close()
    assert not any(r.success for r in results[11:31])  # nothing claimed in the cut
    back = iou(np.array([r.box_xywh for r in results[31:]]), gt[12:])
    assert back.min() >= 0.5, back.round(2)
    assert tracker.counters.get("witness_resume_accepted", 0) >= 1, tracker.counters
    assert all(r.success for r in results[-10:])


def test_an_unset_witness_keeps_nothing_and_accepts_everything():
    frames, gt = frames_of("Crossing", 0, 3)
    tracker = Tracker(seed=0, device="cpu",
                      overrides={"composite_witness_spreads": 0.0, "composite_verify_every": 1})
    tracker.init(frames[0], gt[0])
    assert tracker.update(frames[1]).branch == "agree"
    witness = tracker._policy.witness
    assert not witness.enabled and witness.size == 0
    accepted, value = judged(tracker, witness, frames[2], gt[2])
    assert accepted and np.isnan(value)
    assert not any(k.startswith("witness") for k in tracker.counters)
    tracker.close()
    with pytest.raises(ValueError, match="spreads must be >= 0"):
        FeatureWitness(-1.0, frames=10, min_spread=0.01)
    with pytest.raises(ValueError, match="composite_witness_min_spread"):
        TrackerOptions().replace(composite_witness_min_spread=0.0)
