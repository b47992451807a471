# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The composite tracker's parts on their own: the decision rule, the update gate, re-detection.

The rule and the gate are arithmetic on measured numbers, so each branch is checked at exact
values; the networks behind them are tested in test_composite_tracker.py on real footage.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from rtmdnet_ros.composite.calibration import TargetLevel
from rtmdnet_ros.composite.gate import UpdateGate
from rtmdnet_ros.composite.redetect import Confirmation, ReDetector
from rtmdnet_ros.composite.rule import Decision, DecisionRule, Evidence
from rtmdnet_ros.options import TrackerOptions

CLS = np.array([100.0, 100.0, 20.0, 40.0])


def evidence(cls_score: float, cls_logit: float, peaks: list[tuple[list[float], float]],
             refined: np.ndarray | None = None, prob: float = 0.5) -> Evidence:
    """Peaks given as (box, classifier logit); IoUs computed against CLS."""
    from rtmdnet_ros.geometry import iou

    boxes = np.array([b for b, _ in peaks], dtype=np.float64).reshape(-1, 4)
    return Evidence(cls_score=cls_score, cls_box=CLS, cls_logit=cls_logit, boxes=boxes,
                    logits=np.array([v for _, v in peaks]), probs=np.full(len(peaks), prob),
                    ious=np.atleast_1d(iou(boxes, CLS)) if len(peaks) else np.zeros(0),
                    refined=CLS if refined is None else refined)


RULE = DecisionRule(threshold=0.0, agree_iou=0.3, margin=0.0)
NEAR = [101.0, 99.0, 24.0, 44.0]  # IoU ~0.7 with CLS: the Siamese box, a better size
FAR = [300.0, 100.0, 22.0, 42.0]  # another object


def test_agreement_takes_the_siamese_box():
    d = RULE.decide(evidence(2.0, 1.0, [(NEAR, 1.5), (FAR, -3.0)]))
    assert d.branch == "agree" and d.success and d.peak == 0
    np.testing.assert_allclose(d.box, NEAR)
    # One confident part is enough when the boxes agree: a weak classifier is not LOST ...
    assert RULE.decide(evidence(-1.0, -2.0, [(NEAR, 0.5)])).branch == "agree"
    # ... nor a classifier that scores everything low while the Siamese head is sure: the score
    # is then the head's own, as a logit (0.95 -> 2.94).
    d = RULE.decide(evidence(-1.0, -2.0, [(NEAR, -3.0)], prob=0.95))
    assert d.branch == "agree" and d.success and d.score == pytest.approx(2.944, abs=1e-3)
    assert RULE.decide(evidence(-1.0, -2.0, [(NEAR, -3.0)], prob=0.5)).branch == "lost"


def test_a_verified_peak_overrules_a_drifted_classifier():
    # The classifier's own box scores lower than the peak it is shown elsewhere.
    d = RULE.decide(evidence(1.0, 0.2, [(FAR, 2.5)]))
    assert (d.branch, d.peak, d.success) == ("siamese", 0, True)
    np.testing.assert_allclose(d.box, FAR)
    assert d.score == pytest.approx(2.5)
    # The second peak can win when the classifier prefers it to the network's first choice.
    d = RULE.decide(evidence(1.0, 0.2, [(FAR, -1.0), ([400.0, 50.0, 20.0, 40.0], 1.2)]))
    assert (d.branch, d.peak) == ("siamese", 1)


def test_a_distractor_the_classifier_rejects_resets_the_proposer():
    d = RULE.decide(evidence(1.5, 1.0, [(FAR, -2.0)]))
    assert d.branch == "classifier" and d.success and d.reset_proposer
    np.testing.assert_allclose(d.box, CLS)
    # A peak that is not rejected is left alone: the proposer keeps its own state.
    assert not RULE.decide(evidence(1.5, 1.0, [(FAR, 0.5)])).reset_proposer
    # The margin makes the classifier's own box harder to overrule.
    strict = DecisionRule(threshold=0.0, agree_iou=0.3, margin=1.0)
    assert strict.decide(evidence(1.5, 1.0, [(FAR, 1.5)])).branch == "classifier"


