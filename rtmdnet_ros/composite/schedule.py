# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""When the classifier verifies: on a period, at once when the proposer is in doubt, while LOST.

The Siamese proposer is several times cheaper than the classifier and is right on most frames;
the classifier is needed where the two could disagree (a weak peak, a rival peak, a jump or a
size change), while the target is lost, and now and then to keep learning. Skipping it on the
other frames ("skimming", after SPLT's skimming module), and only while the last verification
found both parts at one place, makes the frame cost close to the
Siamese network's. ``every=1`` verifies every frame: the composite as it was, box for box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtmdnet_ros.composite.proposer import Proposal
from rtmdnet_ros.geometry import iou


@dataclass(frozen=True)
class VerificationSchedule:
    """The numbers of the schedule (TrackerOptions.composite, ``composite_verify_*``).

    ``every``: frames from one verification to the next when nothing is in doubt.
    ``doubt_prob``: a best peak below this target probability is in doubt. ``rival_ratio``: a
    second peak, not overlapping the first (IoU < ``rival_iou``), whose probability reaches
    this fraction of the best one's is a rival. ``max_shift``: a centre move beyond this
    fraction of the box's mean side since the last frame is a jump. ``max_resize``: a width or
    height ratio beyond this since the last frame is a size change.
    """

    every: int = 1
    doubt_prob: float = 0.9
    rival_ratio: float = 0.8
    rival_iou: float = 0.3
    max_shift: float = 0.5
    max_resize: float = 1.1

    def reason(self, since: int, verdict: str, peaks: list[Proposal],
               previous: np.ndarray) -> str | None:
        """Return why this frame must be verified (the counter ``verify_<reason>``), or None.

        ``since``: frames since the last verification, this one included; ``verdict``: the last
        verification's branch: only ``agree`` (both parts at one place) lets the Siamese box
        carry the track alone; ``previous``: the proposer's box on the last frame (x, y, w, h).
        """
        if self.every <= 1 or since >= self.every:
            return "period"
        if verdict in ("lost", "absent"):
            return "lost"
        if verdict != "agree":
            return "unconfirmed"
        if not peaks:
            return "no_peak"
        best = peaks[0]
        if best.prob < self.doubt_prob:
            return "weak_peak"
        for other in peaks[1:]:
            if (other.prob >= self.rival_ratio * best.prob
                    and float(iou(other.box, best.box)) < self.rival_iou):
                return "rival"
        side = max(float(np.mean(previous[2:])), 1.0)
        shift = (best.box[:2] + best.box[2:] / 2.0) - (previous[:2] + previous[2:] / 2.0)
        if float(np.hypot(*shift)) > self.max_shift * side:
            return "jump"
        ratio = best.box[2:] / np.maximum(previous[2:], 1e-6)
        if float(np.max(np.maximum(ratio, 1.0 / np.maximum(ratio, 1e-6)))) > self.max_resize:
            return "resize"
        return None
