# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Re-detection after a loss: the Siamese network sweeps the frame one bounded window a frame.

A window is the proposer's own search region at the target's last size, so each frame costs one
more Siamese pass however large the image. Windows are visited nearest the last confident
position first (the target usually reappears near where it vanished) and overlap by a quarter,
so an object on a border between two is seen whole in one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rtmdnet_ros.geometry import covering_tiles
from rtmdnet_ros.siamese_refiner import EXEMPLAR_SIZE, INSTANCE_SIZE, context_side


@dataclass(frozen=True)
class ReDetector:
    """When and where to look; the policy verifies what the window's best peak is.

    ``after``: LOST frames before the sweep starts (0 = never). ``min_prob``: the Siamese head's
    probability a peak needs before the classifier is asked. ``margin``: how clearly the
    classifier must confirm it (policy.py; a resumed track on a look-alike is worse than a few
    more LOST frames).
    """

    after: int = 5
    min_prob: float = 0.5
    margin: float = 1.0
    overlap: float = 0.25

    def window(self, lost_for: int, img_wh: tuple[int, int], target_wh: np.ndarray,
               last_centre: np.ndarray) -> np.ndarray | None:
        """Return the box (x, y, w, h) to centre this frame's search on, or None (not sweeping)."""
        if not self.after or lost_for < self.after:
            return None
        side = context_side(*target_wh) * INSTANCE_SIZE / EXEMPLAR_SIZE
        half = np.full(2, max(side * (1.0 - self.overlap) / 2.0, 1.0))
        centres = covering_tiles(img_wh, half, np.asarray(last_centre, dtype=np.float64))
        cx, cy = centres[(lost_for - self.after) % len(centres)]
        w, h = target_wh
        return np.array([cx - w / 2.0, cy - h / 2.0, w, h])
