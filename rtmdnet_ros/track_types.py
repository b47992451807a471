# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The values the tracker's parts hand each other: the bottom of the core, importing no part.

Kept apart so that the classifier, both frame policies and the facade can share them without
importing one another.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

TIMING_STAGES = ("crop", "backbone", "roi", "head", "bbreg", "refine", "siamese", "update",
                 "init")


@dataclass
class TrackResult:
    """One frame's answer: the box (x, y, w, h), its score (a logit) and the state.

    ``success`` is the one TRACKING (True) / LOST decision: the node, ``rtmdnet-bag`` and
    ``rtmdnet-eval`` publish it as it is. ``branch`` names the rule that made it (composite
    mode: composite/rule.py's BRANCHES; siamese mode: siamese_only; reference mode: tracking,
    lost).
    """

    box_xywh: np.ndarray
    score: float
    success: bool
    branch: str = ""


@dataclass(frozen=True)
class Classification:
    """One frame's classifier evidence, kept so the policy and the memory reuse one crop."""

    samples: np.ndarray  # (N, 4) candidate boxes
    feats: torch.Tensor  # (N, D) their pooled features
    top: np.ndarray  # indices of the top_k candidates
    score: float  # mean logit of the top_k (reference 7)
    box: np.ndarray  # mean of the top_k boxes
    fmap: torch.Tensor  # the scene crop's feature map
    scene: np.ndarray  # the scene crop's region in the image (x, y, w, h)
    target_wh: np.ndarray  # the target size the crop was scaled for


class Meter:
    """Seconds per stage and event counts of one tracker.

    One object shared by all of a tracker's parts, so that a tracker reports one set of figures
    however its work is divided. On CUDA a stage waits for the device, or the time would land
    on whichever stage synchronises next.
    """

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self.timings: dict[str, float] = dict.fromkeys(TIMING_STAGES, 0.0)
        self.counters: dict[str, int] = {"frames": 0, "short_updates": 0, "long_updates": 0,
                                         "recovery_frames": 0}

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the time spent inside the block to ``stage``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            if self._device.type == "cuda":
                torch.cuda.synchronize(self._device)
            self.timings[stage] += time.perf_counter() - start

    def count(self, name: str, n: int = 1) -> None:
        """Count an event (a branch taken, an update run)."""
        self.counters[name] = self.counters.get(name, 0) + n
