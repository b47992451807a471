# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The box must keep the target's size: a regression test on real aerial footage.

person11 (UAV123, a walker about 12x30 px seen from a drone) is where RT-MDNet's own box
shrinks: the classifier's top-5 candidates favour boxes inside the target, and nothing pulls
the size back, so within 100 frames the box covers half the target's area while its centre
stays on it. The test runs the reference mode (RT-MDNet alone) to show the drift is there, and
the default (the composite tracker, whose box size comes from the shipped Siamese network) to
show it is gone. Metric:
``evaluation.metrics.score``'s scale bias, the median log(area ours / area true) over the frames
where the box still overlaps the target.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_paths import sequence_dir  # noqa: E402

from rtmdnet_ros.evaluation import metrics  # noqa: E402
from rtmdnet_ros.sequences import read_groundtruth  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402

FRAMES = 150


@pytest.fixture(scope="module")
def person11():
    folder = sequence_dir("person11")
    gt = read_groundtruth(folder)[:FRAMES]
    frames = [
        cv2.cvtColor(cv2.imread(str(folder / "img" / f"{i + 1:04d}.jpg")), cv2.COLOR_BGR2RGB)
        for i in range(FRAMES)
    ]
    return frames, gt


def track(frames, gt, **overrides) -> metrics.Score:
    torch.set_num_threads(1)
    tracker = Tracker(overrides={"torch_threads": 1, **overrides}, device="cpu", seed=0)
    tracker.init(frames[0], gt[0])
    boxes = [gt[0]] + [tracker.update(f).box_xywh for f in frames[1:]]
    tracker.close()
    return metrics.score(np.array(boxes), gt)


def test_box_keeps_its_size_on_a_small_aerial_target(person11):
    frames, gt = person11
    reference = track(frames, gt, mode="reference", box_refiner="none")
    assert reference.scale_bias < -0.15, (
        f"the reference box no longer shrinks here ({reference.scale_bias:+.2f}): "
        "pick a sequence that shows the drift")
    default = track(frames, gt)
    assert abs(default.scale_bias) < 0.15, f"scale bias {default.scale_bias:+.2f}"
    assert default.scale_error < 0.2, f"scale error {default.scale_error:.2f}"
    assert default.auc > reference.auc
