# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A third witness for a track that resumes after a long loss: the target's own recent features.

The two parts that vote every frame can both be fooled by a stranger after the target has left:
the Siamese network scores another object of the same kind near certainty (its template is the
first frame's, and it knows the kind, not the instance), and the online classifier, which tells
the target from the background it was shown, scores an object of the same kind from elsewhere at
the target's own level. The witness keeps the RoI features of the target's last agreed boxes (a
small gallery, learnt only from agreements that stand, never from a frame it judges) and asks
how close a candidate's feature comes to the nearest of them, against how close the target's own
successive features come to each other (calibration.py's level and spread of that similarity):
an instance that is not the target lies far below, however target-like its kind. A head kept
from the first frame was tried first and forgets the target as it changes (docs/tracker.md, "A
third witness").

It is asked only where a loss would end (a resume confirmed after a long loss, an accepted
re-detection), so a track that is held is judged as before.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import torch
import torch.nn.functional as F

from rtmdnet_ros.classifier import OnlineClassifier
from rtmdnet_ros.composite.calibration import TargetLevel
from rtmdnet_ros.track_types import Classification


class FeatureWitness:
    """The last ``frames`` agreed target features, and the level of their mutual similarity.

    ``spreads``: how far below that level a candidate's similarity may lie (0 = the witness is
    off: nothing is pooled, kept or refused). ``min_spread``: the level's smallest spread, in
    cosine similarity (successive features of one target can agree closely for a while).
    """

    def __init__(self, spreads: float, frames: int, min_spread: float) -> None:
        if spreads < 0.0:
            raise ValueError(f"the witness's spreads must be >= 0 (0 = off), got {spreads}")
        self.spreads = spreads
        self.level = TargetLevel(frames, min_spread)
        self._gallery: deque[torch.Tensor] = deque(maxlen=max(int(frames), 1))

    @property
    def enabled(self) -> bool:
        """Whether the witness is asked at all."""
        return self.spreads > 0.0

    @property
    def size(self) -> int:
        """How many agreed features the gallery holds."""
        return len(self._gallery)

    def clear(self) -> None:
        """Forget the target (a new one is being learnt)."""
        self._gallery.clear()
        self.level.clear()

    def observe(self, image: np.ndarray, cls: OnlineClassifier, c: Classification,
                box: np.ndarray) -> None:
        """Keep the feature of a box both parts agreed was the target (the level learns first)."""
        if not self.enabled:
            return
        feature = self._feature(image, cls, c, box)
        if self._gallery:
            self.level.observe(self._nearest(feature))
        self._gallery.append(feature)

    def judge(self, image: np.ndarray, cls: OnlineClassifier, c: Classification,
              box: np.ndarray) -> tuple[bool, float]:
        """Whether ``box`` may be the target the track resumes on, and its similarity.

        Before the level is known (fewer than two agreed frames) it is not asked: True. Off:
        True, NaN.
        """
        if not self.enabled or not self._gallery:
            return True, math.nan
        value = self._nearest(self._feature(image, cls, c, box))
        below = self.level.spreads_below(value)
        return bool(not np.isfinite(below) or below <= self.spreads), value

    def _feature(self, image: np.ndarray, cls: OnlineClassifier, c: Classification,
                 box: np.ndarray) -> torch.Tensor:
        return F.normalize(cls.box_features(image, c, box)[0], dim=0)

    def _nearest(self, feature: torch.Tensor) -> float:
        """Cosine similarity to the nearest kept target feature (all are unit vectors)."""
        return float((torch.stack(list(self._gallery)) @ feature).max())