def test_the_classifier_branch_keeps_the_size_of_an_overlapping_peak():
    # An overlapping peak too weak to agree (both parts below the threshold would be LOST, so
    # here the classifier is confident but the overlap is under agree_iou for the first peak).
    rule = DecisionRule(threshold=0.0, agree_iou=0.3)
    overlapping = [104.0, 104.0, 22.0, 30.0]
    d = rule.decide(evidence(1.0, 0.5, [(FAR, -1.0), (overlapping, -0.5)]))
    assert d.branch == "classifier"
    centre = CLS[:2] + CLS[2:] / 2
    np.testing.assert_allclose(d.box[2:], [22.0, 30.0])
    np.testing.assert_allclose(d.box[:2] + d.box[2:] / 2, centre)


def test_lost_reports_the_siamese_peak_with_its_own_score():
    d = RULE.decide(evidence(-1.0, -2.0, [(FAR, -0.5)]))
    assert (d.branch, d.success) == ("lost", False)
    np.testing.assert_allclose(d.box, FAR)
    assert d.score == pytest.approx(-0.5)
    d = RULE.decide(evidence(-1.0, -0.2, [(FAR, -3.0)]))
    np.testing.assert_allclose(d.box, FAR)
    assert d.score == pytest.approx(-3.0)
    # No peaks at all (a proposer with nothing valid): the classifier alone decides.
    np.testing.assert_allclose(RULE.decide(evidence(-0.5, 0.1, [])).box, CLS)
    assert RULE.decide(evidence(0.5, 0.1, [])).branch == "classifier"
    assert RULE.decide(evidence(-0.5, 0.1, [])).branch == "lost"


def test_the_threshold_moves_every_branch():
    ev = evidence(0.6, 0.4, [(NEAR, 0.5)])
    assert DecisionRule(threshold=0.0).decide(ev).success
    assert not DecisionRule(threshold=0.7).decide(ev).success


def test_a_target_the_siamese_network_does_not_see_is_absent_whatever_the_classifier_says():
    rule = DecisionRule(threshold=0.0, presence_prob=0.9)
    # The classifier is sure of a box in a scene the network finds nothing like its template in
    # (the cut's case: the classifier was never shown that scene): LOST, same box.
    ev = evidence(3.5, 2.0, [(NEAR, 1.5)], prob=0.05)
    before = RULE.decide(ev)
    d = rule.decide(ev)
    assert (before.branch, before.success) == ("agree", True)
    assert (d.branch, d.success) == ("absent", False)
    np.testing.assert_allclose(d.box, before.box)
    # Nothing like the target in view: the parts wait where they are instead of following it.
    assert d.hold and not before.hold
    # The score is the network's on the threshold's scale: logit(0.05) - logit(0.9) = -5.14.
    assert d.score == pytest.approx(-5.142, abs=1e-3)
    # The classifier alone keeping a box the network does not see: also absent.
    kept = evidence(1.5, 1.0, [(FAR, -2.0)], prob=0.6)
    assert RULE.decide(kept).branch == "classifier"
    assert rule.decide(kept).branch == "absent"
    # A peak at the presence level leaves the branches as they were; so does a verdict of LOST.
    for ev in (evidence(2.0, 1.0, [(NEAR, 1.5)], prob=0.9),
               evidence(1.0, 0.2, [(FAR, 2.5)], prob=0.95),
               evidence(-1.0, -2.0, [(FAR, -0.5)], prob=0.1)):
        a, b = rule.decide(ev), RULE.decide(ev)
        assert (a.branch, a.score, a.success, a.peak) == (b.branch, b.score, b.success, b.peak)
        np.testing.assert_array_equal(a.box, b.box)
    # A LOST frame waits only when nothing target-like is in view either.
    assert rule.decide(evidence(-1.0, -2.0, [(FAR, -0.5)], prob=0.1)).hold
    assert not rule.decide(evidence(-1.0, -2.0, [(FAR, -0.5)], prob=0.95)).hold
    # No peaks at all: nothing is in view.
    assert rule.decide(evidence(0.5, 0.1, [])).branch == "absent"
    assert DecisionRule(presence_prob=0.0).decide(evidence(0.5, 0.1, [])).branch == "classifier"


