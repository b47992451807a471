# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The composite frame step: proposer, verifier, rule, gate and re-detector in one place.

The online classifier (classifier.py) owns its memory; this policy decides, per frame, which box
is the target's, whether the track holds, and whether the frame may be learnt from, then hands
the chosen box back to the classifier as its next search box. The proposer keeps its own state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from rtmdnet_ros.classifier import OnlineClassifier
from rtmdnet_ros.composite.aside import AsideRunner
from rtmdnet_ros.composite.calibration import TargetLevel
from rtmdnet_ros.composite.gate import UpdateGate
from rtmdnet_ros.composite.proposer import Proposal, ProposerSettings, SiameseProposer
from rtmdnet_ros.composite.redetect import Confirmation, ReDetector
from rtmdnet_ros.composite.rule import Decision, DecisionRule
from rtmdnet_ros.composite.schedule import VerificationSchedule
from rtmdnet_ros.composite.verifier import Verifier
from rtmdnet_ros.composite.witness import FeatureWitness
from rtmdnet_ros.geometry import clip_box
from rtmdnet_ros.options import TrackerOptions
from rtmdnet_ros.packaged_models import siamese_dir
from rtmdnet_ros.score_scale import logit, probability
from rtmdnet_ros.track_types import Classification, Meter, TrackResult

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """A verified frame's answer, and the peak the proposer moves to (None: reset on the box).

    ``hold``: nothing target-like in view; the proposer stays where it is (Decision.hold).
    """

    result: TrackResult
    peak: int | None
    hold: bool = False


