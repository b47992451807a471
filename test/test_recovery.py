# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Recovery after loss: the tracker finds a target that jumped out of reach.

Crossing (a pedestrian about 17x50 px): after 10 tracked frames the camera "jumps" (every later
frame is shifted by seven target widths, wrapping round), the way a gimbal snap or a dropped
stretch of frames moves a target out of the search area. The reference search (1.4 target sizes
after a failure) never reaches it; the recovery sweep (``recovery_after``) must find it within a
few frames and keep it. Reference box path (no refiner), so the test needs no third-party
weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_paths import sequence_dir  # noqa: E402

from rtmdnet_ros.evaluation.metrics import iou  # noqa: E402
from rtmdnet_ros.geometry import covering_tiles  # noqa: E402
from rtmdnet_ros.sequences import read_groundtruth  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402

TRACKED, AFTER_JUMP, JUMP_WIDTHS = 10, 20, 7


@pytest.fixture(scope="module")
def jumped():
    folder = sequence_dir("Crossing")
    gt = read_groundtruth(folder)[: TRACKED + AFTER_JUMP]
    frames = [cv2.cvtColor(cv2.imread(str(folder / "img" / f"{i + 1:04d}.jpg")),
                           cv2.COLOR_BGR2RGB) for i in range(len(gt))]
    dx = int(JUMP_WIDTHS * gt[TRACKED - 1][2])
    for i in range(TRACKED, len(frames)):
        frames[i] = np.roll(frames[i], dx, axis=1)
        gt[i, 0] += dx
    return frames, gt


def run(frames, gt, recovery_after: int) -> tuple[np.ndarray, dict[str, int]]:
    tracker = Tracker(seed=0, overrides={"mode": "reference", "box_refiner": "none",
                                         "recovery_after": recovery_after})
    tracker.init(frames[0], gt[0])
    boxes = [tracker.update(frame).box_xywh for frame in frames[1:]]
    counters = dict(tracker.counters)
    tracker.close()
    return iou(np.asarray(boxes[TRACKED - 1:]), gt[TRACKED:]), counters


def test_the_reference_search_loses_a_target_that_jumped(jumped):
    overlap, counters = run(*jumped, recovery_after=0)
    assert overlap.max() < 0.3, overlap.round(2)
    assert counters["recovery_frames"] == 0


def test_the_recovery_sweep_finds_it_again_and_holds_it(jumped):
    overlap, counters = run(*jumped, recovery_after=3)
    found = np.flatnonzero(overlap > 0.5)
    assert found.size and found[0] < 10, overlap.round(2)
    assert overlap[-5:].mean() > 0.5, overlap.round(2)
    # The sweep ran only while lost: a handful of frames, not the whole clip.
    assert 0 < counters["recovery_frames"] <= 10, counters


def test_recovery_tiles_cover_the_frame_nearest_first():
    reach = np.array([40.0, 100.0])
    tiles = covering_tiles((640, 360), reach, np.array([600.0, 20.0]))
    assert len(tiles) == 8 * 2  # ceil(640 / 80) x ceil(360 / 200)
    # Every pixel lies in some tile.
    xs, ys = np.meshgrid(np.arange(0, 640, 7), np.arange(0, 360, 7))
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    inside = (np.abs(points[:, None, :] - tiles[None]) <= reach).all(axis=2).any(axis=1)
    assert inside.all()
    distances = np.hypot(*(tiles - [600.0, 20.0]).T)
    assert np.all(np.diff(distances) >= 0)
