# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Sample generators around a box (reference 4), driven by an explicit numpy Generator.

No global RNG: every draw comes from the ``rng`` argument so a seeded tracker reproduces its boxes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .geometry import area_ratio, cxcywh_to_xywh, iou, xywh_to_cxcywh


@dataclass(frozen=True)
class SampleGenerator:
    """Draws boxes around a reference box.

    ``kind`` is "gaussian" (offsets clip(0.5 N, -1, 1)) or "uniform" (offsets U(-1, 1)); the
    centre moves by ``trans * mean(w, h) * offset`` per axis and both sides scale by
    ``scale ** offset`` (one offset per sample, so the aspect ratio only changes through
    ``aspect``). Sizes are clipped to ``[min_size, img - min_size]``; ``valid`` keeps boxes inside.
    """

    kind: str
    img_wh: tuple[float, float]
    trans: float
    scale: float
    aspect: float | None = None
    valid: bool = False
    min_size: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in ("gaussian", "uniform"):
            raise ValueError(f"unknown sample generator kind {self.kind!r}")

    def __call__(self, box_xywh, n: int, rng: np.random.Generator) -> np.ndarray:
        """Return ``n`` xywh samples around ``box_xywh``."""
        base = xywh_to_cxcywh(np.asarray(box_xywh, dtype=np.float64))
        s = np.tile(base, (n, 1))
        if self.aspect is not None:
            r = rng.uniform(-1.0, 1.0, size=(n, 1))
            s[:, 2:] *= self.aspect ** np.concatenate([r, -r], axis=1)
        if self.kind == "gaussian":
            shift = np.clip(0.5 * rng.standard_normal((n, 2)), -1.0, 1.0)
            sc = np.clip(0.5 * rng.standard_normal((n, 1)), -1.0, 1.0)
        else:
            shift = rng.uniform(-1.0, 1.0, size=(n, 2))
            sc = rng.uniform(-1.0, 1.0, size=(n, 1))
        s[:, :2] += self.trans * base[2:].mean() * shift
        s[:, 2:] *= self.scale**sc
        img = np.asarray(self.img_wh, dtype=np.float64)
        hi = np.maximum(img - self.min_size, self.min_size)
        s[:, 2:] = np.clip(s[:, 2:], self.min_size, hi)
        if self.valid:
            s[:, :2] = np.clip(s[:, :2], s[:, 2:] / 2.0, img - s[:, 2:] / 2.0)
        return cxcywh_to_xywh(s)


def gen_samples(
    generator: SampleGenerator,
    box_xywh,
    n: int,
    rng: np.random.Generator,
    iou_range: tuple[float, float] | None = None,
    area_range: tuple[float, float] | None = None,
    accept: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Draw up to ``n`` samples passing the IoU / area-ratio filters (reference 4).

    Draws ``n*2``, then ``n*4``, then ``n*8`` candidates until ``n`` have passed; keeps a random
    subset of the passing ones each round. May return fewer than ``n`` (a target filling the
    image has few negatives with low IoU); callers must cope with that. The area ratio is
    area(sample) / area(box). ``accept`` is an optional extra filter (boxes -> bool mask).
    Without filters it returns exactly ``n`` draws.
    """
    if n <= 0:
        return np.zeros((0, 4))
    if iou_range is None and area_range is None and accept is None:
        return generator(box_xywh, n, rng)
    box = np.asarray(box_xywh, dtype=np.float64)
    kept: list[np.ndarray] = []
    remain = n
    for factor in (2, 4, 8):
        cand = generator(box, n * factor, rng)
        ok = np.ones(len(cand), dtype=bool)
        if iou_range is not None:
            ov = iou(cand, box)
            ok &= (ov >= iou_range[0]) & (ov <= iou_range[1])
        if area_range is not None:
            ar = area_ratio(cand, box)
            ok &= (ar >= area_range[0]) & (ar <= area_range[1])
        if accept is not None:
            ok &= np.asarray(accept(cand), dtype=bool)
        cand = cand[ok]
        if len(cand) > remain:
            cand = cand[rng.choice(len(cand), remain, replace=False)]
        kept.append(cand)
        remain -= len(cand)
        if remain <= 0:
            break
    return np.concatenate(kept, axis=0)
