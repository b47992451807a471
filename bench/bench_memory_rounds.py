# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""RSS of the node's tracker over repeated tracks, in one process and without ROS.

Why: the node's soak (``bench_soak.py``) shows RSS growing for a few minutes and then flat; this
takes the node's graph, transport and frame cache away to see how much of that the tracker
itself does. The tracker is built like the node builds it (``config/tracker.yaml``'s options,
the node's malloc settings from ``node/allocator.py``), initialised on the first frame of a
sequence resized to 640x480 and run over ``--frames`` frames, ``--rounds`` times. Printed per
round: RSS, seconds, and how many different input sizes RT-MDNet's backbone has been fed so far
(onnxruntime's memory arena keeps the largest working set of any of them).

Run: ``.venv/bin/python bench/bench_memory_rounds.py [--sequence boat1] [--frames 300]
[--rounds 6] [--keep-backbone-memory]``.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rtmdnet_ros import backbone_runtime  # noqa: E402
from rtmdnet_ros.node.allocator import limit_allocator_growth  # noqa: E402
from rtmdnet_ros.node.parameters import tracker_option_overrides  # noqa: E402
from rtmdnet_ros.sequences import default_data_root, load_sequence  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402

SIZE = (640, 480)


def rss_mb() -> float:
    """This process's resident set, MB (Linux)."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


def count_backbone_sizes() -> Counter:
    """Count the input sizes RT-MDNet's backbone session is fed (wraps its call)."""
    sizes: Counter = Counter()
    call = backbone_runtime.OnnxFeatureMap.__call__

    def counted(self, images: np.ndarray):
        sizes[tuple(np.shape(images))] += 1
        return call(self, images)

    backbone_runtime.OnnxFeatureMap.__call__ = counted
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequence", default="boat1")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--keep-backbone-memory", action="store_true",
                        help="release_backbone_memory false (the node's default is true)")
    args = parser.parse_args()
    print("malloc settings:", limit_allocator_growth())
    params = yaml.safe_load((REPO / "config" / "tracker.yaml").read_text())
    values = params["/**/rtmdnet_tracker"]["ros__parameters"]
    sequence = load_sequence(default_data_root() / "sequences" / args.sequence)
    frames, first = [], None
    for path in sequence.frame_paths[: args.frames]:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        scale = np.array([SIZE[0] / image.shape[1], SIZE[1] / image.shape[0]] * 2)
        first = sequence.groundtruth[0] * scale if first is None else first
        frames.append(cv2.resize(image, SIZE))
    sizes = count_backbone_sizes()
    print(f"{len(frames)} frames loaded: RSS {rss_mb():.0f} MB")
    overrides = tracker_option_overrides(values)
    if args.keep_backbone_memory:
        overrides["release_backbone_memory"] = False
    tracker = Tracker(seed=0, overrides=overrides)
    print("release_backbone_memory:", tracker.options.execution.release_backbone_memory)
    print(f"tracker built: RSS {rss_mb():.0f} MB")
    start = time.perf_counter()
    for round_ in range(args.rounds):
        tracker.init(frames[0], first)
        for frame in frames[1:]:
            tracker.update(frame)
        print(f"round {round_}: RSS {rss_mb():.0f} MB, {time.perf_counter() - start:.1f} s, "
              f"{len(sizes)} backbone input sizes so far", flush=True)
    tracker.close()
    print("most fed sizes:", sizes.most_common(5))


if __name__ == "__main__":
    main()
