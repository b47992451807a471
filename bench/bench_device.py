# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker on CUDA against the CPU, for a session that is lent a GPU machine.

Per sequence, the same seeded tracker runs on ``cpu`` and on ``cuda`` (synchronous updates, so
both take the same sample stream) and the script prints:

- agreement: max |difference| of the network's candidate scores on the first frame's crop (same
  input, two devices), and the per-frame IoU between the CPU and the CUDA trajectories (they
  can part once float rounding flips which candidates make the top 5);
- FPS excluding the first frame, first-frame seconds, and AUC against the ground truth, per
  device;
- a paced stream on CUDA (asynchronous updates, as the node runs): frames offered at 30 and 60 Hz
  into a depth-1 slot that a tracking thread empties, as the node's frame cache does. Answered
  fraction and offer-to-result latency p50/p95. This is the node's threading without DDS: the
  ROS wheels are CPython 3.11 only, the GPU machine's Python is 3.12.

    python bench/bench_device.py --data DIR --sequences Crossing bag [--frames 150]
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from rtmdnet_ros.evaluation.datasets import load_sequence
from rtmdnet_ros.evaluation.metrics import iou, score
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
    boxes = [np.asarray(gt[0], dtype=np.float64)]
    times = []
    for image in images[1:]:
        t0 = time.perf_counter()
        boxes.append(tracker.update(image).box_xywh)
        times.append(time.perf_counter() - t0)
    tracker.close()
    boxes = np.asarray(boxes)
    return {"boxes": boxes, "first_s": first, "fps": len(times) / sum(times),
            "p50_ms": 1000 * float(np.median(times)), "auc": score(boxes, gt).auc}


def candidate_score_gap(images, gt, seed: int, device: str) -> float:
    """Same first-frame crop and candidates through the CPU and the CUDA network."""
    outs = []
    for where in ("cpu", device):
        tracker = Tracker(device=where, seed=seed, overrides={"update_mode": "sync"})
        tracker.init(images[0], gt[0])  # the same seeded init on both
        outs.append(_scores_on(tracker, images[1]))
        tracker.close()
    return float((outs[0] - outs[1]).abs().max())


def _scores_on(tracker: Tracker, image: np.ndarray) -> torch.Tensor:
    """Candidate scores of one update step, read through the tracker's own stages."""
    captured: list[torch.Tensor] = []
    learner = tracker._learner
    original = learner.scores

    def spy(feats: torch.Tensor) -> torch.Tensor:
        out = original(feats)
        captured.append(out.detach().cpu())
        return out

    learner.scores = spy
    try:
        tracker.update(image)
    finally:
        learner.scores = original
    return captured[0]


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of sequence folders")
    parser.add_argument("--sequences", nargs="+", required=True)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda", help="compared with cpu (cpu: a dry run)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing to compare")
        return 1
    card = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"device: {card}, torch {torch.__version__}, "
          f"CPU threads {torch.get_num_threads()}")
    for name in args.sequences:
        images, gt = frames_of(args.data / name, args.frames)
        gap = candidate_score_gap(images, gt, args.seed, args.device)
        cpu = run_offline(images, gt, "cpu", args.seed)
        gpu = run_offline(images, gt, args.device, args.seed)
        agree = iou(cpu["boxes"], gpu["boxes"])
        parted = int(np.argmax(agree < 0.9)) if (agree < 0.9).any() else "-"
        print(f"\n{name} ({len(images)} frames {images[0].shape[1]}x{images[0].shape[0]}): "
              f"candidate score max |cpu-cuda| {gap:.2e}; trajectory IoU cpu vs cuda "
              f"mean {agree.mean():.3f}, frames >= 0.9: {np.mean(agree >= 0.9):.0%}, "
              f"first frame below 0.9: {parted}")
        for label, r in (("cpu", cpu), (args.device, gpu)):
            print(f"  {label}: {r['fps']:.1f} FPS, frame p50 {r['p50_ms']:.1f} ms, first frame "
                  f"{r['first_s']:.2f} s, AUC {r['auc']:.3f}")
        for rate in (30.0, 60.0):
            s = paced_stream(images, gt, rate, args.seed, args.device)
            print(f"  {args.device} paced {rate:.0f} Hz (async updates, no DDS): answered "
                  f"{s['answered']:.0%}, latency p50 {s['p50_ms']:.1f} / p95 {s['p95_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
