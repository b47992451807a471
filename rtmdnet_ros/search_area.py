# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where the classifier looks on the next frame: reference 4's candidates, or the recovery sweep.

A lost target may be anywhere in the frame, but one crop of the whole frame at the target's
scale (img_size px per target) is far too large for small targets: a narrow person in a wide
frame would need a crop of thousands of pixels. So after ``recovery.after`` failed frames each
frame searches one tile: the area one crop of ``recovery.max_crop`` px covers, with candidates
uniform in it; the tiles cover the frame and are visited nearest the last box first, so a
whole-frame sweep costs a bounded crop per frame.
"""

from __future__ import annotations

import numpy as np

from .geometry import covering_tiles
from .options import TrackerOptions
from .sampling import SampleGenerator
from .track_types import Meter


class SearchArea:
    """The search box, its width (reference 4's wider search after a failure) and the sweep."""

    def __init__(self, options: TrackerOptions, target: np.ndarray, meter: Meter) -> None:
        self._options = options
        self._meter = meter
        self.target = np.asarray(target, dtype=np.float64).copy()
        self._trans = options.rtmdnet.cand_trans
        self.failures = 0  # consecutive failed frames
        self._last_seen = self.target[:2] + self.target[2:] / 2.0  # centre, last success

    @property
    def widened(self) -> bool:
        """Whether the next frame searches with reference 4's failure width."""
        return self._trans == self._options.rtmdnet.cand_trans_failure

    def move(self, target: np.ndarray, success: bool) -> None:
        """Close a frame: the next search box, and the width the outcome calls for."""
        r = self._options.rtmdnet
        self._trans = r.cand_trans if success else r.cand_trans_failure
        self.failures = 0 if success else self.failures + 1
        if success:
            self._last_seen = target[:2] + target[2:] / 2.0
        self.target = np.asarray(target, dtype=np.float64)

    def follow(self, target: np.ndarray) -> None:
        """Move the search box without a verdict: width and failure count stay as they are."""
        self.target = np.asarray(target, dtype=np.float64).copy()

    def candidates(self, img_wh: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """Draw this frame's candidates: reference 4, or one tile of the recovery sweep."""
        r = self._options.rtmdnet
        target_wh = self.target[2:].copy()
        centre = self._recovery_centre(img_wh)
        if centre is None:
            gen = SampleGenerator("gaussian", img_wh, self._trans, r.cand_scale, valid=True,
                                  min_size=r.min_box_size)
            return gen(self.target, r.n_candidates, rng)
        self._meter.count("recovery_frames")
        # Candidate centres may range over the crop minus one padded target per axis.
        reach = self._recovery_reach(target_wh)
        n = self._options.recovery.candidates
        cxcy = centre + rng.uniform(-1.0, 1.0, size=(n, 2)) * reach
        wh = target_wh * r.cand_scale ** rng.uniform(-1.0, 1.0, size=(n, 1))
        img = np.asarray(img_wh, dtype=np.float64)
        wh = np.clip(wh, r.min_box_size, np.maximum(img - r.min_box_size, r.min_box_size))
        cxcy = np.clip(cxcy, wh / 2.0, img - wh / 2.0)
        return np.concatenate([cxcy - wh / 2.0, wh], axis=1)

    def _recovery_centre(self, img_wh: tuple[int, int]) -> np.ndarray | None:
        """Return the recovery tile centre for this frame while the sweep runs, else None."""
        rec = self._options.recovery
        lost_for = self.failures - rec.after
        if not rec.after or lost_for < 0:
            return None
        tiles = covering_tiles(img_wh, self._recovery_reach(self.target[2:]), self._last_seen)
        return tiles[lost_for % len(tiles)]

    def _recovery_reach(self, target_wh: np.ndarray) -> np.ndarray:
        """Half-size per axis of one recovery tile: one crop of recovery.max_crop px."""
        geo = self._options.network
        crop = self._options.recovery.max_crop
        return np.maximum((crop / geo.img_size - geo.padding) * target_wh / 2.0,
                          target_wh / 2.0)
