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


# ---- long-term scores ------------------------------------------------------------------------

A = [0, 0, 10, 10]
RIGHT = [5, 0, 10, 10]  # IoU 1/3 with A
DOWN = [0, 5, 10, 10]  # IoU 1/3 with A
NAN = [np.nan] * 4


def test_long_term_precision_recall_f_lost_relock_and_reacquire_by_hand():
    # frame 0 init; 1-2 present; 3-5 absent; 6-7 present
    gt = np.array([A, A, A, NAN, NAN, NAN, A, A], dtype=float)
    pred = np.array([A, A, RIGHT, A, A, A, DOWN, A], dtype=float)
    reported = np.array([True, True, True, True, False, True, False, True])
    s = metrics.long_term_score(pred, gt, reported)
    # reported frames 1, 2, 3, 5, 7: IoU 1 + 1/3 + 0 + 0 + 1 = 7/3 over 5 claims
    assert s.reported == 5 and s.iou_reported == pytest.approx(7 / 3)
    assert s.precision == pytest.approx(7 / 15)
    # present frames 1, 2, 6, 7: frame 6 not reported counts 0
    assert s.present == 4 and s.recall == pytest.approx(7 / 12)
    assert s.f == pytest.approx(14 / 27)  # 2 * 7/15 * 7/12 / (7/15 + 7/12)
    assert (s.absent, s.lost_on_absent) == (3, 1) and s.lost_share == pytest.approx(1 / 3)
    (st,) = s.stretches
    assert (st.start, st.length, st.frames_to_lost) == (3, 3, 1)
    assert st.relocked  # claimed frame 5 after saying LOST on frame 4
    assert st.returns and st.frames_to_reacquire == 1  # frame 6 unreported, frame 7 IoU 1


def test_long_term_late_lost_is_not_a_relock_and_a_poor_box_is_never_reacquired():
    # 1 present; 2-3 absent; 4-5 present; 6 absent to the end
    gt = np.array([A, A, NAN, NAN, A, A, NAN], dtype=float)
    pred = np.array([A, A, A, A, RIGHT, DOWN, A], dtype=float)
    reported = np.array([True, True, True, False, True, True, False])
    s = metrics.long_term_score(pred, gt, reported)
    first, last = s.stretches
    assert (first.start, first.length, first.frames_to_lost, first.relocked) == (2, 2, 1, False)
    assert first.returns and first.frames_to_reacquire is None  # IoU 1/3 < 0.5 until frame 6
    assert (last.start, last.length, last.frames_to_lost, last.relocked) == (6, 1, 0, False)
    assert not last.returns and last.frames_to_reacquire is None
    # claims 1, 2, 4, 5: IoU 1 + 0 + 1/3 + 1/3; present 1, 4, 5
    assert s.precision == pytest.approx((5 / 3) / 4)
    assert s.recall == pytest.approx((5 / 3) / 3)
    assert s.lost_on_absent == 2 and s.absent == 3


def test_never_saying_lost_is_a_relock_and_reporting_nothing_scores_zero():
    gt = np.array([A, NAN, NAN, A], dtype=float)
    pred = np.array([A, A, A, A], dtype=float)
    always = metrics.long_term_score(pred, gt, np.ones(4, bool))
    assert always.stretches[0].relocked and always.stretches[0].frames_to_lost is None
    assert always.lost_share == 0.0 and always.stretches[0].frames_to_reacquire == 0
    assert always.precision == pytest.approx(1 / 3) and always.recall == 1.0
    silent = metrics.long_term_score(pred, gt, np.zeros(4, bool))
    assert np.isnan(silent.precision) and silent.recall == 0.0 and silent.f == 0.0
    assert silent.lost_share == 1.0 and silent.stretches[0].frames_to_reacquire is None
    with pytest.raises(ValueError):
        metrics.long_term_score(pred, gt, np.ones(3, bool))


def test_presence_from_scores_treats_missing_scores_as_absent():
    got = metrics.presence_from_scores(np.array([np.nan, 0.2, 0.5, 0.9]), 0.5)
    assert got.tolist() == [False, False, True, True]


def test_threshold_sweep_and_the_oracle_threshold_by_hand():
    # frames 1-2 present (IoU 1), 3-4 absent; scores 0.9, 0.8, 0.7, 0.95 (frame 0 unscored)
    gt = np.array([A, A, A, NAN, NAN], dtype=float)
    pred = np.array([A, A, A, A, A], dtype=float)
    scores = np.array([np.nan, 0.9, 0.8, 0.7, 0.95])
    t, precision, recall = metrics.threshold_sweep([(pred, gt, scores)])
    assert t.tolist() == [0.7, 0.8, 0.9, 0.95]
    # t=0.7: all 4 claimed, IoU 2 -> 1/2, recall 1; t=0.8: 3 claimed -> 2/3, 1;
    # t=0.9: frames 1 and 4 -> 1/2, 1/2; t=0.95: frame 4 only -> 0, 0
    assert precision == pytest.approx([1 / 2, 2 / 3, 1 / 2, 0.0])
    assert recall == pytest.approx([1.0, 1.0, 1 / 2, 0.0])
    best, f, p, r = metrics.best_threshold([(pred, gt, scores)])
    assert (best, f, p, r) == pytest.approx((0.8, 0.8, 2 / 3, 1.0))
    # the sweep agrees with long_term_score at every threshold
    for k, th in enumerate(t):
        s = metrics.long_term_score(pred, gt, metrics.presence_from_scores(scores, th))
        assert s.precision == pytest.approx(precision[k]) and s.recall == pytest.approx(recall[k])


def test_threshold_sweep_averages_runs_and_skips_silent_ones_in_precision():
    gt = np.array([A, A, A], dtype=float)
    good = (np.array([A, A, A], float), gt, np.array([np.nan, 0.9, 0.9]))
    poor = (np.array([A, RIGHT, RIGHT], float), gt, np.array([np.nan, 0.4, 0.4]))
    t, precision, recall = metrics.threshold_sweep([good, poor], np.array([0.5, 0.3]))
    # t=0.5: only the first run reports: precision 1 (the silent run is left out), recall (1+0)/2
    assert precision == pytest.approx([1.0, (1 + 1 / 3) / 2])
    assert recall == pytest.approx([0.5, (1 + 1 / 3) / 2])
