#!/usr/bin/env python3
# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Overhead of rtmdnet-bag over the tracker alone, and its memory against the bag's length.

1. Writes the first --frames frames of a shared sequence as a bag (raw bgr8 or JPEG, MCAP or
   SQLite3) with rosbags.
2. Tracker alone: the same frames, already decoded in memory, through Tracker.init/update.
3. The bag path (run_bag: read, deserialise, convert, track, write the output bag with the input
   copied + CSV): wall time, and the share spent outside the tracker in the same run.
4. The bag path with a stand-in tracker (answers at once), so decode + write is measured alone:
   per-frame cost against the tracker's per-frame cost is the overhead least disturbed by load.
5. Memory: peak RSS of the bag path (stand-in tracker, each length in its own process) for
   bags of --lengths frames (the sequence's frames repeated): flat = streamed, not loaded.

    .venv/bin/python bench/bench_bag.py --frames 30 --lengths 50,400
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

from rtmdnet_ros.bag.sequence_bag import read_sequence_frames, write_frames_bag
from rtmdnet_ros.bag.tool import BagRunOptions, run_bag
from rtmdnet_ros.sequences import default_data_root, parse_groundtruth

TOPIC = "/camera/image_raw"


class StandIn:
    """Answers init/update at once, so the bag path is timed without tracking."""

    device = "stand-in"

    def __init__(self) -> None:
        self.box = np.zeros(4)

    def init(self, image, box) -> None:
        self.box = np.asarray(box, dtype=np.float64)

    def update(self, image):
        # Not the real TrackResult: importing the tracker would bring torch into the memory
        # check's baseline.
        return SimpleNamespace(box_xywh=self.box.copy(), score=2.0, success=True)


def load(sequence: str, count: int) -> tuple[list[np.ndarray], tuple[float, ...]]:
    folder = default_data_root() / "sequences" / sequence
    if not folder.is_dir():
        sys.exit(f"bench_bag: sequence folder {folder} not found (set RTMDNET_DATA)")
    frames = read_sequence_frames(folder, count)
    box = tuple(float(v) for v in
                parse_groundtruth((folder / "groundtruth_rect.txt").read_text())[0])
    return frames, box


def write_bag(path: Path, frames: list[np.ndarray], args) -> None:
    topic = TOPIC + "/compressed" if args.compressed else TOPIC
    write_frames_bag(path, frames, topic=topic, storage=args.storage, compressed=args.compressed)


def options_for(bag: Path, box, out: Path, args) -> BagRunOptions:
    topic = TOPIC + "/compressed" if args.compressed else TOPIC
    return BagRunOptions(bag=bag, topic=topic, box=tuple(box), out_bag=out / "out",
                         csv=out / "out.csv", overwrite=True)


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_memory(args) -> None:
    """Run the bag path once in this process; print frames, RSS before, peak RSS during (MiB).

    The peak is reset after the imports (``/proc/self/clear_refs``), so it is the bag path's own.
    """
    _, box = load(args.sequence, 1)
    bag = Path(args.child_bag)
    before = _status_mib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    summary = run_bag(options_for(bag, box, bag.parent / "out", args), StandIn)
    peak = _status_mib("VmHWM")
    print(f"{summary.frames} {before:.1f} {peak:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequence", default="bag")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.add_argument("--compressed", action="store_true")
    parser.add_argument("--lengths", default="50,400", help="bag lengths for the memory check")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--skip-tracker", action="store_true", help="stand-in and memory only")
    parser.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-bag", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory:
        child_memory(args)
        return
    import torch

    from rtmdnet_ros.options import parse_overrides

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {"update_mode": "sync", **parse_overrides(args.set)}
    frames, box = load(args.sequence, args.frames)
    n = len(frames)
    print(f"sequence {args.sequence}: {n} frames {frames[0].shape[1]}x{frames[0].shape[0]}, "
          f"{'JPEG' if args.compressed else 'raw bgr8'}, {args.storage}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        bag = tmp_path / "in"
        write_bag(bag, frames, args)
        if args.compressed:
            rgb = [cv2.cvtColor(cv2.imdecode(cv2.imencode(".jpg", f)[1], cv2.IMREAD_COLOR),
                                cv2.COLOR_BGR2RGB) for f in frames]
        else:
            rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]

        started = time.perf_counter()
        run_bag(options_for(bag, box, tmp_path, args), StandIn)
        stand_in_s = time.perf_counter() - started
        per_frame_io = stand_in_s / n
        print(f"bag path, stand-in tracker: {stand_in_s:.3f} s for {n} frames = "
              f"{per_frame_io * 1000:.1f} ms/frame (read + deserialise + convert + write "
              f"output bag with input copied + CSV)")

        if not args.skip_tracker:
            from rtmdnet_ros.tracker import Tracker

            tracker = Tracker(seed=0, overrides=overrides)
            started = time.perf_counter()
            tracker.init(rgb[0], box)
            init_s = time.perf_counter() - started
            for image in rgb[1:]:
                tracker.update(image)
            alone_s = time.perf_counter() - started
            update_ms = (alone_s - init_s) / max(n - 1, 1) * 1000
            tracker.close()
            print(f"tracker alone: {alone_s:.2f} s (init {init_s:.2f} s, update "
                  f"{update_ms:.0f} ms/frame)")

            summary = run_bag(options_for(bag, box, tmp_path, args),
                              lambda: Tracker(seed=0, overrides=overrides))
            outside = summary.wall_s - summary.tracker_s
            print(f"bag path, real tracker: {summary.wall_s:.2f} s wall, {summary.tracker_s:.2f}"
                  f" s in the tracker, {outside:.2f} s outside it (model load included)")
            print(f"overhead, same run (outside / inside tracker): "
                  f"{outside / summary.tracker_s * 100:.1f} %")
            print(f"overhead, bag wall vs tracker alone: "
                  f"{(summary.wall_s - alone_s) / alone_s * 100:+.1f} % (load-sensitive)")
            print(f"overhead, decode+write (stand-in) per frame vs tracker per frame: "
                  f"{per_frame_io / (alone_s / n) * 100:.1f} % (init amortised over {n}), "
                  f"{per_frame_io * 1000 / update_ms * 100:.1f} % (vs update alone)")

    print("memory (stand-in tracker, one process per bag): frames, bag size, peak RSS")
    for length in (int(v) for v in args.lengths.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            bag = Path(tmp) / "in"
            write_bag(bag, [frames[i % n] for i in range(length)], args)
            (Path(tmp) / "out").mkdir()
            size = sum(f.stat().st_size for f in bag.iterdir()) / 2**20
            cmd = [sys.executable, __file__, "--child-memory", "--child-bag", str(bag),
                   "--sequence", args.sequence, "--storage", args.storage]
            if args.compressed:
                cmd.append("--compressed")
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
        print(f"  {out[0]} frames, bag {size:.0f} MiB: RSS {out[1]} MiB before the bag path, "
              f"peak {out[2]} MiB during it")


if __name__ == "__main__":
    main()
