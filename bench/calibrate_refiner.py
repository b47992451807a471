# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Fit the refiner's size calibration (TrackerOptions.refiner.size_calibration) on training videos.

The Siamese head's boxes follow its own training data's box style. Refined from the true box on
every sixth frame of each training video (template from the first frame), the median log ratio
of its predicted width and height to the true ones, then the median over videos, gives the
factors exp(-median) that make it agree with our benchmarks' boxes. Training split only.

    python bench/calibrate_refiner.py [--sequences a b c]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from rtmdnet_ros.sequences import default_data_root, read_groundtruth
from rtmdnet_ros.siamese_refiner import SiameseRefiner
from rtmdnet_ros.split import TRAIN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", nargs="+", default=list(TRAIN))
    parser.add_argument("--every", type=int, default=6, help="frame step")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    refiner = SiameseRefiner()
    per_video = []
    print("| sequence | frames | median log w | median log h | median log area |")
    print("|---|---:|---:|---:|---:|")
    for name in args.sequences:
        folder = default_data_root() / "sequences" / name
        gt = read_groundtruth(folder)

        def image(i: int, folder=folder) -> np.ndarray:
            bgr = cv2.imread(str(folder / "img" / f"{i + 1:04d}.jpg"))
            return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

        refiner.set_template(image(0), gt[0])
        logs = []
        for i in range(5, len(gt), args.every):
            if not np.all(np.isfinite(gt[i])):
                continue
            _, _, details = refiner.refine(image(i), gt[i])
            if details["accepted"]:
                pred = details["predicted"]
                logs.append(np.log(pred[2:] / gt[i][2:]))
        w, h = np.median(np.array(logs), axis=0)
        per_video.append((w, h))
        print(f"| {name} | {len(logs)} | {w:+.3f} | {h:+.3f} | {w + h:+.3f} |")
    w, h = np.median(np.array(per_video), axis=0)
    print(f"\nmedian over videos: log w {w:+.3f}, log h {h:+.3f} -> "
          f"refiner_size_calibration = ({np.exp(-w):.2f}, {np.exp(-h):.2f})")


if __name__ == "__main__":
    main()
