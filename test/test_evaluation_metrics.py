# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""OTB metrics on cases small enough to compute by hand."""

import numpy as np
import pytest

from rtmdnet_ros.evaluation import metrics


def _repeat(box, n=4):
    return np.tile(np.asarray(box, dtype=float), (n, 1))


def test_perfect_track_scores_20_of_21():
    gt = np.array([[10, 20, 30, 40], [12, 22, 30, 40], [15, 25, 28, 38.5]], dtype=float)
    s = metrics.score(gt.copy(), gt)
    # IoU = 1 is above every threshold except t = 1 (strict '>').
    assert s.success.tolist() == [1.0] * 20 + [0.0]
    assert s.auc == pytest.approx(20 / 21)
    assert s.p20 == 1.0
    assert s.precision.tolist() == [1.0] * 51
    assert s.frames == 3


def test_constant_offset_iou_one_third_and_5px_error():
    gt = _repeat([0, 0, 10, 10])
    pred = _repeat([5, 0, 10, 10])  # overlap 5x10 = 50, union 150
    assert metrics.iou(pred, gt) == pytest.approx([1 / 3] * 4)
    s = metrics.score(pred, gt)
    # thresholds 0 .. 0.30 (7 values) are below 1/3
    assert s.success.tolist() == [1.0] * 7 + [0.0] * 14
    assert s.auc == pytest.approx(7 / 21)
    # centre error 5 px: counted from threshold 5 on (<=), 46 of 51 thresholds
    assert s.precision.tolist() == [0.0] * 5 + [1.0] * 46
    assert s.p20 == 1.0


def test_threshold_edges_are_strict_for_iou_and_inclusive_for_distance():
    gt = _repeat([0, 0, 10, 10], 1)
    half = _repeat([0, 0, 10, 5], 1)  # IoU exactly 0.5
    s = metrics.score(half, gt)
    assert s.success[9] == 1.0 and s.success[10] == 0.0  # t = 0.45 yes, t = 0.5 no
    shifted = _repeat([20, 0, 10, 10], 1)  # centre error exactly 20 px
    s = metrics.score(shifted, gt)
    assert s.precision[19] == 0.0 and s.p20 == 1.0


def test_total_loss_scores_zero():
    gt = _repeat([100, 100, 20, 20])
    pred = _repeat([300, 400, 20, 20])  # far away: no overlap, error 360 px
    s = metrics.score(pred, gt)
    assert s.auc == 0.0 and s.p20 == 0.0 and s.precision[-1] == 0.0


def test_touching_boxes_have_empty_overlap_and_fail_at_zero():
    gt = _repeat([0, 0, 10, 10], 2)
    pred = _repeat([10, 0, 10, 10], 2)  # shares only the edge x = 10
    assert metrics.iou(pred, gt).tolist() == [0.0, 0.0]
    assert metrics.score(pred, gt).success[0] == 0.0  # IoU > 0 does not hold


def test_zero_size_predictions_give_zero_iou_without_nan():
    gt = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], dtype=float)
    pred = np.array([[4, 4, 0, 0], [0, 0, 0, 0]], dtype=float)
    out = metrics.iou(pred, gt)
    assert out.tolist() == [0.0, 0.0]
    # centre of a 0-size box: x + (0 - 1) / 2 = 3.5 vs 4.5 -> sqrt(2)
    assert metrics.centre_error(pred[:1], gt[:1])[0] == pytest.approx(np.sqrt(2))


def test_otb_centre_convention():
    assert metrics.centre(np.array([[0, 0, 10, 10]])).tolist() == [[4.5, 4.5]]


def test_half_tracked_half_lost_and_invalid_frames_skipped():
    gt = _repeat([0, 0, 10, 10], 5)
    gt[4] = np.nan  # target absent: not scored
    pred = gt.copy()
    pred[2:4] = [200, 200, 10, 10]
    pred[4] = [0, 0, 10, 10]
    s = metrics.score(pred, gt)
    assert s.frames == 4
    assert s.auc == pytest.approx(0.5 * 20 / 21)
    assert s.p20 == 0.5


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 predicted boxes for 2"):
        metrics.score(np.zeros((3, 4)), np.ones((2, 4)))


def test_fps_with_and_without_first_frame():
    with_first, without = metrics.fps(0.5, np.full(4, 0.1))
    assert with_first == pytest.approx(5 / 0.9)
    assert without == pytest.approx(10.0)


def test_scale_error_and_bias_over_overlapping_frames_only():
    gt = _repeat([0, 0, 20, 20], 5)
    gt[4] = np.nan  # absent: not scored
    pred = gt.copy()
    pred[0] = [0, 0, 10, 10]  # quarter area, inside the target: log 0.25
    pred[1] = [0, 0, 10, 20]  # half area: log 0.5
    pred[2] = [0, 0, 40, 20]  # double area: log 2
    pred[3] = [300, 300, 1, 1]  # lost (IoU 0): a lost box has no meaningful size error
    pred[4] = [0, 0, 1, 1]
    s = metrics.score(pred, gt)
    assert s.scale_bias == pytest.approx(np.log(0.5))
    assert s.scale_error == pytest.approx(np.log(2.0))
    lost = metrics.score(np.full((2, 4), 500.0), _repeat([0, 0, 20, 20], 2))
    assert np.isnan(lost.scale_error) and np.isnan(lost.scale_bias)
