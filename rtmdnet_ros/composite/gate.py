# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The update gate: whether a frame's samples may enter the classifier's memory.

LTMU's question ("is it safe to learn now?") answered with what the composite already measured:
a frame is safe only when the two independent parts agree on where the target is (the rule's
``agree`` branch). A frame won by one part against the other, or kept by the classifier alone, is
where a drift would start, so it teaches nothing. Requiring the classifier's own confidence as
well starved it: on a small target its first scores are negative, it never learnt and stayed so
(docs/tracker.md, "Composite tracker").
"""

from __future__ import annotations

from dataclasses import dataclass

from rtmdnet_ros.composite.rule import Decision, Evidence


@dataclass(frozen=True)
class UpdateGate:
    """``enabled`` False = learn on every TRACKING frame (RT-MDNet's rule, for comparison)."""

    enabled: bool = True

    def safe(self, decision: Decision, ev: Evidence) -> bool:
        """Whether to collect this frame's samples."""
        if not decision.success:
            return False
        return decision.branch == "agree" or not self.enabled
