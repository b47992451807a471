# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The first frame's training samples (reference 5): around the box, and from extra crops.

The classifier learns its target from one frame, so that frame is sampled far more densely than
any later one: positives and negatives around the box (plus the box regressor's samples), and,
as the authors do, extra crops of the target at jittered scales and shifts.
"""

from __future__ import annotations

import numpy as np
import torch

from .crop import crop_scene
from .features import FeatureExtractor
from .options import RTMDNetOptions
from .sampling import SampleGenerator, gen_samples
from .track_types import Meter

AUGMENTATION_BATCH = 25  # crops per backbone call: bounds the memory of one batch


def draw_samples(target: np.ndarray, img_wh: tuple[int, int], r: RTMDNetOptions,
                 rng: np.random.Generator, with_bbreg: bool) -> list[np.ndarray]:
    """Positives, negatives and (``with_bbreg``) the regressor's samples around the box.

    Raises ValueError when no positive or no negative fits in the image.
    """
    pos = gen_samples(
        SampleGenerator("gaussian", img_wh, r.init_pos_trans, r.init_pos_scale,
                        min_size=r.min_box_size),
        target, r.n_pos_init, rng, (r.init_pos_iou, 1.0),
    )
    neg = gen_samples(
        SampleGenerator("uniform", img_wh, r.init_neg_trans, r.init_neg_scale,
                        r.init_neg_aspect, min_size=r.min_box_size),
        target, r.n_neg_init, rng, (0.0, r.init_neg_iou),
    )
    sets = [pos, neg]
    if with_bbreg:
        sets.append(gen_samples(
            SampleGenerator("uniform", img_wh, r.bbreg_trans, r.bbreg_scale, r.bbreg_aspect,
                            min_size=r.min_box_size),
            target, r.n_bbreg, rng, (r.bbreg_iou, 1.0), r.bbreg_area,
        ))
    if len(pos) == 0 or len(neg) == 0:
        w, h = img_wh
        raise ValueError(
            f"cannot draw training samples around box {target.tolist()} in a {w}x{h} image"
        )
    return sets


def augmentation_features(
    features: FeatureExtractor, image: np.ndarray, target: np.ndarray, r: RTMDNetOptions,
    rng: np.random.Generator, meter: Meter,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
    """Pool features from the authors' extra first-frame crops (reference 5), batched.

    Each crop is centred on the target (shifted a few px), target * context * base^k in size
    and rendered at a fixed size; pos/neg/bbreg samples are pooled from it. Returns positive,
    negative and regression features, and the regression samples' boxes.
    """
    h, w = image.shape[:2]
    img_wh = (w, h)
    size = r.aug_crop_size
    crops, pos_r, neg_r, bb_r, bb_boxes = [], [], [], [], []
    centre = target[:2] + target[2:] / 2.0
    pos_gen = SampleGenerator("gaussian", img_wh, r.init_pos_trans, r.init_pos_scale,
                              min_size=r.min_box_size)
    neg_gen = SampleGenerator("uniform", img_wh, r.aug_neg_trans, r.aug_neg_scale,
                              r.aug_neg_aspect, min_size=r.min_box_size)
    bb_gen = SampleGenerator("uniform", img_wh, r.bbreg_trans, r.bbreg_scale, r.bbreg_aspect,
                             min_size=r.min_box_size)
    for i in range(r.aug_crops):
        k = np.clip(rng.standard_normal(), -r.aug_scale_clip, r.aug_scale_clip)
        shift = np.clip(r.aug_shift_std * rng.standard_normal(2),
                        -r.aug_shift_clip, r.aug_shift_clip)
        wh = target[2:] * r.aug_context * r.aug_scale_base**k
        box = np.concatenate([centre + shift - wh / 2.0, wh])
        with meter.timed("crop"):
            crops.append(crop_scene(image, box, (size, size)))

        def rois_of(samples, box=box, wh=wh, i=i):
            rois = features.rois(samples, box[:2], wh, size)
            return np.concatenate([np.full((len(rois), 1), i), rois], axis=1)

        pos_r.append(rois_of(gen_samples(pos_gen, target, r.aug_pos_per_crop, rng,
                                         (r.init_pos_iou, 1.0))))
        neg_r.append(rois_of(gen_samples(neg_gen, target, r.aug_neg_per_crop, rng,
                                         (0.0, r.aug_neg_iou))))
        if r.bbox_regression:
            bb = gen_samples(bb_gen, target, r.aug_bbreg_per_crop, rng, (r.bbreg_iou, 1.0),
                             r.bbreg_area)
            bb_r.append(rois_of(bb))
            bb_boxes.append(bb)
    pos_l, neg_l, bb_l = [], [], []
    for b0 in range(0, len(crops), AUGMENTATION_BATCH):
        fmap = features.backbone_map(crops[b0 : b0 + AUGMENTATION_BATCH])
        for src, dst in ((pos_r, pos_l), (neg_r, neg_l), (bb_r, bb_l)):
            if not src:
                continue
            rois = np.concatenate(src[b0 : b0 + AUGMENTATION_BATCH])
            rois[:, 0] -= b0
            dst.append(features.pool(fmap, rois[:, 1:], rois[:, 0]))
    bb_all = np.concatenate(bb_boxes) if bb_boxes else np.zeros((0, 4))
    return (
        torch.cat(pos_l) if pos_l else features.empty(),
        torch.cat(neg_l) if neg_l else features.empty(),
        torch.cat(bb_l) if bb_l else features.empty(),
        bb_all,
    )
