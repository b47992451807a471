# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The forward of one domain-step: samples around each frame's box, their RoI features, losses.

Kept apart from the loop so that what one step computes (the paper's binary + instance loss)
can be read, and tested on fixed samples, without the accumulation, DDP and checkpoint logic
around it. Every random draw comes from the generator passed in, in a fixed order, so a seeded
run draws the same samples whatever calls it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..geometry import samples_to_rois
from ..options import TrainOptions
from ..sampling import SampleGenerator, gen_samples
from .data import Domain
from .feature_source import FeatureSource
from .losses import binary_loss, instance_loss, pick_instance_branches


def inside_scene(samples: np.ndarray, scene: np.ndarray, padding: float) -> np.ndarray:
    """Mask the samples whose padded box lies in the scene region (1 px tolerance)."""
    c = samples.copy()
    margin = c[:, 2:] * (padding - 1.0) / 2.0
    x1 = c[:, 0] - margin[:, 0]
    y1 = c[:, 1] - margin[:, 1]
    x2 = c[:, 0] + c[:, 2] + margin[:, 0]
    y2 = c[:, 1] + c[:, 3] + margin[:, 1]
    return (
        (x1 >= scene[0] - 1) & (y1 >= scene[1] - 1)
        & (x2 <= scene[0] + scene[2] + 1) & (y2 <= scene[1] + scene[3] + 1)
    )


class DomainStep:
    """Losses of one domain on a few of its frames, for the network being trained."""

    def __init__(self, net: torch.nn.Module, domains: Sequence[Domain], source: FeatureSource,
                 opts: TrainOptions, rf_offset: float, device: torch.device) -> None:
        self.net = net
        self.domains = domains
        self.source = source
        self.opts = opts
        self.rf_offset = float(rf_offset)
        self.device = device

    def samples(self, d: int, box: np.ndarray, rng: np.random.Generator):
        """Positive and negative boxes around ``box`` (reference IoU ranges), inside the image."""
        o = self.opts
        img_wh = self.source.image_wh(d)
        pos_gen = SampleGenerator("gaussian", img_wh, o.pos_trans, o.pos_scale, o.pos_aspect,
                                  valid=True)
        neg_gen = SampleGenerator("uniform", img_wh, o.neg_trans, o.neg_scale, o.neg_aspect,
                                  valid=True)
        pos = gen_samples(pos_gen, box, o.n_pos, rng, iou_range=(o.pos_iou, 1.0))
        neg = gen_samples(neg_gen, box, o.n_neg, rng, iou_range=(0.0, o.neg_iou))
        return pos, neg

    def features(self, d: int, frames: Sequence[int], rng: np.random.Generator):
        """RoI features of the positive and the negative samples of every frame."""
        pos_feats, neg_feats = [], []
        for f in frames:
            view = self.source.view(d, int(f), rng)
            box = self.domains[d].boxes[int(f)]
            pos, neg = self.samples(d, box, rng)
            pos = pos[inside_scene(pos, view.scene, self.opts.padding)]
            neg = neg[inside_scene(neg, view.scene, self.opts.padding)]
            both = np.concatenate([pos, neg], axis=0)
            if len(both) == 0:
                continue
            rois = samples_to_rois(both, view.scene[:2], view.target_wh, view.img_size,
                                   self.opts.padding, self.rf_offset)
            rois = np.concatenate([np.zeros((len(rois), 1)), rois], axis=1)
            feats = self.net.pool_rois(
                view.fmap, torch.as_tensor(rois, dtype=torch.float32, device=self.device)
            )
            pos_feats.append(feats[: len(pos)])
            neg_feats.append(feats[len(pos):])
        return torch.cat(pos_feats), torch.cat(neg_feats)

    def losses(self, d: int, frames: np.ndarray,
               rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """Binary loss + alpha * instance loss, and the logits they came from."""
        pos_feats, neg_feats = self.features(d, frames, rng)
        n_pos = len(pos_feats)
        hidden = self.net.shared_head(torch.cat([pos_feats, neg_feats]))
        logits = self.net.fc6[d](hidden)
        pos_logits, neg_logits = logits[:n_pos], logits[n_pos:]
        cls = binary_loss(pos_logits, neg_logits)
        inst = torch.zeros((), device=self.device)
        if self.opts.instance_alpha > 0 and len(self.domains) > 1 and n_pos:
            branches = pick_instance_branches(d, len(self.domains), self.opts.instance_max_other,
                                              rng)
            cols = [pos_logits[:, 1]] + [self.net.fc6[b](hidden[:n_pos])[:, 1]
                                         for b in branches[1:]]
            inst = instance_loss(torch.stack(cols, dim=1), 0)
        loss = cls + self.opts.instance_alpha * inst
        return {"loss": loss, "cls": cls, "inst": inst,
                "pos_logits": pos_logits, "neg_logits": neg_logits}
