# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The update gate: whether a frame's samples may enter the classifier's memory.

LTMU's question ("is it safe to learn now?") answered with what the composite already measured:
a frame is safe only when the two independent parts agree on the target and both are confident.
A frame won by one part against the other is where a drift would start, so it teaches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtmdnet_ros.composite.rule import Decision, Evidence


@dataclass(frozen=True)
class UpdateGate:
    """``enabled`` False = learn on every TRACKING frame (RT-MDNet's rule, for comparison)."""

    threshold: float = 0.0  # logit both parts must exceed (the tracker's success_threshold)
    enabled: bool = True

    def safe(self, decision: Decision, ev: Evidence) -> bool:
        """Whether to collect this frame's samples."""
        if not decision.success:
            return False
        if not self.enabled:
            return True
        return (decision.branch == "agree" and len(ev.logits) > 0
                and min(ev.cls_score, float(ev.logits[0])) > self.threshold)
