# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The paper's frame step: success = top-k mean logit > threshold, box from reference 8.

With a box refiner (``refiner.kind``), NanoTrack's head refines the box near the classifier's
choice; the classifier keeps the last word on which object it is.
"""

from __future__ import annotations

import logging

import numpy as np

from .classifier import OnlineClassifier
from .geometry import clip_box
from .options import TrackerOptions
from .siamese_refiner import RefinerSettings, SiameseRefiner
from .track_types import Meter, TrackResult

LOG = logging.getLogger(__name__)


def load_refiner(options: TrackerOptions) -> SiameseRefiner | None:
    """Load the refiner the options ask for (None: "none", or "auto" without its files)."""
    ref = options.refiner
    if ref.kind == "none":
        return None
    try:
        refiner = SiameseRefiner(ref.dir, RefinerSettings(size_calibration=ref.size_calibration))
    except FileNotFoundError as exc:
        if ref.kind == "nanotrack_v3":
            raise ValueError(f"box_refiner=nanotrack_v3: {exc}") from exc
        LOG.warning("box_refiner=auto: %s; tracking without box refinement (RT-MDNet's box, "
                    "which shrinks on small targets)", exc)
        return None
    LOG.info("box refinement: NanoTrack v3 Siamese head from %s", refiner.backbone_path.parent)
    return refiner


class ReferencePolicy:
    """RT-MDNet's own frame step, on the classifier's interface."""

    uses_classifier = True

    def __init__(self, classifier: OnlineClassifier, options: TrackerOptions,
                 meter: Meter) -> None:
        self._cls = classifier
        self._threshold = options.rtmdnet.success_threshold
        self._meter = meter
        self.refiner = load_refiner(options)

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        """Take the refiner's template (the classifier has learnt the target already)."""
        if self.refiner is not None:
            with self._meter.timed("refine"):
                self.refiner.set_template(image, box)

    def step(self, image: np.ndarray) -> TrackResult:
        """One frame of RT-MDNet."""
        c = self._cls.classify(image)
        success = c.score > self._threshold
        target = result = c.box
        refined = self._refine(image, target) if success and self.refiner is not None else None
        if refined is not None:
            # The refined box is reported and is also the next frame's search box.
            result = target = refined
        elif success:
            regressed = self._cls.regress(image, c)
            result = result if regressed is None else regressed
        self._cls.conclude(image, c, target, success, learn=True)
        return TrackResult(np.asarray(result, dtype=np.float64), c.score, bool(success),
                           "tracking" if success else "lost")

    def _refine(self, image: np.ndarray, target: np.ndarray) -> np.ndarray | None:
        """Return the refiner's box for the classifier's own box (None: it declines).

        It starts from the top-k mean, not from the regressed box: a regression bias fed back
        through the search box would compound frame after frame (docs/tracker.md).
        """
        with self._meter.timed("refine"):
            refined, score, details = self.refiner.refine(image, target)
        if not details["accepted"]:
            # A high probability elsewhere in the window while the eligible cells stay low is
            # a look-alike nearby, which the refiner leaves to the classifier by design.
            LOG.debug("refiner kept the classifier's box: %s (best eligible %.2f, window %.2f)",
                      details["reason"], score, details["max_score"])
            return None
        box = clip_box(refined, image.shape[1], image.shape[0])
        return box if box[2] >= 1.0 and box[3] >= 1.0 else None
