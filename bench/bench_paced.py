# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker at a camera's pace, in one process: verification aside against in sequence.

Why beside ``bench_graph.py``: the graph's figures mix the tracker with transport, conversion
and whatever else the machine runs; this one feeds ``Tracker.update`` the frames of a sequence
(640x480, as the graph's camera sends them) at ``--rate`` Hz, always the newest frame sent, as
the node's worker takes it, and counts the frames sent while ``update`` was still running (the
node would drop them), with ``update``'s wall time per frame. Both variants run back to back in
one process, with the node's update mode (``async``); each prints one line.

Run: ``.venv/bin/python bench/bench_paced.py [--sequence boat1] [--rate 30] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_graph import prepare  # noqa: E402


def paced_run(frames: list[np.ndarray], box: np.ndarray, rate: float, aside: bool,
              seed: int) -> str:
    """Track the frames at ``rate`` Hz; one line of figures."""
    from rtmdnet_ros.tracker import Tracker

    tracker = Tracker(seed=seed, device="cpu", overrides={"composite_verify_aside": aside,
                                                          "update_mode": "async"})
    tracker.init(frames[0], box)
    period = 1.0 / rate
    start = time.perf_counter()  # frame i is sent at start + i * period
    index = 0
    ms = []
    while True:
        # The newest frame sent by now, or the next one: the node's worker takes the newest.
        newest = int((time.perf_counter() - start) / period)
        index = max(index + 1, newest)
        if index >= len(frames):
            break
        wait = start + index * period - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        began = time.perf_counter()
        tracker.update(frames[index])
        ms.append((time.perf_counter() - began) * 1000.0)
    missed = len(frames) - 1 - len(ms)
    c = tracker.counters
    tracker.close()
    wall = np.array(ms)
    verified = sum(n for k, n in c.items() if k.startswith("verify_"))
    line = (f"{'aside      ' if aside else 'in sequence'}: update p50 "
            f"{np.percentile(wall, 50):.1f} / p95 {np.percentile(wall, 95):.1f} / max "
            f"{wall.max():.1f} ms; missed {missed} of {len(frames) - 1} frames; "
            f"{verified} verifications")
    if aside:
        verdicts = max(c.get("aside_verdicts", 0), 1)
        line += (f", {c.get('aside_busy', 0)} frames found the worker busy, verdicts "
                 f"{c.get('aside_lag_frames', 0) / verdicts:.1f} frames late on average")
    return line


def main(argv: list[str] | None = None) -> int:
    """Run both variants ``--rounds`` times, alternating."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequence", default="boat1")
    parser.add_argument("--frames", type=int, default=0, help="at most this many frames")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from rtmdnet_ros.sequences import default_data_root

    folder = default_data_root() / "sequences" / args.sequence
    if not folder.is_dir():
        print(f"bench_paced: sequence folder not found: {folder} (set RTMDNET_DATA)",
              file=sys.stderr)
        return 1
    bgr, gt = prepare(folder, args.frames)
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in bgr]
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"{args.sequence} at 640x480, {args.rate:g} Hz, {len(frames) - 1} frames after the "
          f"init; load before {load}", flush=True)
    for _ in range(args.rounds):
        for aside in (True, False):
            print(paced_run(frames, gt[0], args.rate, aside, args.seed), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
