# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The verifier: RT-MDNet's online classifier asked about boxes it did not propose itself.

Every box is scored as one RoI on the frame's candidate feature map (or one small extra crop for a
box far from it), and so is the classifier's own box: the rule compares single-box logits with
single-box logits. The top-k mean of the candidates (reference 7) is a different, higher scale,
which is why it is kept apart as ``cls_score``.
"""

from __future__ import annotations

import numpy as np

from rtmdnet_ros.classifier import OnlineClassifier
from rtmdnet_ros.composite.proposer import Proposal
from rtmdnet_ros.composite.rule import Evidence
from rtmdnet_ros.geometry import iou
from rtmdnet_ros.track_types import Classification


class Verifier:
    """Builds a frame's ``Evidence`` from the classifier's classification and the peaks."""

    def __init__(self, classifier: OnlineClassifier) -> None:
        self._cls = classifier

    def evidence(self, image: np.ndarray, c: Classification, peaks: list[Proposal]) -> Evidence:
        """Score the peaks and the classifier's own box in one pooling call."""
        boxes = np.array([p.box for p in peaks]).reshape(-1, 4)
        logits = self._cls.score_boxes(image, c, np.concatenate([boxes, c.box[None]]))
        refined = self._cls.regress(image, c)
        return Evidence(
            cls_score=c.score, cls_box=c.box, cls_logit=float(logits[-1]), boxes=boxes,
            logits=logits[:-1], probs=np.array([p.prob for p in peaks]),
            ious=np.atleast_1d(iou(boxes, c.box)) if len(boxes) else np.zeros(0),
            refined=c.box if refined is None else refined)

    def scores(self, image: np.ndarray, c: Classification, boxes: np.ndarray) -> np.ndarray:
        """Return the logits of boxes (N, 4) in one pooling call (re-detection)."""
        return self._cls.score_boxes(image, c, np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
