# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Re-detection after a loss: the Siamese network searches one bounded window a frame.

A window is the proposer's own search region at the target's last size, so each frame costs one
more Siamese pass however large the image. The place where the target was last seen comes first
and then every other frame (a target that went behind something, or out of a cut, mostly comes
back there); the frames between sweep the whole frame, nearest windows first, overlapping by a
quarter so that an object on a border between two is seen whole in one.

A candidate the classifier confirms is not taken at once: it must be found again at the same
place on ``confirm`` frames in a row (the window follows it meanwhile). A look-alike in the
scene that replaced the target wins a single frame's comparison now and then; the target, once
back, wins every one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtmdnet_ros.geometry import covering_tiles, iou
from rtmdnet_ros.siamese_refiner import EXEMPLAR_SIZE, INSTANCE_SIZE, context_side


@dataclass(frozen=True)
class ReDetector:
    """When and where to look; the policy verifies what the window's peaks are.

    ``after``: LOST frames before the search starts (0 = never). ``min_prob``: the Siamese head's
    probability a peak needs before the classifier is asked. ``margin``: how clearly the
    classifier must confirm it, over the threshold and over the window's other peaks (policy.py;
    a resumed track on a look-alike is worse than a few more LOST frames); how many frames in a
    row it must win is ``Confirmation``'s.
    """

    after: int = 5
    min_prob: float = 0.5
    margin: float = 1.0
    overlap: float = 0.25

    def window(self, lost_for: int, img_wh: tuple[int, int], target_wh: np.ndarray,
               last_centre: np.ndarray) -> np.ndarray | None:
        """Return the box (x, y, w, h) to centre this frame's search on, or None (not searching).

        Even steps search the last place, odd ones the next window of the sweep.
        """
        if not self.after or lost_for < self.after:
            return None
        step = lost_for - self.after
        side = context_side(*target_wh) * INSTANCE_SIZE / EXEMPLAR_SIZE
        half = np.full(2, max(side * (1.0 - self.overlap) / 2.0, 1.0))
        centres = covering_tiles(img_wh, half, np.asarray(last_centre, dtype=np.float64))
        cx, cy = last_centre if step % 2 == 0 else centres[(step // 2) % len(centres)]
        w, h = target_wh
        return np.array([cx - w / 2.0, cy - h / 2.0, w, h])

    def accepts(self, verified: float, rivals: np.ndarray, own_logit: float,
                threshold: float) -> bool:
        """Whether the classifier's favourite in a window wins this frame (before confirmation).

        ``verified``: its logit, ``rivals`` the window's other present peaks' logits, ``own_logit``
        the classifier's own box's. It clears the threshold by the margin, or it is within the
        margin of it and beats the classifier's own box by the margin (after a long loss the
        classifier's scores sink everywhere, so its preference is the evidence); either way it
        beats every rival by the margin.
        """
        preferred = verified > threshold - self.margin and verified > own_logit + self.margin
        return ((verified > threshold + self.margin or preferred)
                and self.clear_of(verified, rivals))

    def clear_of(self, verified: float, rivals: np.ndarray) -> bool:
        """Whether the favourite's logit beats every rival's by the margin: no look-alike near."""
        return bool(np.all(verified >= np.asarray(rivals) + self.margin))


class Confirmation:
    """The candidate being confirmed: where it is and on how many frames in a row it won."""

    def __init__(self, frames: int, min_iou: float) -> None:
        self.frames = max(int(frames), 1)
        self.min_iou = min_iou
        self.box: np.ndarray | None = None
        self.count = 0

    def see(self, box: np.ndarray) -> bool:
        """Count a win at ``box``; True once it has won ``frames`` times in a row at one place."""
        same = self.box is not None and float(iou(box, self.box)) >= self.min_iou
        self.count = self.count + 1 if same else 1
        self.box = np.asarray(box, dtype=np.float64).copy()
        return self.count >= self.frames

    def clear(self) -> None:
        """Forget the candidate (it lost a frame, or the track resumed)."""
        self.box = None
        self.count = 0
