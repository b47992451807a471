# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one scale of the tracker's scores: logits inside, probabilities for people.

Every score the tracker compares (the classifier's top-k mean, one box's logit, the Siamese
head's probability taken to the logit scale) is a logit; messages, logs and parameters show a
probability in 0..1. These two maps are the only conversions between the scales, so a user's
threshold (``lost_score_threshold``) and the tracker's own decision cannot drift apart.
"""

from __future__ import annotations

import math

# Probabilities are clipped this far off 0 and 1 before the logit: a Siamese peak at 1.0 stays
# comparable with the classifier's logits (about +-14 at most).
_CLIP = 1e-6


def probability(raw: float) -> float:
    """Map a logit onto [0, 1] (the logistic sigmoid; NaN means no target: 0).

    Monotone, so thresholds carry over: the reference success rule ``raw > 0`` is
    ``probability > 0.5``.
    """
    if not math.isfinite(raw):
        return 0.0 if math.isnan(raw) or raw < 0 else 1.0
    if raw >= 0:
        return 1.0 / (1.0 + math.exp(-raw))
    e = math.exp(raw)
    return e / (1.0 + e)


def logit(p: float) -> float:
    """Inverse of :func:`probability`, with ``p`` clipped off 0 and 1."""
    p = min(max(float(p), _CLIP), 1.0 - _CLIP)
    return math.log(p / (1.0 - p))