def test_a_weak_siamese_peak_on_a_vouched_box_is_lost_but_followed_a_gone_target_waits():
    rule = DecisionRule(threshold=0.0, presence_prob=0.8, gone_prob=0.5)
    # The Siamese network is weak here (a middling peak) but both parts are at one place: LOST,
    # and the parts follow the branch's box and peak as on a tracked frame.
    weak = evidence(2.0, 1.0, [(NEAR, 1.5)], prob=0.7)
    tracked = RULE.decide(weak)
    d = rule.decide(weak)
    assert (d.branch, d.success, d.hold) == ("absent", False, False)
    assert d.peak == tracked.peak == 0
    np.testing.assert_allclose(d.search, tracked.search)
    np.testing.assert_allclose(d.box, tracked.box)
    # The classifier alone vouching for a box beside a middling peak it rejects: the same.
    alone = evidence(1.5, 1.0, [(FAR, -2.0)], prob=0.6)
    d = rule.decide(alone)
    assert (d.branch, d.hold, d.reset_proposer) == ("absent", False, True)
    # Nothing like the template in view (a peak below gone_prob): gone, the parts wait, even
    # where the classifier vouches for a box (in another scene it scores strangers high) ...
    d = rule.decide(evidence(2.0, 1.0, [(NEAR, 1.5)], prob=0.3))
    assert (d.branch, d.hold) == ("absent", True)
    # ... and so when both parts dropped (no branch vouches for any box).
    d = rule.decide(evidence(-1.0, -2.0, [(FAR, -0.5)], prob=0.7))
    assert (d.branch, d.success, d.hold) == ("lost", False, True)
    # gone_prob 1 waits on every failed presence test, 0 only where no branch vouches.
    assert replace(rule, gone_prob=1.0).decide(weak).hold
    assert not replace(rule, gone_prob=0.0).decide(evidence(2.0, 1.0, [(NEAR, 1.5)],
                                                             prob=0.1)).hold


def test_a_lost_track_resumes_only_on_a_peak_at_the_resume_level():
    rule = DecisionRule(threshold=0.0, presence_prob=0.8, gone_prob=0.5, resume_prob=0.9)
    ev = evidence(2.0, 1.0, [(NEAR, 1.5)], prob=0.85)
    # Tracking: 0.85 is present; LOST: a look-alike's middling peak does not end the loss.
    assert (rule.decide(ev).branch, rule.decide(ev).success) == ("agree", True)
    d = rule.decide(ev, lost=True)
    assert (d.branch, d.success, d.hold) == ("absent", False, False)
    # The score puts the resume level on the threshold: logit(0.85) - logit(0.9) = -0.46.
    assert d.score == pytest.approx(math.log(0.85 / 0.15) - math.log(0.9 / 0.1))
    assert rule.decide(evidence(2.0, 1.0, [(NEAR, 1.5)], prob=0.9), lost=True).success
    assert rule.present(0.85) and not rule.present(0.85, lost=True)
    # A resume level below the presence level is the presence level.
    low = replace(rule, resume_prob=0.5)
    assert low.presence_level(lost=True) == 0.8
    assert not low.decide(evidence(2.0, 1.0, [(NEAR, 1.5)], prob=0.7), lost=True).success


