# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The composite frame step: proposer, verifier, rule, gate and re-detector in one place.

``Tracker`` (tracker.py) owns the classifier and its memory; this policy decides, per frame, which
box is the target's, whether the track holds, and whether the frame may be learnt from, then hands
the chosen box back to the tracker as the next search box. The proposer keeps its own state.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from rtmdnet_ros.composite.gate import UpdateGate
from rtmdnet_ros.composite.proposer import ProposerSettings, SiameseProposer
from rtmdnet_ros.composite.redetect import ReDetector
from rtmdnet_ros.composite.rule import Decision, DecisionRule
from rtmdnet_ros.composite.verifier import Verifier
from rtmdnet_ros.geometry import clip_box
from rtmdnet_ros.score_scale import logit
from rtmdnet_ros.siamese_refiner import siamese_dir

LOG = logging.getLogger(__name__)


class CompositePolicy:
    """RT-MDNet's classifier verifying NanoTrack's peaks (issue 20; docs/tracker.md)."""

    def __init__(self, tracker: Any) -> None:
        o = tracker.options.composite
        folder = siamese_dir(o.siamese_dir)
        try:
            self.proposer = SiameseProposer(folder, ProposerSettings(peaks=o.peaks))
        except FileNotFoundError as exc:
            raise ValueError(f"mode=composite needs the Siamese network: {exc}") from exc
        LOG.info("composite tracker: Siamese network from %s", folder)
        self._t = tracker
        self.verifier = Verifier(tracker)
        # The classifier's own success rule (RT-MDNet's threshold) is one of the rule's inputs.
        self.rule = DecisionRule(tracker.options.rtmdnet.success_threshold, o.agree_iou,
                                 o.agree_prob, o.margin)
        self.gate = UpdateGate(o.update_gate)
        self.redetector = ReDetector(o.redetect_after, o.redetect_prob, o.redetect_margin)
        self._lost_for = 0
        self._last_centre = np.zeros(2)

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        """Take the Siamese template on the first frame's box."""
        with self._t._timed("siamese"):
            self.proposer.init(image, box)
        self._lost_for = 0
        self._last_centre = box[:2] + box[2:] / 2.0

    def step(self, image: np.ndarray) -> Any:
        """One frame: propose, classify, verify, decide, learn (or not), re-detect when lost."""
        from rtmdnet_ros.tracker import TrackResult

        t = self._t
        img_wh = (image.shape[1], image.shape[0])
        with t._timed("siamese"):
            peaks = self.proposer.propose(image)
        c = t.classify(image)
        ev = self.verifier.evidence(image, c, peaks)
        d = self.rule.decide(ev)
        if not d.success:
            d = self._redetect(image, c, d, ev.cls_logit, img_wh)
        box = clip_box(d.box, *img_wh)
        if box[2] < 1.0 or box[3] < 1.0:
            box = c.box
        if d.branch == "redetect" or d.reset_proposer:
            self.proposer.reset(box)
        elif peaks:
            self.proposer.advance(peaks[d.peak if d.peak is not None else 0], img_wh)
        t.counters[f"branch_{d.branch}"] = t.counters.get(f"branch_{d.branch}", 0) + 1
        search = c.box if d.search is None else clip_box(d.search, *img_wh)
        if d.branch == "redetect" or search[2] < 1.0 or search[3] < 1.0:
            search = box
        t.conclude(image, c, search, d.success, learn=self.gate.safe(d, ev))
        if d.success:
            self._lost_for = 0
            self._last_centre = box[:2] + box[2:] / 2.0
        else:
            self._lost_for += 1
        return TrackResult(np.asarray(box, dtype=np.float64), float(d.score), d.success, d.branch)

    def _redetect(self, image: np.ndarray, c: Any, lost: Decision, own_logit: float,
                  img_wh: tuple[int, int]) -> Decision:
        """Search this frame's sweep window; a peak the classifier confirms resumes the track.

        Confirmed: the classifier's logit clears the threshold by the margin, or it is within the
        margin of the threshold and beats the classifier's own box by the margin (after a long
        loss the classifier's scores sink everywhere, so its preference is the evidence).
        """
        window = self.redetector.window(self._lost_for + 1, img_wh, self.proposer.box[2:],
                                        self._last_centre)
        if window is None:
            return lost
        with self._t._timed("siamese"):
            peaks = self.proposer.search(image, window)
        if not peaks or peaks[0].prob < self.redetector.min_prob:
            return lost
        verified = self.verifier.score(image, c, peaks[0].box)
        thr, margin = self.rule.threshold, self.redetector.margin
        if not (verified > thr + margin
                or (verified > thr - margin and verified > own_logit + margin)):
            return lost
        # Both parts vouch for it: the score is the more confident one's, above the threshold.
        score = max(verified, logit(peaks[0].prob))
        if score <= thr:
            return lost
        return Decision("redetect", peaks[0].box.copy(), score, True)

