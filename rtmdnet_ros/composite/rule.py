# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one TRACKING/LOST decision per frame, from the proposer's peaks and the verifier's scores.

Pure arithmetic on numbers the other parts measured (no network, no image), so each branch can be
tested on its own. Branches, in order:

- ``agree``: the Siamese network's best peak overlaps the classifier's box and one of the two is
  confident (the classifier by its logits, the network by its own probability): two independent
  parts at one place. The Siamese box wins, because the classifier judges identity, not extent.
- ``siamese``: a peak the classifier itself scores above the threshold and at least as high as
  its own box (every score here is one box's logit, so they share a scale): the classifier drifted.
- ``classifier``: no verified peak but the classifier is confident in its own box; the box keeps
  the size of an overlapping peak when there is one. A best peak the classifier rejects is a
  distractor: the proposer is re-centred on the classifier's box (``reset_proposer``).
- ``lost``: neither: LOST. The box is the Siamese network's own best peak, which keeps a small
  target that the classifier scores low far more often than the classifier's box does
  (docs/tracker.md, "Composite tracker"); the score is that box's own logit, and the classifier
  searches around it next.

Presence comes before identity: whatever branch won, the frame is LOST (branch ``absent``) when
the Siamese network sees nothing like its template in its search region (best peak probability
below ``presence_prob``; below ``resume_prob`` while the track is LOST, or below the track's own
level the policy passes after a long loss, so that a look-alike in the scene that replaced the
target does not end a loss on a middling peak). The classifier tells
the target from what is around it; it was never shown the scene that replaces it when the target
leaves the view, and there it scores strangers as high as the target. The network's probability
is on one scale for every track, which the classifier's logits are not (docs/tracker.md, "The
target leaves the view"). Except on a target of a few pixels, where that probability says
nothing: the policy gives such a track a rule without the tests (``presence_min_size``).

What the parts do on such a frame depends on why it failed. *The target is gone* when both
parts dropped (no branch vouches for a box) or the Siamese network's best peak is below
``gone_prob`` (nothing like the template in view, whatever the classifier says: in the scene that
replaced the target it scores strangers at the target's own level, so its score alone cannot
tell); both parts then wait where the proposer is (``hold``). *The Siamese network is weak here*
when a branch still vouches for a box and the peak is only middling (a fast, blurred or small
target): the verdict is LOST all the same, but the parts follow that box as on a tracked frame,
so that a target that is still there is not left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from rtmdnet_ros.score_scale import logit

# "skim": a frame the schedule left to the Siamese network (composite/schedule.py); "warmup": a
# frame answered while the classifier still learns its first frame (execution.first_frame);
# "pending": a frame answered while its verification runs aside (composite/aside.py).
BRANCHES = ("agree", "siamese", "classifier", "lost", "absent", "redetect", "skim", "warmup",
            "pending")


@dataclass(frozen=True)
class Evidence:
    """What the parts measured on one frame.

    ``cls_score``: mean logit of the classifier's top-k candidates (reference 7), ``cls_box`` their
    mean box, ``cls_logit`` that box's own logit; per peak (best first): ``boxes``, ``logits``
    (the classifier's), ``probs`` (the Siamese head's) and ``ious`` with ``cls_box``;
    ``refined``: the classifier's box after reference 8's regression (or ``cls_box``).
    """

    cls_score: float
    cls_box: np.ndarray
    cls_logit: float
    boxes: np.ndarray
    logits: np.ndarray
    probs: np.ndarray
    ious: np.ndarray
    refined: np.ndarray = field(default_factory=lambda: np.zeros(4))


@dataclass(frozen=True)
class Decision:
    """The frame's answer: box, honest score (a logit), state, and what the proposer does next.

    ``success`` is always ``score > threshold``: the published state and score never disagree.
    ``peak``: the peak the proposer moves to (None: it moves to its own best peak, or is reset
    when ``reset_proposer``). ``search``: where the classifier searches next (None: around its
    own box, so that it stays an independent witness; re-centring one part on the other's
    answer every frame ties their errors together: docs/tracker.md, "Composite tracker").
    ``hold``: nothing target-like is in view, so both parts wait where the proposer is (it does
    not follow a peak, and the classifier searches there) instead of wandering off after
    whatever the scene that replaced the target offers.
    """

    branch: str
    box: np.ndarray
    score: float
    success: bool
    peak: int | None = None
    reset_proposer: bool = False
    search: np.ndarray | None = None
    hold: bool = False


def _resized(box: np.ndarray, wh: np.ndarray) -> np.ndarray:
    """``box`` with its centre kept and its size set to ``wh``."""
    centre = box[:2] + box[2:] / 2.0
    return np.concatenate([centre - wh / 2.0, wh])


@dataclass(frozen=True)
class DecisionRule:
    """Thresholds of the rule (TrackerOptions.composite, and rtmdnet.success_threshold)."""

    threshold: float = 0.0  # logit; the tracker's success_threshold
    agree_iou: float = 0.3
    agree_prob: float = 0.9  # the Siamese head's probability that counts as confident
    margin: float = 0.0  # a peak beats the classifier's box when logit >= its logit + margin
    presence_prob: float = 0.0  # the Siamese probability the target needs to be present (0: off)
    # Below this best-peak probability the target is gone and the parts wait (0: they always
    # follow a box a branch vouches for; at presence_prob or above: they always wait).
    gone_prob: float = 1.0
    resume_prob: float = 0.0  # presence while the track is LOST (below presence_prob: the same)

    def decide(self, ev: Evidence, lost: bool = False, resume: float | None = None) -> Decision:
        """Apply the branches above in order, then the presence test (``lost``: the track is).

        ``resume``: this track's own resume level, in place of ``resume_prob`` (policy.py).
        """
        d = self._identify(ev)
        best = float(ev.probs[0]) if len(ev.probs) else 0.0
        needed = self.presence_level(lost, resume)
        if best >= needed:
            return d
        if not d.success:
            return replace(d, hold=True)  # both parts dropped: gone
        # The box stays the branch's; the verdict changes. The score is the network's, shifted
        # so that the presence level sits on the threshold.
        score = self.threshold + logit(best) - logit(needed)
        return replace(d, branch="absent", score=min(score, self.threshold), success=False,
                       hold=best < self.gone_prob)

    def presence_level(self, lost: bool = False, resume: float | None = None) -> float:
        """Return the Siamese probability a peak needs to say the target is in view (again)."""
        if not lost:
            return self.presence_prob
        return max(self.presence_prob, self.resume_prob if resume is None else resume)

    def present(self, prob: float, lost: bool = False, resume: float | None = None) -> bool:
        """Whether a Siamese peak of this probability says a target-like object is in view."""
        return prob >= self.presence_level(lost, resume)

    def _identify(self, ev: Evidence) -> Decision:
        """Which box is the target's and whether one part vouches for it (the branches)."""
        thr = self.threshold
        n = len(ev.boxes)
        if n and ev.ious[0] >= self.agree_iou:
            # The confident part's own score, each on the logit scale.
            score = max(ev.cls_score, float(ev.logits[0]), logit(float(ev.probs[0])))
            siamese_sure = ev.probs[0] >= self.agree_prob and logit(float(ev.probs[0])) > thr
            if max(ev.cls_score, float(ev.logits[0])) > thr or siamese_sure:
                # The classifier keeps its own centre but takes the agreed size (its own box
                # shrinks on small targets: docs/tracker.md, "The shrinking box").
                return Decision("agree", ev.boxes[0].copy(), score, True, peak=0,
                                search=_resized(ev.cls_box, ev.boxes[0][2:]))
        verified = [i for i in range(n)
                    if ev.logits[i] > thr and ev.logits[i] >= ev.cls_logit + self.margin]
        if verified:
            i = max(verified, key=lambda k: ev.logits[k])
            return Decision("siamese", ev.boxes[i].copy(), float(ev.logits[i]), True, peak=i,
                            search=ev.boxes[i].copy())
        if ev.cls_score > thr:
            box = ev.refined.copy()
            overlapping = [i for i in range(n) if ev.ious[i] >= self.agree_iou]
            if overlapping:
                box = _resized(ev.refined, ev.boxes[overlapping[0]][2:])
            rejected = bool(n) and ev.logits[0] <= thr
            return Decision("classifier", box, ev.cls_score, True, reset_proposer=rejected)
        if n:
            return Decision("lost", ev.boxes[0].copy(), float(ev.logits[0]), False)
        return Decision("lost", ev.cls_box.copy(), ev.cls_score, False)
