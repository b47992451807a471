# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A third witness for a track that resumes after a long loss: the first frame's classifier.

The two parts that vote every frame can both be fooled by a stranger after the target has left:
the Siamese network scores another object of the same kind near certainty, and the online
classifier, updated on the track since, scores whatever its updates drifted towards at the
target's own level. A copy of the classifier's head taken when the first frame's training ends
has learnt the target from the one box the user gave and never anything since, so it cannot have
drifted onto what the updates learnt; it is asked only where a loss would end (a resume confirmed
after a long loss, an accepted re-detection), so a track that is held is judged as before.

Its scores are on the classifier's logit scale but not the online head's level: the witness
keeps the target's own level on its scale (calibration.py, from the frames both parts agreed on)
and refuses a candidate more than ``spreads`` spreads below it.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from rtmdnet_ros.classifier import OnlineClassifier
from rtmdnet_ros.composite.calibration import TargetLevel
from rtmdnet_ros.track_types import Classification


class FirstFrameWitness:
    """The classifier's head as the first frame left it, and the target's level on it.

    ``spreads``: how far below the target's level a candidate may score (0 = the witness is off:
    nothing is copied, scored or refused). ``warmup`` / ``min_spread``: the level's
    (calibration.TargetLevel).
    """

    def __init__(self, spreads: float, warmup: int = 10, min_spread: float = 1.0) -> None:
        if spreads < 0.0:
            raise ValueError(f"the witness's spreads must be >= 0 (0 = off), got {spreads}")
        self.spreads = spreads
        self.level = TargetLevel(warmup, min_spread)
        self._head: torch.nn.Module | None = None

    @property
    def enabled(self) -> bool:
        """Whether the witness is asked at all."""
        return self.spreads > 0.0

    @property
    def taken(self) -> bool:
        """Whether the first frame's head has been copied (after the first-frame training)."""
        return self._head is not None

    def clear(self) -> None:
        """Forget the head and the level (a new target is being learnt)."""
        self._head = None
        self.level.clear()

    def take(self, cls: OnlineClassifier) -> None:
        """Copy the classifier's head now, before any online update has changed it.

        The backbone is shared, not copied: it is frozen while tracking and only the head learns.
        """
        if not self.enabled or self._head is not None:
            return
        net = cls.net
        head = copy.deepcopy(net, memo={id(net.backbone): net.backbone})
        head.eval()
        for p in head.parameters():
            p.requires_grad_(False)
        self._head = head

    def scores(self, image: np.ndarray, cls: OnlineClassifier, c: Classification,
               boxes: np.ndarray) -> np.ndarray:
        """Return the first frame's head's logit for each box (N, 4) of this frame."""
        if self._head is None:
            raise RuntimeError("FirstFrameWitness.scores before take()")
        feats = cls.box_features(image, c, boxes)
        with torch.no_grad():
            return self._head.head(feats)[:, 1].cpu().numpy().astype(np.float64)

    def observe(self, image: np.ndarray, cls: OnlineClassifier, c: Classification,
                box: np.ndarray) -> None:
        """Add the witness's logit of a box both parts agreed was the target to its level."""
        if self.enabled and self._head is not None:
            self.level.observe(float(self.scores(image, cls, c, box)[0]))

    def judge(self, image: np.ndarray, cls: OnlineClassifier, c: Classification,
              box: np.ndarray) -> tuple[bool, float]:
        """Whether ``box`` may be the target the track resumes on, and the witness's logit.

        Before the level is known (no agreed frame yet) it is not asked: True. Off: True, NaN.
        """
        if not self.enabled or self._head is None:
            return True, math.nan
        value = float(self.scores(image, cls, c, box)[0])
        below = self.level.spreads_below(value)
        return bool(not np.isfinite(below) or below <= self.spreads), value
