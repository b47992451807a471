# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``mode=siamese``: the Siamese network alone, the fastest tracker this package has on a CPU.

No classifier runs and none is trained, so the first frame is instant and every frame costs one
Siamese pass. The price: nothing judges the box. The score is the network's own peak
probability, which stays high on whatever the network follows, so this mode reports TRACKING on
every frame and never LOST, even after the target has gone.
"""

from __future__ import annotations

import logging

import numpy as np

from rtmdnet_ros.composite.proposer import ProposerSettings, SiameseProposer
from rtmdnet_ros.geometry import clip_box
from rtmdnet_ros.options import TrackerOptions
from rtmdnet_ros.packaged_models import siamese_dir
from rtmdnet_ros.score_scale import logit
from rtmdnet_ros.track_types import Meter, TrackResult

LOG = logging.getLogger(__name__)


class SiamesePolicy:
    """The proposer's own best peak, every frame."""

    uses_classifier = False

    def __init__(self, options: TrackerOptions, meter: Meter) -> None:
        folder = siamese_dir(options.composite.siamese_dir)
        try:
            self.proposer = SiameseProposer(folder, ProposerSettings(peaks=1))
        except FileNotFoundError as exc:
            raise ValueError(f"mode=siamese needs the Siamese network: {exc}") from exc
        LOG.info("Siamese tracker (no verification): network from %s", folder)
        self._meter = meter

    def init(self, image: np.ndarray, box: np.ndarray) -> None:
        """Take the template on the first frame's box."""
        with self._meter.timed("siamese"):
            self.proposer.init(image, box)

    def step(self, image: np.ndarray) -> TrackResult:
        """Follow the best peak; TRACKING always (nothing here can tell a loss)."""
        img_wh = (image.shape[1], image.shape[0])
        with self._meter.timed("siamese"):
            peaks = self.proposer.propose(image)
        if not peaks:  # every cell invalid: keep the last box
            box = clip_box(self.proposer.box, *img_wh)
            return TrackResult(box, logit(0.0), True, "siamese_only")
        self.proposer.advance(peaks[0], img_wh)
        self._meter.count("branch_siamese_only")
        box = clip_box(peaks[0].box, *img_wh)
        return TrackResult(np.asarray(box, dtype=np.float64), logit(peaks[0].prob), True,
                           "siamese_only")
