# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Speed and memory of the tracker core on CPU, per backbone and runtime, with OpenCV CSRT.

Each backbone runs in its own child process so its peak RSS is its own (it holds one tracker per
backbone runtime, ``--runtimes``). Inside the child every sequence is tracked by each runtime in
turn (the order alternating from one sequence to the next), then by CSRT on the same decoded
frames, so the runtimes' per-stage times and the FPS ratio compare like with like on a shared
machine whose load changes from minute to minute.
Frames are decoded before timing; FPS excludes the first frame of every sequence (the first
frame's time is reported separately). Prints a Markdown table and the command that produced it.

    python bench/bench_tracker.py --max-frames 60 --threads 1 --runtimes torch onnxruntime
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from rtmdnet_ros.options import RUNTIMES, parse_overrides
from rtmdnet_ros.sequences import default_data_root, read_groundtruth
from rtmdnet_ros.split import DEV

REPO = Path(__file__).resolve().parents[1]
STAGES = ("crop", "backbone", "roi", "head", "bbreg", "refine", "update")
DEFAULT_SEQUENCES = DEV


def load_sequence(name: str, max_frames: int | None) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames as RGB uint8 (the core's colour order) and the ground-truth xywh boxes."""
    folder = default_data_root() / "sequences" / name
    files = sorted((folder / "img").glob("*.jpg"))
    gt = read_groundtruth(folder)
    n = min(len(files), len(gt), max_frames or len(files))
    frames = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files[:n]]
    return frames, gt[:n]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def track_sequence(tracker, frames: list[np.ndarray], gt: np.ndarray, acc: dict) -> None:
    """Track one sequence and add its figures to ``acc`` (one runtime's accumulator)."""
    t0 = time.perf_counter()
    tracker.init(frames[0], gt[0])
    acc["init_times"].append(time.perf_counter() - t0)
    before = dict(tracker.timings)
    c_before = dict(tracker.counters)
    t0 = time.perf_counter()
    for frame, box in zip(frames[1:], gt[1:], strict=True):
        t_frame = time.perf_counter()
        res = tracker.update(frame)
        acc["frame_ms"].append(1000.0 * (time.perf_counter() - t_frame))
        acc["ious"].append(iou(res.box_xywh, box))
    acc["track_s"] += time.perf_counter() - t0
    tracker.wait_for_updates()  # async mode: the next sequence starts clean
    acc["frames"] += len(frames) - 1
    for k in STAGES:
        acc["stage"][k] += tracker.timings[k] - before[k]
    for k in acc["counters"]:
        acc["counters"][k] += tracker.counters[k] - c_before[k]


def run_child(args: argparse.Namespace) -> None:
    """Track every sequence with one backbone and each runtime; print a JSON line of figures."""
    sys.path.insert(0, str(REPO))
    from rtmdnet_ros import onnx_runtime
    from rtmdnet_ros.options import TrackerOptions
    from rtmdnet_ros.tracker import Tracker

    # One thread setting for torch, OpenCV and the onnxruntime sessions (set before the trackers
    # open their sessions).
    onnx_runtime.set_frame_threads(args.threads)
    # The tracker's one layering (Tracker's docstring): the packaged model's own options, or the
    # reference values with --reference, then --set and the backbone on top; another backbone
    # than the packaged model's is built untrained.
    trackers = {
        runtime: Tracker(
            options=TrackerOptions.reference() if args.reference else None,
            overrides={**parse_overrides(args.set), "backbone": args.child, "runtime": runtime},
            device="cpu",
            seed=args.seed,
        )
        for runtime in args.runtimes
    }
    acc = {
        runtime: {"frames": 0, "track_s": 0.0, "init_times": [], "ious": [], "frame_ms": [],
                  "stage": dict.fromkeys(STAGES, 0.0),
                  "counters": {"short_updates": 0, "long_updates": 0}}
        for runtime in args.runtimes
    }
    csrt_s, csrt_ious, csrt_frames, rss_mb = 0.0, [], 0, 0.0
    for i, name in enumerate(args.sequences):
        frames, gt = load_sequence(name, args.max_frames)
        order = list(args.runtimes) if i % 2 == 0 else list(reversed(args.runtimes))
        for runtime in order:
            track_sequence(trackers[runtime], frames, gt, acc[runtime])
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        # CSRT right after, on the same decoded frames: same machine load, fair ratio.
        c = run_csrt_frames(frames, gt)
        csrt_s += c["seconds"]
        csrt_ious += c["ious"]
        csrt_frames += len(frames) - 1
    rows = {}
    for runtime, a in acc.items():
        n = max(a["frames"], 1)
        rows[runtime] = {
            "runtime": trackers[runtime].runtime,
            "frames": a["frames"],
            "fps": a["frames"] / a["track_s"] if a["track_s"] else 0.0,
            "init_mean": float(np.mean(a["init_times"])),
            "init_max": float(np.max(a["init_times"])),
            # update() wall time per frame; with update_mode=async this is the forward path a
            # camera frame waits for (the online updates run beside it).
            "frame_ms_p50": float(np.median(a["frame_ms"])),
            "frame_ms_p95": float(np.percentile(a["frame_ms"], 95)),
            "stage_ms": {k: 1000.0 * v / n for k, v in a["stage"].items()},
            "mean_iou": float(np.mean(a["ious"])) if a["ious"] else 0.0,
            "counters": a["counters"],
        }
    print(json.dumps({
        "backbone": args.child,
        "runtimes": rows,
        "rss_mb": rss_mb,
        "csrt_fps": csrt_frames / csrt_s if csrt_s else 0.0,
        "csrt_iou": float(np.mean(csrt_ious)) if csrt_ious else 0.0,
    }))


def run_csrt_frames(frames: list[np.ndarray], gt: np.ndarray) -> dict:
    """OpenCV CSRT on RGB frames (converted to BGR, its convention); time excludes init."""
    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]
    tracker = cv2.TrackerCSRT_create()
    tracker.init(bgr[0], tuple(int(round(v)) for v in gt[0]))
    ious = []
    t0 = time.perf_counter()
    for frame, box in zip(bgr[1:], gt[1:], strict=True):
        ok, b = tracker.update(frame)
        ious.append(iou(np.asarray(b, float), box) if ok else 0.0)
    return {"seconds": time.perf_counter() - t0, "ious": ious}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", nargs="+", default=list(DEFAULT_SEQUENCES))
    parser.add_argument("--max-frames", type=int, default=None, help="frames per sequence")
    parser.add_argument("--backbones", nargs="+", default=["efficientnet_lite0", "vggm"])
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of torch, OpenCV and onnxruntime alike")
    parser.add_argument("--runtimes", nargs="+", default=["torch", "onnxruntime"],
                        choices=RUNTIMES,
                        help="backbone runtimes compared in one child "
                             "(TrackerOptions.execution.runtime)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="TrackerOptions override on top of the model's own options, as in "
                        "rtmdnet-eval, e.g. --set update_iterations=10")
    parser.add_argument("--reference", action="store_true",
                        help="start from TrackerOptions.reference(), not the model's options")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args)
        return
    results = []
    for backbone in args.backbones:
        cmd = [sys.executable, __file__, "--child", backbone, "--threads", str(args.threads),
               "--seed", str(args.seed), "--sequences", *args.sequences,
               "--runtimes", *args.runtimes]
        if args.max_frames:
            cmd += ["--max-frames", str(args.max_frames)]
        for s in args.set:
            cmd += ["--set", s]
        if args.reference:
            cmd.append("--reference")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print("| backbone | runtime | frames | tracking FPS | CSRT FPS (same run) | x CSRT | "
          "first frame s (mean / max) | frame ms p50 / p95 | "
          + " | ".join(f"{s} ms" for s in STAGES)
          + " | peak RSS MB (child) | mean IoU | CSRT mean IoU |")
    print("|---" * (11 + len(STAGES)) + "|")
    for r in results:
        for runtime, x in r["runtimes"].items():
            stage = " | ".join(f"{x['stage_ms'][s]:.1f}" for s in STAGES)
            print(f"| {r['backbone']} | {x['runtime']}"
                  + (f" ({runtime})" if runtime != x["runtime"] else "")
                  + f" | {x['frames']} | {x['fps']:.1f} | {r['csrt_fps']:.1f}"
                  f" | {x['fps'] / r['csrt_fps']:.2f}"
                  f" | {x['init_mean']:.2f} / {x['init_max']:.2f}"
                  f" | {x['frame_ms_p50']:.1f} / {x['frame_ms_p95']:.1f}"
                  f" | {stage} | {r['rss_mb']:.0f} | {x['mean_iou']:.3f} | {r['csrt_iou']:.3f} |")
    for r in results:
        for runtime, x in r["runtimes"].items():
            print(f"updates ({r['backbone']}, {runtime}): {x['counters']}")
    print()
    print("command: python " + " ".join(["bench/bench_tracker.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
