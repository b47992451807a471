# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Offline box regression: one ridge regressor on RoI features, fitted across training domains.

RT-MDNet fits its box regressor on the first frame only (reference 8): 1000 samples of one
appearance, with sample areas of 1-2x the target, so it learns to shrink boxes and nothing about
how the target looks later. Fitted here across every training video, at the geometry the tracker
sees (a scene crop scaled by a slightly wrong size estimate, candidates drawn around it), the
regressor is unbiased in scale, and the tracker can use it as is or as the prior of its
first-frame fit (``TrackerOptions.rtmdnet.bbreg_source``).

    python -m rtmdnet_ros.training.box_regression --model MODEL.pt --out OUT.pt [--mirror]

Writes a copy of the model file with the regressor added (``ModelFile.bbox_regressor``) and
prints the held-out quality per domain (leave-one-domain-out) for each ridge alpha tried.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import model_file as mf
from ..bbox_regression import BBoxRegressor, apply_deltas, regression_targets
from ..crop import crop_scene, to_tensor
from ..geometry import crop_size, iou, samples_to_rois, scene_box
from ..options import TrackerOptions
from ..sampling import SampleGenerator, gen_samples
from .data import TRAIN_SEQUENCES, Domain, load_domains

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleRecipe:
    """How training examples for the regressor are drawn (the tracker's geometry, symmetric)."""

    frame_stride: int = 4  # every n-th frame of each video
    # Size error of the tracker's estimate that sets the crop scale: 1.1^U(-2, 2), both ways.
    estimate_scale_base: float = 1.1
    estimate_scale_range: float = 2.0
    estimate_shift: float = 0.15  # centre error of the estimate, x mean(w, h), gaussian
    samples_per_frame: int = 32
    # Regression samples: reference 4's generator (uniform 0.3 / 1.5 / 1.1, IoU >= 0.6) but with
    # areas of 0.5-2x the target, so shrinking and growing are learnt alike.
    trans: float = 0.3
    scale: float = 1.5
    aspect: float = 1.1
    min_iou: float = 0.6
    area: tuple[float, float] = (0.5, 2.0)


def collect(
    net,
    domains: list[Domain],
    options: TrackerOptions,
    recipe: SampleRecipe,
    rng: np.random.Generator,
    device: torch.device,
) -> list[tuple[torch.Tensor, np.ndarray, np.ndarray]]:
    """Per domain: RoI features, their sample boxes and the ground-truth box of each sample."""
    out = []
    o, geo = options.rtmdnet, options.network  # the tracker's candidates and crop geometry
    for domain in domains:
        feats, boxes, gts = [], [], []
        for f in range(0, len(domain), recipe.frame_stride):
            image = domain.image(f)
            img_wh = (image.shape[1], image.shape[0])
            gt = domain.boxes[f]
            centre = gt[:2] + gt[2:] / 2.0
            size = gt[2:] * recipe.estimate_scale_base ** rng.uniform(
                -recipe.estimate_scale_range, recipe.estimate_scale_range
            )
            centre = centre + recipe.estimate_shift * gt[2:].mean() * rng.standard_normal(2)
            estimate = np.concatenate([centre - size / 2.0, size])
            candidates = SampleGenerator("gaussian", img_wh, o.cand_trans, o.cand_scale,
                                         valid=True, min_size=o.min_box_size)(
                estimate, o.n_candidates, rng)
            samples = gen_samples(
                SampleGenerator("uniform", img_wh, recipe.trans, recipe.scale, recipe.aspect,
                                min_size=o.min_box_size),
                gt, recipe.samples_per_frame, rng, (recipe.min_iou, 1.0), recipe.area,
            )
            if len(samples) == 0:
                continue
            scene = scene_box(np.concatenate([candidates, samples]), geo.padding)
            crop = crop_scene(image, scene, crop_size(scene[2:], size, geo.img_size))
            rois = samples_to_rois(samples, scene[:2], size, geo.img_size, geo.padding,
                                   net.rf_offset)
            with torch.no_grad():
                fmap = net.feature_map(to_tensor(crop, device))
                r = torch.as_tensor(np.concatenate([np.zeros((len(rois), 1)), rois], axis=1),
                                    dtype=torch.float32, device=device)
                feats.append(net.pool_rois(fmap, r).cpu())
            boxes.append(samples)
            gts.append(np.tile(gt, (len(samples), 1)))
        out.append((torch.cat(feats), np.concatenate(boxes), np.concatenate(gts)))
        LOG.info("%s: %d regression samples", domain.name, len(out[-1][1]))
    return out


