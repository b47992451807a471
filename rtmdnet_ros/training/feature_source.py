# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Backbone features of training frames, computed once per (frame, jitter scale) when frozen.

With a frozen backbone the conv features of a frame do not change during training, so they are
computed once per (frame, jitter scale) and kept in memory (and on disk, for the next run): the
steps then cost only RoI pooling and the fc head, which makes hours of CPU work minutes. The
scene geometry lives here too because the cache can only hold crops whose region is fixed per
frame.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtmdnet_ros import safe_torch_load

from ..crop import crop_scene, to_tensor
from ..geometry import xywh_to_x1y1x2y2
from ..options import TrainOptions
from .data import Domain
from .run_options import RunOptions

LOG = logging.getLogger(__name__)


def jitter_exponent_probs(opts: TrainOptions, exponents: Sequence[int]) -> np.ndarray:
    """P(round(clip(std*N, -clip, clip)) == e) for each cached exponent e (renormalised).

    The reference draws a continuous jitter 1.1^clip(3N, -2, 2); about half of the mass sits on
    the clipped ends. A cache can only hold a few scales, so each gets the probability of the
    continuous draws that round to it.
    """
    from statistics import NormalDist

    nd = NormalDist()
    c, s = opts.scale_jitter_clip, opts.scale_jitter_std
    probs = []
    for e in exponents:
        lo, hi = e - 0.5, e + 0.5
        lo_p = 0.0 if lo <= -c else nd.cdf(lo / s)
        hi_p = 1.0 if hi >= c else nd.cdf(hi / s)
        probs.append(max(hi_p - lo_p, 0.0))
    p = np.asarray(probs, dtype=np.float64)
    if p.sum() <= 0:
        p = np.ones(len(exponents))
    return p / p.sum()