def test_the_target_level_measures_a_candidate_in_spreads_of_the_targets_own_logits():
    easy = TargetLevel(warmup=4, min_spread=1.0)
    assert math.isnan(easy.spreads_below(3.0))  # nothing agreed yet: not known
    for value in (8.0, 10.0, 6.0, 8.0):
        easy.observe(value)
    # mean 8; mean absolute deviation 2, then 2.5, then 1.667 (each new one weighs 1/(n-1)).
    assert (easy.mean, easy.spread) == pytest.approx((8.0, 5.0 / 3.0))
    assert easy.spreads_below(3.0) == pytest.approx(3.0)  # a look-alike at 3: far below
    assert easy.spreads_below(8.0 + 5.0 / 3.0) == pytest.approx(-1.0)
    easy.observe(12.0)  # past the warm-up each agreement weighs 1/4
    assert (easy.mean, easy.spread) == pytest.approx((9.0, 2.25))
    hard = TargetLevel(warmup=4, min_spread=1.0)  # a target the classifier scores low
    for value in (-3.0, -2.0, -4.0):
        hard.observe(value)
    assert (hard.mean, hard.spread) == pytest.approx((-3.0, 1.25))
    # -5 is the target's own level on the hard track, 3 is not on the easy one.
    assert hard.spreads_below(-5.0) == pytest.approx(1.6)
    assert hard.spreads_below(-5.0) < 2.0 < easy.spreads_below(3.0)
    same = TargetLevel(warmup=4, min_spread=1.0)
    for _ in range(3):
        same.observe(5.0)
    assert same.spread == 1.0 and same.spreads_below(3.0) == pytest.approx(2.0)
    same.clear()
    assert same.count == 0 and math.isnan(same.spreads_below(5.0))


def test_a_tracks_own_resume_level_lies_between_the_fixed_one_and_the_cap():
    low, high = math.log(0.9 / 0.1), math.log(0.99 / 0.01)  # resume_prob 0.9, resume_cap 0.99
    level = TargetLevel(warmup=4, min_spread=1.0)
    assert level.floor(1.0, low, high) == low  # nothing agreed yet: the fixed level
    for _ in range(3):  # a target the network always saw near certainty (capped at 0.99)
        level.observe(high)
    assert level.floor(1.0, low, high) == pytest.approx(high - 1.0)  # one spread below: 0.973
    assert level.floor(0.0, low, high) == pytest.approx(high)
    weak = TargetLevel(warmup=4, min_spread=1.0)
    for p in (0.9, 0.95, 0.85):  # one it saw weakly: never asked more than the fixed level
        weak.observe(math.log(p / (1.0 - p)))
    assert weak.floor(1.0, low, high) == low
    # A stranger at 0.93 ends the loss on the weak track's level, not on the sure track's.
    rule = DecisionRule(threshold=0.0, presence_prob=0.8, gone_prob=0.5, resume_prob=0.9)
    ev = evidence(2.0, 1.0, [(NEAR, 1.5)], prob=0.93)
    sure = 1.0 / (1.0 + math.exp(-level.floor(1.0, low, high)))
    assert rule.decide(ev, lost=True).success
    d = rule.decide(ev, lost=True, resume=sure)
    assert (d.branch, d.success, d.hold) == ("absent", False, False)
    assert rule.present(0.93, lost=True) and not rule.present(0.93, lost=True, resume=sure)
    # A tracked frame is judged on the presence level alone.
    assert rule.decide(ev, resume=sure).success


def test_the_gate_learns_only_when_both_parts_agree():
    gate = UpdateGate(enabled=True)
    agreed = evidence(2.0, 1.0, [(NEAR, 1.5)])
    assert gate.safe(RULE.decide(agreed), agreed)
    kept = evidence(1.5, 1.0, [(FAR, -2.0)])  # the classifier alone kept the track
    assert RULE.decide(kept).branch == "classifier"
    assert not gate.safe(RULE.decide(kept), kept)
    won = evidence(1.0, 0.2, [(FAR, 2.5)])  # one part overruled the other
    assert not gate.safe(RULE.decide(won), won)
    lost = Decision("lost", CLS, -1.0, False)
    assert not gate.safe(lost, won) and not UpdateGate(enabled=False).safe(lost, won)
    assert UpdateGate(enabled=False).safe(RULE.decide(won), won)


