# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The Siamese proposer: NanoTrack v3's network run as a tracker with a state of its own.

Why its own state: re-centring the Siamese search on the composite's fused box ties its errors to
the classifier's (docs/tracker.md, "Composite tracker"). So the proposer searches around *its* last
box, moves with its own best peak (upstream's decoding: change penalty, cosine window, size
smoothing), and is re-centred only when the caller says its target is confirmed lost (``reset``).

Each frame it reports several peaks, not one: a distractor the network prefers and the right
object a little lower are exactly what the verifier must tell apart. The same decoding serves
re-detection: ``search`` looks at any window of the frame without touching the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtmdnet_ros.inputs import check_box
from rtmdnet_ros.siamese_refiner import (
    LR,
    PENALTY_K,
    SCORE_SIZE,
    WINDOW_INFLUENCE,
    RefinerSettings,
    SiameseRefiner,
    change_penalty,
)


@dataclass(frozen=True)
class ProposerSettings:
    """Decoding numbers; the defaults are upstream NanoTrack v3's TRACK settings (configv3.yaml).

    ``peaks``: how many peaks a frame reports. ``peak_radius``: cells around a taken peak that
    cannot be another peak (a 15x15 map whose target covers 2-5 cells). ``min_size``: upstream's
    10 px floor on each side of the tracked box.
    """

    window_influence: float = WINDOW_INFLUENCE
    penalty_k: float = PENALTY_K
    size_lr: float = LR
    peaks: int = 3
    peak_radius: int = 2
    min_size: float = 10.0

    def __post_init__(self) -> None:
        """Reject numbers that would silently disable the decoding."""
        if self.peaks < 1 or self.peak_radius < 0:
            raise ValueError("peaks must be >= 1 and peak_radius >= 0")
        if not 0.0 <= self.window_influence <= 1.0 or not 0.0 <= self.size_lr <= 1.0:
            raise ValueError("window_influence and size_lr must be in [0, 1]")


@dataclass(frozen=True)
class Proposal:
    """One peak: the box as the Siamese tracker would report it, and its scores.

    ``box`` (x, y, w, h) has upstream's size smoothing applied against the search's reference
    size; ``raw`` is the head's unsmoothed box. ``prob``: the head's target probability;
    ``pscore``: after change penalty and window (what ranks the peaks).
    """

    box: np.ndarray
    raw: np.ndarray
    prob: float
    pscore: float


class SiameseProposer:
    """NanoTrack v3 as a stateful tracker that reports its top peaks; RGB uint8 frames."""

    def __init__(self, model_dir: str | Path, settings: ProposerSettings | None = None) -> None:
        """Load both ONNX networks from ``model_dir`` (FileNotFoundError names what is missing)."""
        self.settings = settings or ProposerSettings()
        self._net = SiameseRefiner(model_dir, RefinerSettings())
        self.model_dir = Path(model_dir)
        hann = np.hanning(SCORE_SIZE)
        self._window = np.outer(hann, hann)
        self._box: np.ndarray | None = None

    @property
    def box(self) -> np.ndarray:
        """The proposer's own current box (x, y, w, h)."""
        if self._box is None:
            raise RuntimeError("SiameseProposer used before init")
        return self._box.copy()

    def init(self, image_rgb: np.ndarray, box_xywh: Any) -> None:
        """Take the template from this frame's box; the state starts there."""
        self._net.set_template(image_rgb, box_xywh)
        self._box = check_box(box_xywh).copy()

    def reset(self, box_xywh: Any) -> None:
        """Move the state to a box the caller confirmed (the template stays the first frame's)."""
        self._box = check_box(box_xywh).copy()

    def propose(self, image_rgb: np.ndarray) -> list[Proposal]:
        """Peaks of a search around the own state, best first; the state does not move."""
        return self.search(image_rgb, self.box)

    def advance(self, proposal: Proposal, image_wh: tuple[int, int]) -> None:
        """Move the own state to this proposal (the Siamese tracker's own step)."""
        w, h = image_wh
        x, y, bw, bh = proposal.box
        cx = float(np.clip(x + bw / 2.0, 0.0, w))
        cy = float(np.clip(y + bh / 2.0, 0.0, h))
        bw = float(np.clip(bw, self.settings.min_size, w))
        bh = float(np.clip(bh, self.settings.min_size, h))
        self._box = np.array([cx - bw / 2.0, cy - bh / 2.0, bw, bh])

    def search(self, image_rgb: np.ndarray, around_xywh: Any) -> list[Proposal]:
        """Peaks of one search window centred on ``around_xywh`` at its scale, best first.

        The change penalty and the size smoothing are taken against ``around_xywh``'s size, as
        upstream does against its previous box.
        """
        s = self.settings
        ref = check_box(around_xywh)
        prob, boxes, _ = self._net.score_maps(image_rgb, ref)
        pcx, pcy, pw, ph = boxes
        valid = (pw > 0) & (ph > 0)
        w, h = ref[2], ref[3]
        penalty = change_penalty(np.where(valid, pw, 1.0), np.where(valid, ph, 1.0), w, h,
                                 s.penalty_k)
        pscore = penalty * prob * (1.0 - s.window_influence) + self._window * s.window_influence
        pscore = np.where(valid, pscore, -np.inf)
        out: list[Proposal] = []
        taken = np.zeros_like(valid)
        for flat in np.argsort(-pscore, axis=None, kind="stable"):
            if len(out) == s.peaks:
                break
            i, j = np.unravel_index(flat, pscore.shape)
            if taken[i, j] or not np.isfinite(pscore[i, j]):
                continue
            r = s.peak_radius
            taken[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1] = True
            lr = float(penalty[i, j] * prob[i, j] * s.size_lr)
            bw = w * (1.0 - lr) + pw[i, j] * lr
            bh = h * (1.0 - lr) + ph[i, j] * lr
            cx, cy = float(pcx[i, j]), float(pcy[i, j])
            out.append(Proposal(
                box=np.array([cx - bw / 2.0, cy - bh / 2.0, bw, bh]),
                raw=np.array([cx - pw[i, j] / 2.0, cy - ph[i, j] / 2.0, pw[i, j], ph[i, j]]),
                prob=float(prob[i, j]), pscore=float(pscore[i, j])))
        return out