def quality(reg: BBoxRegressor, feats, boxes, gts) -> tuple[float, float, float]:
    """(mean IoU before, after, median |log area ratio| after) of regressed samples."""
    pred = apply_deltas(boxes, reg.predict_deltas(feats))
    area = np.log(pred[:, 2] * pred[:, 3] / (gts[:, 2] * gts[:, 3]))
    return (float(iou(boxes, gts).mean()), float(iou(pred, gts).mean()),
            float(np.median(np.abs(area))))


def fit(data, alpha: float) -> BBoxRegressor:
    """One ridge regressor on the union of the domains' samples."""
    reg = BBoxRegressor(alpha)
    feats = torch.cat([d[0] for d in data])
    targets = np.concatenate([regression_targets(d[1], d[2]) for d in data])
    reg.fit_targets(feats, targets)
    return reg


def cross_validate(data, names: list[str], alphas: list[float]) -> dict[float, float]:
    """Leave-one-domain-out mean IoU after regression, per alpha; prints the table."""
    scores: dict[float, float] = {}
    print("| alpha | " + " | ".join(names) + " | mean IoU | median abs log area |")
    print("|---:|" + "---:|" * (len(names) + 2))
    before = [float(iou(d[1], d[2]).mean()) for d in data]
    print("| (unregressed) | " + " | ".join(f"{b:.3f}" for b in before)
          + f" | {np.mean(before):.3f} | |")
    for alpha in alphas:
        res = []
        for i in range(len(data)):
            reg = fit([d for j, d in enumerate(data) if j != i], alpha)
            res.append(quality(reg, *data[i]))
        scores[alpha] = float(np.mean([r[1] for r in res]))
        print(f"| {alpha:g} | " + " | ".join(f"{r[1]:.3f}" for r in res)
              + f" | {scores[alpha]:.3f} | {np.mean([r[2] for r in res]):.3f} |")
    return scores


def main(argv: list[str] | None = None) -> int:
    """Command line: fit, cross-validate alpha, write the model with its regressor."""
    p = argparse.ArgumentParser(prog="rtmdnet-bbreg", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="model file to add the regressor to")
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument("--sequences", default=",".join(TRAIN_SEQUENCES),
                   help="training sequences (comma-separated; evaluation ones are refused)")
    p.add_argument("--mirror", action="store_true", help="also the mirrored videos")
    p.add_argument("--alphas", default="100,1000,10000,100000")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", help="data root (default $RTMDNET_DATA or ../shared/data)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        torch.set_num_threads(args.threads)
        device = torch.device("cpu")
        model = mf.load_model(args.model, device)
        net = mf.build_network(model, device).eval()
        options = TrackerOptions.from_dict(model.tracker_options, strict=False)
        domains = load_domains(args.sequences.split(","),
                               Path(args.data) if args.data else None, mirror=args.mirror)
        alphas = [float(a) for a in args.alphas.split(",")]
    except (OSError, ValueError) as exc:
        print(f"rtmdnet-bbreg: {exc}", file=sys.stderr)
        return 2
    recipe = SampleRecipe()
    start = time.perf_counter()
    data = collect(net, domains, options, recipe, np.random.default_rng(args.seed), device)
    LOG.info("features of %d samples in %.0f s", sum(len(d[1]) for d in data),
             time.perf_counter() - start)
    scores = cross_validate(data, [d.name for d in domains], alphas)
    best = max(scores, key=scores.get)
    reg = fit(data, best)
    print(f"alpha {best:g} chosen (held-out mean IoU {scores[best]:.3f})")
    recipe_out = dict(model.recipe)
    recipe_out["bbox_regressor"] = {
        "command": " ".join(sys.argv),
        "domains": [d.name for d in domains],
        "alpha": best,
        "samples": dataclasses.asdict(recipe),
        "seed": args.seed,
        "held_out_mean_iou": scores,
    }
    out = Path(args.out)
    net_out = mf.build_network(model, device)
    mf.save_model(out, net_out, recipe=recipe_out, tracker_options=model.tracker_options,
                  bbox_regressor={"weight": reg.weight, "bias": reg.bias})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
