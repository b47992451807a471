# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Does SiameseRefiner (NanoTrack v3 head) fix perturbed boxes, and how fast is it?

For each sequence the template is the ground-truth box of the first frame; on evenly spaced later
frames (hidden-target frames skipped), the ground-truth box is perturbed: centre shifted by up to
+-20 % of its width/height, each side scaled by a factor in [0.7, 1.4] (independently, so the
aspect ratio changes too). ``refine()`` is run once on each perturbed box. Reported per sequence:
mean IoU with the truth before and after, median |log(area / true area)| before and after, the
same after with ``size_lr = 1`` (the head's own size, unsmoothed: checks the decode itself), the
share of calls the refiner accepted, the IoU of a refine started from the exact truth (should
stay high), and ms per call. Prints a Markdown table, the command line and the machine load.

    python bench/bench_refiner.py --frames 30 --perturbations 5 --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from rtmdnet_ros.sequences import (
    annotation_kinds,
    default_data_root,
    pixel_boxes,
    read_groundtruth,
)
from rtmdnet_ros.siamese_refiner import RefinerSettings, SiameseRefiner


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def log_area(a: np.ndarray, truth: np.ndarray) -> float:
    return abs(float(np.log(a[2] * a[3] / (truth[2] * truth[3]))))


def perturb(box: np.ndarray, rng: np.random.Generator, shift: float,
            scale: tuple[float, float]) -> np.ndarray:
    x, y, w, h = box
    cx = x + w / 2 + rng.uniform(-shift, shift) * w
    cy = y + h / 2 + rng.uniform(-shift, shift) * h
    nw, nh = w * rng.uniform(*scale), h * rng.uniform(*scale)
    return np.array([cx - nw / 2, cy - nh / 2, nw, nh])


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def run_sequence(refiner: SiameseRefiner, seq_dir: Path, annotation: str, frames: int,
                 perturbations: int, rng: np.random.Generator, shift: float,
                 scale: tuple[float, float]) -> dict[str, float]:
    truth = pixel_boxes(read_groundtruth(seq_dir), annotation)
    images = sorted((seq_dir / "img").glob("*.jpg"))
    valid = [k for k in range(len(truth)) if np.all(np.isfinite(truth[k])) and truth[k][2] > 0]
    first = valid[0]
    refiner.set_template(read_rgb(images[first]), truth[first])
    later = [k for k in valid if k > first]
    picks = [later[int(i)] for i in np.linspace(0, len(later) - 1, min(frames, len(later)))]
    stats: dict[str, list[float]] = {k: [] for k in (
        "iou0", "iou1", "iou_raw", "la0", "la1", "la_raw", "acc", "ms", "iou_gt")}
    for k in picks:
        image, gt = read_rgb(images[k]), truth[k]
        out, _, _ = refiner.refine(image, gt)
        stats["iou_gt"].append(iou(out, gt))
        for _ in range(perturbations):
            start = perturb(gt, rng, shift, scale)
            t0 = time.perf_counter()
            out, _, details = refiner.refine(image, start)
            stats["ms"].append(1000 * (time.perf_counter() - t0))
            raw = details["predicted"] if details["accepted"] else start
            stats["iou0"].append(iou(start, gt))
            stats["iou1"].append(iou(out, gt))
            stats["iou_raw"].append(iou(raw, gt))
            stats["la0"].append(log_area(start, gt))
            stats["la1"].append(log_area(out, gt))
            stats["la_raw"].append(log_area(raw, gt))
            stats["acc"].append(float(details["accepted"]))
    summary = {k: float(np.mean(v)) for k, v in stats.items() if not k.startswith("la")}
    summary.update({k: float(np.median(v)) for k, v in stats.items() if k.startswith("la")})
    summary["n"] = len(stats["iou0"])
    summary["ms_p50"] = float(np.median(stats["ms"]))
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", nargs="+",
                        default=["car1", "boat1", "person11", "group1_1", "truck4_1", "bag",
                                 "wakeboard4", "S0601", "building5", "Crossing"])
    parser.add_argument("--frames", type=int, default=30, help="frames per sequence")
    parser.add_argument("--perturbations", type=int, default=5, help="boxes per frame")
    parser.add_argument("--shift", type=float, default=0.2, help="max centre shift (x size)")
    parser.add_argument("--scale", type=float, nargs=2, default=(0.7, 1.4))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-shift", type=float, default=RefinerSettings.max_shift)
    parser.add_argument("--min-score", type=float, default=RefinerSettings.min_score)
    parser.add_argument("--model-dir", default=None)
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    load_before = os.getloadavg()
    root = default_data_root() / "sequences"
    kinds = annotation_kinds(root)
    refiner = SiameseRefiner(args.model_dir, RefinerSettings(max_shift=args.max_shift,
                                                             min_score=args.min_score))
    rng = np.random.default_rng(args.seed)
    rows = []
    for name in args.sequences:
        rows.append((name, run_sequence(refiner, root / name, kinds.get(name, ""), args.frames,
                                        args.perturbations, rng, args.shift,
                                        tuple(args.scale))))
    keys = ["n", "iou0", "iou1", "iou_raw", "la0", "la1", "la_raw", "acc", "iou_gt", "ms",
            "ms_p50"]
    total = {k: float(np.average([r[k] for _, r in rows], weights=[r["n"] for _, r in rows]))
             for k in keys}
    total["n"] = sum(r["n"] for _, r in rows)
    rows.append(("**all**", total))
    print("| sequence | n | IoU before | IoU after | IoU after (lr=1) | med abs log area before "
          "| after | after (lr=1) | accepted | IoU from truth | ms/call mean | p50 |")
    print("|---|" + "---:|" * 11)
    for name, r in rows:
        print(f"| {name} | {r['n']:.0f} | {r['iou0']:.3f} | {r['iou1']:.3f} | {r['iou_raw']:.3f} "
              f"| {r['la0']:.3f} | {r['la1']:.3f} | {r['la_raw']:.3f} | {r['acc']:.2f} "
              f"| {r['iou_gt']:.3f} | {r['ms']:.1f} | {r['ms_p50']:.1f} |")
    print("(all: medians of log area are n-weighted means of per-sequence medians)")
    print(f"\ncommand: python {' '.join(sys.argv)}")
    print(f"OpenCV {cv2.__version__}, {args.threads} threads, {os.cpu_count()} CPUs; "
          f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