def test_a_window_candidate_needs_a_clear_margin_or_the_sunk_classifiers_preference():
    r = ReDetector(margin=1.0)
    none = np.zeros(0)
    # Above the threshold by the margin: accepted; a rival within the margin: not.
    assert r.accepts(1.5, none, own_logit=0.0, threshold=0.0)
    assert not r.accepts(1.5, np.array([0.8]), own_logit=0.0, threshold=0.0)
    assert r.accepts(1.5, np.array([0.4]), own_logit=0.0, threshold=0.0)
    # Within the margin of the threshold: only when it beats the classifier's own box by it.
    assert r.accepts(-0.5, none, own_logit=-8.0, threshold=0.0)
    assert not r.accepts(-0.5, none, own_logit=-1.0, threshold=0.0)
    assert not r.accepts(-1.5, none, own_logit=-8.0, threshold=0.0)


def test_redetection_searches_the_last_place_and_sweeps_nearest_first_only_when_lost():
    r = ReDetector(after=3)
    wh = np.array([20.0, 40.0])
    last = np.array([600.0, 20.0])
    assert r.window(2, (640, 360), wh, last) is None
    assert ReDetector(after=0).window(50, (640, 360), wh, np.array([0.0, 0.0])) is None
    windows = [r.window(k, (640, 360), wh, last) for k in range(3, 100)]
    centres = np.array([w[:2] + w[2:] / 2 for w in windows])
    np.testing.assert_allclose(windows[0][2:], wh)  # searched at the target's last size
    # Every other frame looks where the target was last seen ...
    np.testing.assert_allclose(centres[0::2], np.tile(last, (len(centres[0::2]), 1)))
    # ... and the frames between sweep the frame, nearest windows first, then again.
    sweep = centres[1::2]
    distances = np.hypot(*(sweep - last).T)
    first_sweep = len({tuple(c) for c in sweep})
    assert np.all(np.diff(distances[:first_sweep]) >= 0)
    assert first_sweep < len(sweep)
    assert distances[first_sweep - 1] > 300  # the far corner of the frame is reached


def test_a_candidate_resumes_the_track_only_after_winning_frames_in_a_row_at_one_place():
    c = Confirmation(frames=3, min_iou=0.3)
    assert not c.see(np.array(NEAR)) and not c.see(np.array(NEAR))
    assert not c.see(np.array(FAR))  # somewhere else: counting starts again
    assert c.count == 1 and not c.see(np.array(FAR))
    assert c.see(np.array([301.0, 101.0, 22.0, 42.0]))  # the third win in a row at FAR
    c.clear()
    assert c.box is None and c.count == 0
    assert Confirmation(frames=1, min_iou=0.3).see(np.array(NEAR))


def test_composite_options_are_checked():
    with pytest.raises(ValueError, match="mode must be composite, reference or siamese"):
        TrackerOptions().replace(mode="fancy")
    with pytest.raises(ValueError, match="composite_peaks"):
        TrackerOptions().replace(composite_peaks=0)
    with pytest.raises(ValueError, match="composite_redetect_after"):
        TrackerOptions().replace(composite_redetect_after=-1)
    with pytest.raises(ValueError, match="composite_redetect_confirm"):
        TrackerOptions().replace(composite_redetect_confirm=0)
    with pytest.raises(ValueError, match="composite_redetect_level"):
        TrackerOptions().replace(composite_redetect_level=-1.0)
    with pytest.raises(ValueError, match="composite_presence_prob"):
        TrackerOptions().replace(composite_presence_prob=1.0)
    with pytest.raises(ValueError, match="composite_resume_prob"):
        TrackerOptions().replace(composite_resume_prob=-0.1)
    with pytest.raises(ValueError, match="composite_gone_prob"):
        TrackerOptions().replace(composite_gone_prob=1.5)
    with pytest.raises(ValueError, match="composite_resume_level"):
        TrackerOptions().replace(composite_resume_level=-1.0)
    with pytest.raises(ValueError, match="composite_resume_cap"):
        TrackerOptions().replace(composite_resume_cap=1.0)
    with pytest.raises(ValueError, match="composite_witness_spreads"):
        TrackerOptions().replace(composite_witness_spreads=-0.5)


