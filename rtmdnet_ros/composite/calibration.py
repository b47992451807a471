# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where this track's target sits on the classifier's scale: its logits on verified frames.

The classifier's logits mean different things on different tracks: a small or blurred target
scores below the threshold from its first frames on, while on an easy one a look-alike scores
well above it and still far below the target. A fixed threshold on them is either late (a
look-alike clears it on the easy track) or early (the target itself fails it on the hard one).
This estimate is learnt from the frames where both parts agreed on the target (what the update
gate lets the classifier learn from), so a candidate can be judged against the target's own
level: how many spreads below it it is.
"""

from __future__ import annotations

import math


class TargetLevel:
    """Running mean and spread of the classifier's logit on the agreed target box.

    The first ``warmup`` observations are averaged equally; after that each new one weighs
    ``1 / warmup``, so the level follows a target whose appearance (and score) changes slowly.
    The spread is the running mean absolute deviation, never below ``min_spread`` (a few equal
    scores would otherwise make every other score infinitely far).
    """

    def __init__(self, warmup: int = 10, min_spread: float = 1.0) -> None:
        self.warmup = max(int(warmup), 1)
        self.min_spread = min_spread
        self.clear()

    def clear(self) -> None:
        """Forget the target (a new one is being tracked)."""
        self.count = 0
        self.mean = 0.0
        self._deviation = 0.0

    @property
    def spread(self) -> float:
        """The typical distance of the target's logit from its mean."""
        return max(self._deviation, self.min_spread)

    def observe(self, value: float) -> None:
        """Add the logit of a box both parts agreed was the target."""
        self.count += 1
        if self.count == 1:
            self.mean = float(value)
            return
        self._deviation += (abs(value - self.mean) - self._deviation) / min(self.count - 1,
                                                                             self.warmup)
        self.mean += (value - self.mean) / min(self.count, self.warmup)

    def floor(self, spreads: float, low: float, high: float) -> float:
        """Return the level less ``spreads`` spreads, kept within [low, high] (low: not known).

        What a value must reach to count as this track's target, where a fixed bound alone is
        too strict on a track scored low throughout and too lenient on one scored high.
        """
        if not self.count:
            return low
        return min(max(self.mean - spreads * self.spread, low), high)

    def spreads_below(self, value: float) -> float:
        """How many spreads ``value`` lies below the target's level (< 0: above it).

        NaN before the first observation: the level is not known yet.
        """
        if not self.count:
            return math.nan
        return (self.mean - value) / self.spread