class CompositePolicy:
    """RT-MDNet's classifier verifying NanoTrack's peaks (docs/tracker.md, "Composite tracker")."""

    uses_classifier = True

    def __init__(self, classifier: OnlineClassifier, options: TrackerOptions,
                 meter: Meter) -> None:
        o = options.composite
        folder = siamese_dir(o.siamese_dir)
        try:
            self.proposer = SiameseProposer(folder, ProposerSettings(peaks=o.peaks))
        except FileNotFoundError as exc:
            raise ValueError(f"mode=composite needs the Siamese network: {exc}") from exc
        LOG.info("composite tracker: Siamese network from %s", folder)
        self._cls = classifier
        self._meter = meter
        self.verifier = Verifier(classifier)
        # The classifier's own success rule (RT-MDNet's threshold) is one of the rule's inputs.
        self._full_rule = DecisionRule(options.rtmdnet.success_threshold, o.agree_iou,
                                       o.agree_prob, o.margin, o.presence_prob, o.gone_prob,
                                       o.resume_prob)
        self._presence_min_size = o.presence_min_size
        self.rule = self._full_rule  # this track's: init() drops the presence tests on a tiny one
        self.gate = UpdateGate(o.update_gate)
        self.redetector = ReDetector(o.redetect_after, o.redetect_prob, o.redetect_margin)
        self._candidate = Confirmation(o.redetect_confirm, o.agree_iou)
        self.level = TargetLevel(o.level_frames, o.level_min_spread)
        self._redetect_level = o.redetect_level
        # The same estimate on the Siamese side: the agreed best peak, as a logit capped at
        # resume_cap (a network saturating at 1.0 would otherwise set a level no return meets).
        self.peak_level = TargetLevel(o.level_frames, o.level_min_spread)
        self._resume_level = o.resume_level
        self._resume_cap = logit(o.resume_cap)
        self._resume_after = o.resume_after
        self.witness = FeatureWitness(o.witness_spreads, o.level_frames, o.witness_min_spread)
        self.schedule = VerificationSchedule(o.verify_every, o.verify_doubt_prob,
                                             o.verify_rival_ratio, o.verify_rival_iou,
                                             o.verify_max_shift, o.verify_max_resize)
        self._lost_for = 0
        self._since_verified = 0
        self._verdict = "agree"  # the first frame's box is the user's: both parts start on it
        self._warming = False
        self._last_centre = np.zeros(2)
        # Aside (composite_verify_aside): the classifier's part runs in a worker, one frame at
        # a time; the frame path answers from the Siamese network and applies each verdict
        # when it is done. In sequence (None): every verification inside the frame, as before.
        self._aside = AsideRunner() if o.verify_aside else None
        self._follow_box: np.ndarray | None = None  # aside: for the classifier's next search
        self._held = TrackResult(np.zeros(4), 0.0, False, "held")  # the last verified answer
        self._judged_at = 0  # the frame counter when the worker's job was handed over

    @property
    def verifies_aside(self) -> bool:
        """Whether the classifier runs in the worker (then only there: it is not thread-safe)."""
        return self._aside is not None

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        """Take the Siamese template on the first frame's box (a verification aside is void)."""
        self.close()
        with self._meter.timed("siamese"):
            self.proposer.init(image, box)
        self._lost_for = 0
        tiny = np.sqrt(box[2] * box[3]) < self._presence_min_size  # a checked box: w, h > 0
        self.rule = (replace(self._full_rule, presence_prob=0.0, resume_prob=0.0) if tiny
                     else self._full_rule)
        self._candidate.clear()
        self.level.clear()
        self.peak_level.clear()
        self.witness.clear()
        self._since_verified = 0
        self._verdict = "agree"
        self._warming = not self._cls.ready
        self._last_centre = box[:2] + box[2:] / 2.0
        self._follow_box = None
        self._held = TrackResult(np.asarray(box, dtype=np.float64), 0.0, True, "held")

    def close(self, timeout: float | None = None) -> bool:
        """Wait for a verification in progress aside and drop its verdict; whether it ended.

        Before the classifier learns another target or the tracker is closed: the worker must
        not be inside the classifier then.
        """
        return self._aside.close(timeout) if self._aside is not None else True

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until a verification in progress aside has finished (tests, offline tools)."""
        return self._aside.wait(timeout) if self._aside is not None else True

    def step(self, image: np.ndarray) -> TrackResult:
        """One frame: propose; then skim, or verify (in sequence, or aside: see ``_aside``)."""
        img_wh = (image.shape[1], image.shape[0])
        if self._aside is not None:
            self._apply_finished(img_wh)
        with self._meter.timed("siamese"):
            peaks = self.proposer.propose(image)
        if not self._cls.ready:
            return self._warm_up(peaks, img_wh)
        if self._warming:
            # The classifier learnt on the first frame; the target has moved since.
            self._warming = False
            self._follow(clip_box(self.proposer.box, *img_wh))
            self._since_verified = self.schedule.every
        self._since_verified += 1
        reason = self.schedule.reason(self._since_verified, self._verdict, peaks,
                                      self.proposer.box)
        if reason is None:
            skimmed = self._skim(peaks[0], img_wh)
            if skimmed is not None:
                return skimmed if self._aside is None else self._checked(skimmed, img_wh)
            reason = "weak_peak"
        if self._aside is not None:
            return self._checked(self._verify_aside(image, peaks, reason, img_wh), img_wh)
        self._since_verified = 0
        self._meter.count(f"verify_{reason}")
        verdict = self._verify(image, peaks, img_wh)
        self._settle(verdict, peaks, img_wh, late=False)
        return verdict.result

    def _verify(self, image: np.ndarray, peaks: list[Proposal], img_wh: tuple[int, int],
                follow: np.ndarray | None = None) -> Verdict:
        """Run the classifier's part of a frame: classify, verify, decide, re-detect, learn.

        The only part that touches the classifier, so that aside it runs in the worker alone;
        ``follow``: where the frames answered since the last verification took the target.
        Returns the verdict; ``_settle`` applies it to the proposer and the schedule.
        """
        if self._aside is not None:
            self._cls.begin_frame()  # the newest learnt head, between two of its frames
            if follow is not None:
                self._cls.follow(follow)
        c = self._cls.classify(image)
        ev = self.verifier.evidence(image, c, peaks)
        d = self.rule.decide(ev, lost=self._lost_for > 0, resume=self._resume_prob())
        if not d.success:
            d = self._redetect(image, c, d, ev.cls_logit, img_wh)
        elif self._lost_for:
            d = self._resume(d, image, c)
        if d.branch == "agree":
            # Only an agreement that stands: not a candidate's frame while it is being confirmed.
            self.level.observe(float(ev.logits[d.peak]))
            self.peak_level.observe(min(logit(float(ev.probs[d.peak])), self._resume_cap))
            self.witness.observe(image, self._cls, c, d.box)
        box = clip_box(d.box, *img_wh)
        if box[2] < 1.0 or box[3] < 1.0:
            box = c.box
        search = c.box if d.search is None else clip_box(d.search, *img_wh)
        if d.hold:
            search = clip_box(self.proposer.box, *img_wh)
        if d.branch == "redetect" or search[2] < 1.0 or search[3] < 1.0:
            search = box
        self._cls.conclude(image, c, search, d.success, learn=self.gate.safe(d, ev))
        reset = d.branch == "redetect" or d.reset_proposer
        return Verdict(TrackResult(np.asarray(box, dtype=np.float64), float(d.score), d.success,
                                   d.branch), None if reset else (d.peak or 0), d.hold)

    def _settle(self, verdict: Verdict, peaks: list[Proposal], img_wh: tuple[int, int],
                late: bool) -> None:
        """Apply a verdict to the proposer and the schedule's state (the frame path's side).

        ``late``: the verdict is for an earlier frame, whose best peak the proposer already
        followed; it is moved again only where the verdict chose another box.
        """
        r = verdict.result
        if verdict.peak is None:
            self.proposer.reset(r.box_xywh)
        elif peaks and not verdict.hold and not (late and verdict.peak == 0):
            self.proposer.advance(peaks[verdict.peak], img_wh)
        self._meter.count(f"branch_{r.branch}")
        self._verdict = r.branch
        if r.success:
            self._lost_for = 0
            self._last_centre = r.box_xywh[:2] + r.box_xywh[2:] / 2.0
        else:
            self._lost_for += 1

    # ------------------------------------------------------------------ aside ------------------
    def _follow(self, box: np.ndarray) -> None:
        """Move the classifier's next search to ``box`` (aside: with the next verification)."""
        if self._aside is None:
            self._cls.follow(box)
        else:
            self._follow_box = box

    def _verify_aside(self, image: np.ndarray, peaks: list[Proposal], reason: str,
                      img_wh: tuple[int, int]) -> TrackResult:
        """Hand this frame to the worker if it is free, and answer it without the classifier.

        A frame the worker cannot take (it is still on an earlier one) is answered the same way
        and counted (``aside_busy``); the schedule asks again on the next frame.
        """
        follow = self._follow_box
        # The worker's own copy: a caller may reuse its frame buffer for the next frame.
        job = partial(self._verify, image.copy(), peaks, img_wh, follow)
        if self._aside.submit(job, peaks):
            self._follow_box = None
            self._since_verified = 0
            self._meter.count(f"verify_{reason}")
            self._judged_at = self._meter.counters["frames"]
        else:
            self._meter.count("aside_busy")
        return self._provisional(peaks, img_wh)

    def _provisional(self, peaks: list[Proposal], img_wh: tuple[int, int]) -> TrackResult:
        """Answer a frame whose verification is pending from the last verdict (``pending``).

        After an ``agree`` the Siamese peak carries the track on its own confidence (as on a
        skimmed frame, but a weak peak is LOST until verified). After a LOST verdict the frame is
        LOST: the Siamese box alone never turns a rejection into TRACKING. After another verdict
        (the classifier alone, a take-over, a re-detection) the box is that verdict's, held.
        """
        self._meter.count("branch_pending")
        best = peaks[0] if peaks else None
        if best is not None:
            self.proposer.advance(best, img_wh)
        siamese = clip_box(best.box if best is not None else self.proposer.box, *img_wh)
        held = self._held
        if self._verdict == "agree" and best is not None:
            score = logit(best.prob)
            success = bool(score > self.rule.threshold and siamese[2] >= 1.0 and siamese[3] >= 1.0)
            if success:
                self._follow(siamese)
                self._last_centre = siamese[:2] + siamese[2:] / 2.0
            return TrackResult(np.asarray(siamese, dtype=np.float64), score, success, "pending")
        if not held.success or self._verdict == "agree":
            score = min(held.score, logit(best.prob) if best is not None else held.score,
                        self.rule.threshold)
            return TrackResult(np.asarray(siamese, dtype=np.float64), score, False, "pending")
        return TrackResult(held.box_xywh.copy(), held.score, True, "pending")

    def _apply_finished(self, img_wh: tuple[int, int]) -> Verdict | None:
        """Apply the worker's finished verdict, if any, from the frame it judged on."""
        done = self._aside.take()
        if done is None:
            return None
        verdict, peaks = done
        self._settle(verdict, peaks, img_wh, late=True)
        self._held = verdict.result
        if verdict.result.branch != "agree":
            self._follow_box = None  # the Siamese boxes since that frame are not confirmed
        self._meter.count("aside_verdicts")
        self._meter.count("aside_lag_frames", self._meter.counters["frames"] - self._judged_at)
        return verdict

    def _checked(self, result: TrackResult, img_wh: tuple[int, int]) -> TrackResult:
        """Apply a verdict that finished during this step; a rejection makes this frame LOST.

        So no frame is answered TRACKING after the verifier has rejected the track.
        """
        verdict = self._apply_finished(img_wh)
        if verdict is None or verdict.result.success or not result.success:
            return result
        return TrackResult(result.box_xywh, min(result.score, verdict.result.score), False,
                           result.branch)

    def _skim(self, peak: Proposal, img_wh: tuple[int, int]) -> TrackResult | None:
        """Follow the Siamese peak without the classifier; None when it may not be trusted.

        The state stays the last verified one (TRACKING: a LOST track is verified every frame);
        the score is the peak's own, on the logit scale, so it must clear the threshold.
        """
        box = clip_box(peak.box, *img_wh)
        score = logit(peak.prob)
        if box[2] < 1.0 or box[3] < 1.0 or score <= self.rule.threshold:
            return None
        self.proposer.advance(peak, img_wh)
        # The classifier's next search starts where the target is now, not where it was.
        self._follow(box)
        self._meter.count("branch_skim")
        self._last_centre = box[:2] + box[2:] / 2.0
        return TrackResult(np.asarray(box, dtype=np.float64), score, True, "skim")

    def _warm_up(self, peaks: list[Proposal], img_wh: tuple[int, int]) -> TrackResult:
        """Answer from the Siamese network alone while the classifier learns its first frame.

        TRACKING on the network's own confidence (its peak probability above the threshold).
        """
        self._meter.count("branch_warmup")
        if not peaks:
            box = clip_box(self.proposer.box, *img_wh)
            return TrackResult(box, logit(0.0), False, "warmup")
        self.proposer.advance(peaks[0], img_wh)
        box = clip_box(peaks[0].box, *img_wh)
        score = logit(peaks[0].prob)
        return TrackResult(np.asarray(box, dtype=np.float64), score, score > self.rule.threshold,
                           "warmup")

    def _resume_prob(self) -> float | None:
        """Return the Siamese probability that ends a long loss here (None: ``resume_prob``).

        After ``resume_after`` LOST frames, with ``resume_level`` set: the track's own level of
        its agreed peaks less ``resume_level`` spreads, between ``resume_prob`` and
        ``resume_cap``. One fixed level is too low on a track whose target the network always
        saw near certainty (a stranger of the same kind reaches it) and too high on one it saw
        weakly; the track's own peaks say which it is.
        """
        if (not self._resume_level or not self.rule.resume_prob
                or self._lost_for < max(self._resume_after, 1)):
            return None
        return probability(self.peak_level.floor(self._resume_level,
                                                 logit(self.rule.resume_prob), self._resume_cap))

    def _resume(self, d: Decision, image: np.ndarray, c: Classification) -> Decision:
        """Let a LOST track resume where the target was last seen, elsewhere once confirmed.

        Elsewhere, or anywhere once the loss has lasted ``resume_after`` frames: once the same
        place has won ``redetect_confirm`` frames in a row. After the target has left, the scene
        that replaced it offers look-alikes that both parts accept for a frame or two, near the
        last place too; one such frame must not move the track (and the place the re-detection
        searches first) onto them. A short dropout resumes at once where the target was.
        """
        centre = d.box[:2] + d.box[2:] / 2.0
        reach = np.maximum(self.proposer.box[2:], d.box[2:])
        near = bool(np.all(np.abs(centre - self._last_centre) <= reach))
        dropout = not self._resume_after or self._lost_for < self._resume_after
        if near and dropout:
            self._candidate.clear()
            return d
        if self._candidate.see(d.box):
            self._candidate.clear()
            if self._witnessed(image, c, d.box, "resume"):
                return d
        # Not yet: LOST, and the place searched first stays the last one; the parts follow the
        # candidate (a held proposer would lose a moving one before it could be confirmed).
        return replace(d, branch="lost", score=min(d.score, self.rule.threshold), success=False)

    def _redetect(self, image: np.ndarray, c: Classification, lost: Decision, own_logit: float,
                  img_wh: tuple[int, int]) -> Decision:
        """Search this frame's window; a peak the classifier confirms resumes the track.

        Confirmed: among the window's peaks present at the resume level, the one the
        classifier scores highest; its logit clears the threshold by the margin, or it is
        within the margin of the threshold and beats the classifier's own box by the margin
        (after a long loss the classifier's scores sink everywhere, so its preference is the
        evidence), or, with ``redetect_level`` set and the target's level known, it lies at most
        that many spreads below the level (calibration.py) instead; and it beats every other
        such peak by the margin (a look-alike beside it is no proof). The track resumes once a
        candidate has been confirmed on ``redetect_confirm`` frames in a row.
        """
        window = self._candidate.box
        if window is None:
            window = self.redetector.window(self._lost_for + 1, img_wh, self.proposer.box[2:],
                                            self._last_centre)
        if window is None:
            self._candidate.clear()
            return lost
        with self._meter.timed("siamese"):
            peaks = self.proposer.search(image, window)
        # Re-detected candidates keep resume_prob, not the track's own level: the classifier's
        # margin over the window's other peaks is their proof, and a target whose appearance
        # drifted since its agreed frames returns below its old level.
        found = [p for p in peaks
                 if p.prob >= self.redetector.min_prob and self.rule.present(p.prob, lost=True)]
        if not found:
            self._candidate.clear()
            return lost
        logits = self.verifier.scores(image, c, np.array([p.box for p in found]))
        best = int(np.argmax(logits))
        verified, peak = float(logits[best]), found[best]
        thr = self.rule.threshold
        rivals = np.delete(logits, best)
        below = self.level.spreads_below(verified)
        if self._redetect_level > 0.0 and np.isfinite(below):
            accepted = below <= self._redetect_level and self.redetector.clear_of(verified, rivals)
        else:
            accepted = self.redetector.accepts(verified, rivals, own_logit, thr)
        if not accepted:
            self._candidate.clear()
            return lost
        # Both parts vouch for it: the score is the more confident one's, above the threshold.
        score = max(verified, logit(peak.prob))
        if score <= thr:
            self._candidate.clear()
            return lost
        if not self._candidate.see(peak.box):
            return lost
        self._candidate.clear()
        if not self._witnessed(image, c, peak.box, "redetect"):
            return lost
        return Decision("redetect", peak.box.copy(), score, True)

    def _witnessed(self, image: np.ndarray, c: Classification, box: np.ndarray,
                   kind: str) -> bool:
        """Whether the target's recent features let a confirmed candidate end a long loss.

        A refused candidate starts its confirmation again: a stranger is refused on every
        round, a target that was judged on a bad frame is taken on the next.
        """
        accepted, value = self.witness.judge(image, self._cls, c, box)
        if self.witness.enabled:
            self._meter.count(f"witness_{kind}_{'accepted' if accepted else 'refused'}")
            LOG.debug("witness %s box=%s similarity=%.4f level=%.4f spread=%.4f accepted=%s",
                      kind, np.round(box, 1).tolist(), value, self.witness.level.mean,
                      self.witness.level.spread, accepted)
        return accepted
