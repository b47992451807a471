# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker on CUDA against the CPU, for a session that is lent a GPU machine.

Per sequence, the same seeded tracker runs on ``cpu`` and on ``cuda`` (synchronous updates, so
both take the same sample stream) and the script prints:

- agreement: the network on both devices with identical weights and input (feature map and
  logits), and the per-frame IoU between the CPU and the CUDA trajectories (they part as soon
  as rounding or the first frame's dropout masks, drawn per device, flip a top-5 candidate);
- FPS excluding the first frame, frame p50/max, first-frame seconds, milliseconds per stage,
  and AUC against the ground truth, per device (``--profile``: torch.profiler's top ops);
- a paced stream on CUDA (asynchronous updates, as the node runs): frames offered at 30 and 60 Hz
  into a depth-1 slot that a tracking thread empties, as the node's frame cache does. Answered
  fraction and offer-to-result latency p50/p95. This is the node's threading without DDS: the
  ROS wheels are CPython 3.11 only, the GPU machine's Python is 3.12;
- ``--targets 1 2 4``: that many trackers sharing the device, stepped in turn on every frame as
  the node steps its targets: frames per second for them all and the peak device memory.

    python bench/bench_device.py --data DIR --sequences Crossing bag [--frames 150] \
        [--targets 1 2 4]
"""

from __future__ import annotations

import argparse
import copy
import logging
import threading
import time
import traceback
from pathlib import Path

import cv2
import numpy as np
import torch

from rtmdnet_ros.crop import to_tensor
from rtmdnet_ros.evaluation.metrics import iou, score
from rtmdnet_ros.sequences import load_sequence
from rtmdnet_ros.tracker import Tracker


def frames_of(folder: Path, limit: int) -> tuple[list[np.ndarray], np.ndarray]:
    seq = load_sequence(folder)
    paths = seq.frame_paths[:limit]
    images = [cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
              for p in paths]
    return images, np.asarray(seq.groundtruth[: len(images)], dtype=np.float64)


def run_offline(images, gt, device: str, seed: int) -> dict:
    tracker = Tracker(device=device, seed=seed, overrides={"update_mode": "sync"})
    start = time.perf_counter()
    tracker.init(images[0], gt[0])
    first = time.perf_counter() - start
    tracker.timings.update(dict.fromkeys(tracker.timings, 0.0))  # per-frame stages only
    boxes = [np.asarray(gt[0], dtype=np.float64)]
    times = []
    for image in images[1:]:
        t0 = time.perf_counter()
        boxes.append(tracker.update(image).box_xywh)
        times.append(time.perf_counter() - t0)
    tracker.close()
    boxes = np.asarray(boxes)
    stages = {k: round(1000 * v / len(times), 1) for k, v in tracker.timings.items() if v}
    return {"boxes": boxes, "first_s": first, "fps": len(times) / sum(times), "stages": stages,
            "max_ms": 1000 * max(times),
            "p50_ms": 1000 * float(np.median(times)), "auc": score(boxes, gt).auc}


def network_gap(images, device: str) -> tuple[float, float]:
    """The network on the CPU and on ``device`` with identical weights and input.

    Returns the largest |difference| of the feature map relative to its largest value, and of
    the target logit over a grid of RoIs. (Trajectories part for another reason too: the
    first-frame training draws its dropout masks from each device's own generator.)
    """
    tracker = Tracker(device="cpu", seed=0, overrides={"update_mode": "sync"})
    nets = {"cpu": tracker.net.eval(), device: copy.deepcopy(tracker.net).to(device).eval()}
    crop = to_tensor(images[0][:224, :320].astype(np.float32))
    xs = np.arange(0, 200, 20.0)
    rois = torch.as_tensor([[0, x, y, x + 107, y + 107] for x in xs for y in xs[:5]],
                           dtype=torch.float32)
    out = {}
    with torch.no_grad():
        for where, net in nets.items():
            fmap = net.feature_map(crop.to(where))
            logits = net.head(net.pool_rois(fmap, rois.to(where)))[:, 1]
            out[where] = (fmap.cpu(), logits.cpu())
    tracker.close()
    (f0, l0), (f1, l1) = out["cpu"], out[device]
    return float((f0 - f1).abs().max() / f0.abs().max()), float((l0 - l1).abs().max())


def profile_frames(images, gt, device: str, frames: int = 25) -> str:
    """torch.profiler's table of the ops that took the most time over ``frames`` updates."""
    from torch.profiler import ProfilerActivity, profile

    tracker = Tracker(device=device, seed=0, overrides={"update_mode": "sync"})
    tracker.init(images[0], gt[0])
    activities = [ProfilerActivity.CPU]
    if device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        for image in images[1 : frames + 1]:
            tracker.update(image)
    tracker.close()
    return prof.key_averages().table(sort_by="cpu_time_total", row_limit=18,
                                     max_name_column_width=50)


def paced_stream(images, gt, rate_hz: float, seed: int, device: str) -> dict:
    """Offer frames at ``rate_hz`` into a depth-1 slot; a thread tracks the newest one."""
    tracker = Tracker(device=device, seed=seed, overrides={"update_mode": "async"})
    tracker.init(images[0], gt[0])
    slot: list[tuple[int, float]] = []
    cond = threading.Condition()
    done = threading.Event()
    latencies: list[float] = []
    answered: set[int] = set()

    def work() -> None:
        while True:
            with cond:
                while not slot and not done.is_set():
                    cond.wait(0.05)
                if not slot:
                    return
                index, offered = slot.pop()
            tracker.update(images[index])
            latencies.append(time.perf_counter() - offered)
            answered.add(index)

    worker = threading.Thread(target=work)
    worker.start()
    period = 1.0 / rate_hz
    start = time.perf_counter()
    for index in range(1, len(images)):
        while time.perf_counter() < start + index * period:
            time.sleep(0.0005)
        with cond:
            slot.clear()  # depth 1: an untaken frame is replaced (dropped)
            slot.append((index, time.perf_counter()))
            cond.notify()
    done.set()
    worker.join()
    tracker.close()
    lat = 1000 * np.asarray(latencies)
    return {"answered": len(answered) / (len(images) - 1), "p50_ms": float(np.median(lat)),
            "p95_ms": float(np.percentile(lat, 95))}


def shared_device(images, gt, targets: int, seed: int, device: str) -> dict:
    """Track ``targets`` trackers on every frame, one after the other, as the node steps its
    targets (one worker, each target its own tracker); all start on the first frame's box, with
    seeds of their own. Frame time for them all, and the device memory they hold."""
    trackers = [Tracker(device=device, seed=seed + k, overrides={"update_mode": "async"})
                for k in range(targets)]
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    for tracker in trackers:
        tracker.init(images[0], gt[0])
    for tracker in trackers:
        tracker.wait_until_ready()
    times = []
    for image in images[1:]:
        t0 = time.perf_counter()
        for tracker in trackers:
            tracker.update(image)
        times.append(time.perf_counter() - t0)
    for tracker in trackers:
        tracker.close()
    ms = 1000 * np.asarray(times)
    memory = torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan")
    return {"fps": 1000 / ms.mean(), "p50_ms": float(np.median(ms)),
            "p95_ms": float(np.percentile(ms, 95)), "memory_mb": memory}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of sequence folders")
    parser.add_argument("--sequences", nargs="+", required=True)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true",
                        help="also print torch.profiler's top ops over 25 frames (first sequence)")
    parser.add_argument("--device", default="cuda", help="compared with cpu (cpu: a dry run)")
    parser.add_argument("--targets", type=int, nargs="*", default=[1, 2, 4],
                        help="target counts sharing the device (first sequence; none: skip)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing to compare")
        return 1
    card = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"device: {card}, torch {torch.__version__}, "
          f"CPU threads {torch.get_num_threads()}")
    if args.profile:
        images, gt = frames_of(args.data / args.sequences[0], 30)
        print(profile_frames(images, gt, args.device))
    for name in args.sequences:
        try:
            compare(name, args)
        except Exception:  # one sequence's failure must not hide the others' figures
            print(f"\n{name}: FAILED\n{traceback.format_exc()}")
    if args.targets:
        images, gt = frames_of(args.data / args.sequences[0], args.frames)
        print(f"\n{args.sequences[0]}: targets sharing {args.device}, stepped in turn")
        for n in args.targets:
            r = shared_device(images, gt, n, args.seed, args.device)
            memory = "" if np.isnan(r["memory_mb"]) else (
                f", peak device memory {r['memory_mb']:.0f} MB")
            print(f"  {n} target(s): {r['fps']:.1f} frames/s for all, frame p50 "
                  f"{r['p50_ms']:.1f} / p95 {r['p95_ms']:.1f} ms{memory}")
    return 0


def compare(name: str, args: argparse.Namespace) -> None:
    """Print one sequence's agreement, speed and paced-stream figures."""
    images, gt = frames_of(args.data / name, args.frames)
    fmap_gap, logit_gap = network_gap(images, args.device)
    cpu = run_offline(images, gt, "cpu", args.seed)
    gpu = run_offline(images, gt, args.device, args.seed)
    agree = iou(cpu["boxes"], gpu["boxes"])
    parted = int(np.argmax(agree < 0.9)) if (agree < 0.9).any() else "-"
    print(f"\n{name} ({len(images)} frames {images[0].shape[1]}x{images[0].shape[0]}): "
          f"network cpu vs {args.device}: feature map max rel. diff {fmap_gap:.1e}, logit max "
          f"diff {logit_gap:.1e}; trajectory IoU cpu vs {args.device} "
          f"mean {agree.mean():.3f}, frames >= 0.9: {np.mean(agree >= 0.9):.0%}, "
          f"first frame below 0.9: {parted}")
    for label, r in (("cpu", cpu), (args.device, gpu)):
        print(f"  {label}: {r['fps']:.1f} FPS, frame p50 {r['p50_ms']:.1f} ms, max "
              f"{r['max_ms']:.0f} ms, first frame {r['first_s']:.2f} s, AUC {r['auc']:.3f}; "
              f"ms per frame by stage {r['stages']}")
    for rate in (30.0, 60.0):
        s = paced_stream(images, gt, rate, args.seed, args.device)
        print(f"  {args.device} paced {rate:.0f} Hz (async updates, no DDS): answered "
              f"{s['answered']:.0%}, latency p50 {s['p50_ms']:.1f} / p95 {s['p95_ms']:.1f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