@pytest.mark.parametrize("threshold", [-1.0, 0.0, 0.5, 2.0, 5.0])
def test_success_is_always_score_above_the_threshold(threshold):
    """The published state and score never disagree, whichever branch decided."""
    rule = DecisionRule(threshold=threshold)
    cases = [evidence(2.0, 1.0, [(NEAR, 1.5)]), evidence(-1.0, -2.0, [(NEAR, -3.0)], prob=0.95),
             evidence(1.0, 0.2, [(FAR, 2.5)]), evidence(1.5, 1.0, [(FAR, -2.0)]),
             evidence(-1.0, -2.0, [(FAR, -0.5)]), evidence(0.6, 0.4, [(NEAR, 0.5)], prob=0.99),
             evidence(3.0, 2.0, [(NEAR, 2.5)], prob=0.3)]
    for presence, gone, resume, lost in ((0.0, 1.0, 0.0, False), (0.9, 1.0, 0.0, False),
                                         (0.8, 0.5, 0.9, False), (0.8, 0.5, 0.9, True)):
        for ev in cases:
            d = replace(rule, presence_prob=presence, gone_prob=gone,
                        resume_prob=resume).decide(ev, lost=lost)
            assert d.success == (d.score > threshold), (d.branch, d.score)


def proposal(box: list[float], prob: float):
    from rtmdnet_ros.composite.proposer import Proposal

    b = np.array(box, dtype=np.float64)
    return Proposal(box=b, raw=b, prob=prob, pscore=prob)


def test_the_schedule_skims_only_when_nothing_is_in_doubt():
    from rtmdnet_ros.composite.schedule import VerificationSchedule

    s = VerificationSchedule(every=10)
    prev = np.array([100.0, 100.0, 20.0, 40.0])
    sure = proposal([102.0, 101.0, 20.0, 40.0], 0.97)
    assert s.reason(3, "agree", [sure], prev) is None  # a quiet frame: skimmed
    assert s.reason(10, "agree", [sure], prev) == "period"
    assert s.reason(3, "lost", [sure], prev) == "lost"  # LOST: every frame
    assert s.reason(3, "absent", [sure], prev) == "lost"  # the target was not in view either
    # The last verification did not find both parts at one place: verify until it does.
    for verdict in ("classifier", "siamese", "redetect"):
        assert s.reason(3, verdict, [sure], prev) == "unconfirmed"
    assert s.reason(3, "agree", [], prev) == "no_peak"
    weak = proposal([102.0, 101.0, 20.0, 40.0], 0.85)
    assert s.reason(3, "agree", [weak], prev) == "weak_peak"
    # A look-alike elsewhere with nearly the best probability is a rival ...
    rival = proposal([300.0, 100.0, 20.0, 40.0], 0.9)
    assert s.reason(3, "agree", [sure, rival], prev) == "rival"
    # ... a weaker one, or a peak on the target's own shoulder, is not.
    assert s.reason(3, "agree", [sure, proposal([300.0, 100.0, 20.0, 40.0], 0.5)], prev) is None
    assert s.reason(3, "agree", [sure, proposal([104.0, 102.0, 20.0, 40.0], 0.96)], prev) is None
    # Half the mean side (15 px here) is the most a centre may move between two skimmed frames.
    assert s.reason(3, "agree", [proposal([116.0, 100.0, 20.0, 40.0], 0.97)], prev) == "jump"
    assert s.reason(3, "agree", [proposal([114.0, 100.0, 20.0, 40.0], 0.97)], prev) is None
    assert s.reason(3, "agree", [proposal([100.0, 100.0, 23.0, 40.0], 0.97)], prev) == "resize"
    # every=1: the classifier runs on every frame, whatever the peaks say.
    assert VerificationSchedule(every=1).reason(1, "agree", [sure], prev) == "period"


def test_schedule_options_are_checked():
    with pytest.raises(ValueError, match="composite_verify_every must be >= 1"):
        TrackerOptions().replace(composite_verify_every=0)
    with pytest.raises(ValueError, match="composite_verify_max_resize"):
        TrackerOptions().replace(composite_verify_max_resize=0.9)
    with pytest.raises(ValueError, match="composite_verify_doubt_prob"):
        TrackerOptions().replace(composite_verify_doubt_prob=1.5)