def context_scene_box(box_xywh: np.ndarray, opts: TrainOptions, img_wh) -> np.ndarray:
    """Region that holds every positive and negative sample of a frame, fixed per frame.

    The reference crops the union of the step's padded samples; fixing the region to its largest
    possible extent (negatives move up to neg_trans*mean(w,h), grow by neg_scale*sqrt(aspect),
    then padding) gives the same pixels-per-target scale and lets the crop be cached. Samples are
    kept inside the image (`valid`), so the region never needs to reach past it.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    cx, cy = x + w / 2.0, y + h / 2.0
    m = (w + h) / 2.0
    grow = opts.neg_scale * math.sqrt(opts.neg_aspect) * opts.padding / 2.0
    half_w = opts.neg_trans * m + grow * w
    half_h = opts.neg_trans * m + grow * h
    x1, x2 = max(cx - half_w, 0.0), min(cx + half_w, float(img_wh[0]))
    y1, y2 = max(cy - half_h, 0.0), min(cy + half_h, float(img_wh[1]))
    # The target itself (padded) must always be inside, even when it leaves the image.
    pad = xywh_to_x1y1x2y2(np.array([x - w * 0.1, y - h * 0.1, w * 1.2, h * 1.2]))
    x1, y1 = min(x1, pad[0]), min(y1, pad[1])
    x2, y2 = max(x2, pad[2]), max(y2, pad[3])
    return np.array([x1, y1, x2 - x1, y2 - y1])


def limit_scene(scene: np.ndarray, box_xywh, target_scale, max_side: int) -> np.ndarray:
    """Narrow the scene around the target so no crop side exceeds `max_side` px."""
    out = scene.copy()
    x, y, w, h = (float(v) for v in box_xywh)
    centre = (x + w / 2.0, y + h / 2.0)
    for axis in (0, 1):
        side_px = out[2 + axis] * target_scale[axis]
        if side_px > max_side:
            keep = max_side / target_scale[axis]
            lo = min(max(out[axis], centre[axis] - keep / 2.0), out[axis] + out[2 + axis] - keep)
            out[axis] = lo
            out[2 + axis] = keep
    return out


@dataclass
class FrameView:
    """One frame at one scale as the head sees it: a feature map and how to map boxes into it."""

    fmap: torch.Tensor  # (1, C, H, W) float
    scene: np.ndarray  # xywh image region that the crop covers
    target_wh: np.ndarray  # gt box size, image px
    img_size: float  # px the unpadded target spans in the crop (107 * jitter)


class FeatureSource:
    """Turns (domain, frame, jitter exponent) into a FrameView, running or caching the backbone.

    Only the `owned` domains (default: all) are read and cached: a distributed run's process
    serves the steps of its own shard, and caching the others would cost every process the
    whole dataset's backbone pass.
    """

    def __init__(
        self,
        net,
        domains: Sequence[Domain],
        opts: TrainOptions,
        run: RunOptions,
        device: torch.device,
        owned: Sequence[int] | None = None,
    ) -> None:
        self.net = net
        self.domains = domains
        self.opts = opts
        self.run = run
        self.device = device
        self.owned = list(range(len(domains))) if owned is None else [int(d) for d in owned]
        self.cached = run.backbone_mode == "frozen"
        self._cache: dict[tuple[int, int, int], tuple] = {}
        self._img_wh = {d: self._image_wh(domains[d]) for d in self.owned}

    @staticmethod
    def _image_wh(domain: Domain) -> tuple[int, int]:
        img = domain.image(0)
        return img.shape[1], img.shape[0]

    def frame_indices(self, d: int) -> np.ndarray:
        """Frames of domain d that steps may draw (all, or every n-th when caching)."""
        n = len(self.domains[d])
        stride = self.run.cache_frame_stride if self.cached else 1
        return np.arange(0, n, max(1, stride))

    def _geometry(self, d: int, f: int, scale: float):
        box = self.domains[d].boxes[f]
        opts = self.opts
        scene = context_scene_box(box, opts, self._img_wh[d])
        img_size = opts.img_size * scale
        target_scale = img_size / box[2:]
        scene = limit_scene(scene, box, target_scale, self.run.max_crop_side)
        out_w = max(int(math.floor(scene[2] * target_scale[0])), 2)
        out_h = max(int(math.floor(scene[3] * target_scale[1])), 2)
        return box, scene, img_size, (out_w, out_h)

    def _compute(self, d: int, f: int, scale: float, image: np.ndarray | None = None):
        box, scene, img_size, out_wh = self._geometry(d, f, scale)
        if image is None:
            image = self.domains[d].image(f)
        crop = crop_scene(image, scene, out_wh)
        fmap = self.net.feature_map(to_tensor(crop, self.device))
        return fmap, scene, np.asarray(box[2:], dtype=np.float64), img_size

    def build_cache(self, progress: Callable | None = None) -> None:
        """Run the frozen backbone once over every (cached frame, scale); reuse a disk copy."""
        if not self.cached:
            return
        path = self._cache_file()
        if path is not None and path.is_file():
            blob = safe_torch_load.load(path)
            self._cache = blob["entries"]
            LOG.info("feature cache loaded from %s (%d entries)", path, len(self._cache))
            return
        jobs = [(d, int(f)) for d in self.owned for f in self.frame_indices(d)]
        bar = progress(total=len(jobs), desc="feature cache") if progress else None
        with torch.no_grad():
            for d, f in jobs:
                image = self.domains[d].image(f)
                for e in self.run.cache_scales:
                    scale = self.opts.scale_jitter_base ** e
                    fmap, scene, twh, img_size = self._compute(d, f, scale, image)
                    self._cache[(d, f, e)] = (fmap.to("cpu", torch.float16), scene, twh, img_size)
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save({"key": self.cache_key(), "entries": self._cache}, tmp)
            os.replace(tmp, path)
            LOG.info("feature cache saved to %s", path)

    def cache_key(self) -> dict[str, Any]:
        """Everything the cached features depend on; a different key means a different file.

        A shard (distributed run) names its domains and their indices, which the entries are
        keyed by: the processes of one run then never write the same file, and a single-process
        run (every domain, indices implied) keeps the key, hence the file, it always had.
        """
        shard = self.owned != list(range(len(self.domains)))
        return {
            "backbone": self.opts.backbone,
            "pretrained": self.run.pretrained_backbone,
            "dense": self.run.dense,
            **({"cut": self.run.cut} if self.opts.backbone == "efficientnet_lite0" else {}),
            "domains": [(self.domains[d].name, len(self.domains[d])) for d in self.owned],
            **({"domain_indices": self.owned} if shard else {}),
            "scales": list(self.run.cache_scales),
            "stride": self.run.cache_frame_stride,
            "max_crop_side": self.run.max_crop_side,
            "img_size": self.opts.img_size,
            "padding": self.opts.padding,
            "neg": [self.opts.neg_trans, self.opts.neg_scale, self.opts.neg_aspect],
        }

    def _cache_file(self) -> Path | None:
        if not self.run.cache_dir:
            return None
        import hashlib

        digest = hashlib.sha1(json.dumps(self.cache_key(), sort_keys=True).encode()).hexdigest()
        return Path(self.run.cache_dir) / f"features-{digest[:12]}.pt"

    def view(self, d: int, f: int, rng: np.random.Generator) -> FrameView:
        """Frame f of domain d at a random jitter scale (reference 9)."""
        opts = self.opts
        if self.cached:
            probs = jitter_exponent_probs(opts, self.run.cache_scales)
            e = int(self.run.cache_scales[rng.choice(len(probs), p=probs)])
            fmap, scene, twh, img_size = self._cache[(d, f, e)]
            return FrameView(fmap.to(self.device, torch.float32), scene, twh, img_size)
        expo = float(np.clip(opts.scale_jitter_std * rng.standard_normal(),
                             -opts.scale_jitter_clip, opts.scale_jitter_clip))
        fmap, scene, twh, img_size = self._compute(d, f, opts.scale_jitter_base**expo)
        return FrameView(fmap, scene, twh, img_size)

    def image_wh(self, d: int) -> tuple[int, int]:
        """Frame size of domain d (all frames of a video share it)."""
        return self._img_wh[d]
