# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Cost per frame with 1, 2 and 4 targets, as the node's worker spends it, in one process.

Why: with ``max_targets`` above 1 the node converts each frame once and steps every target's
tracker on the same RGB array, one after the other, so a frame costs one conversion plus one
tracking step per target. This bench builds the targets as the node does (``Targets`` with the
node's tracker factory and parameter defaults), feeds them the same 640x480 ``sensor_msgs/Image``
messages (four textured patches crossing a textured scene), and prints per target count the
mean and p95 wall time of a frame (conversion + every step), the share of it per target, the
rate at which every target is answered and the process RSS once tracking (each target has its
own tracker; the RSS added per target is the difference to one target); then, with ``--rate``,
the share of frames answered when they arrive at that rate and each step takes the newest, as
the node's worker does. Each count runs in a fresh process (so the RSS is its own), back to back
in one call, so their ratios compare.

Run: ``.venv/bin/python bench/bench_targets.py [--frames 80] [--counts 1 2 4] [--threads 1]
[--rate 15]``.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time

import cv2
import numpy as np

W, H, S = 640, 480, 48
ROWS = (60, 170, 280, 390)


def texture(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth random colour texture (coarse noise upsampled, plus fine noise)."""
    coarse = rng.integers(0, 256, size=(h // cell, w // cell, 3)).astype(np.uint8)
    tex = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    tex += rng.normal(0, 12, size=tex.shape)
    return np.clip(tex, 0, 255).astype(np.uint8)


def scene(frames: int) -> tuple[list[np.ndarray], list[list[tuple[float, ...]]]]:
    """BGR frames with four patches, rows alternately moving right and left; their boxes."""
    rng = np.random.default_rng(3)
    background = texture(rng, H, W, 12)
    patches = [texture(rng, S, S, 6) for _ in ROWS]
    images, boxes = [], []
    for t in range(frames):
        img = background.copy()
        row = []
        for i, (y, patch) in enumerate(zip(ROWS, patches, strict=True)):
            x = 60 + 4 * t if i % 2 == 0 else W - 60 - S - 4 * t
            img[y:y + S, x:x + S] = patch
            row.append((float(x), float(y), float(S), float(S)))
        images.append(img)
        boxes.append(row)
    return images, boxes


def rss_mb() -> float:
    """This process's resident memory (Linux /proc)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run(count: int, messages: list, boxes: list, threads: int,
        rate: float = 0.0) -> tuple[str, float]:
    """Track ``count`` targets over the frames; one line of figures.

    ``rate`` > 0: the frames arrive at that rate and each step takes the newest one, as the
    node's worker does (frames that arrived meanwhile are dropped); the line says how many
    were answered. 0: every frame in turn, as fast as it goes.
    """
    from rtmdnet_ros.node.parameters import SPECS
    from rtmdnet_ros.node.targets import Targets, session_builder
    from rtmdnet_ros.node.tracker_factory import TrackerFactory
    from rtmdnet_ros.ros_io.image_conversion import image_msg_to_rgb

    values = {spec.name: spec.default for spec in SPECS}
    values.update(device="cpu", torch_threads=threads, max_targets=count)
    factory = TrackerFactory(values, logging.getLogger("bench"))
    targets = Targets(count, session_builder(factory.build(say=False), factory))
    rgb = image_msg_to_rgb(messages[0])
    for i in range(count):
        claim = targets.claim("")
        assert not isinstance(claim, str), claim
        session, _ = claim
        out = session.init(rgb, boxes[0][i], 1, messages[0].header, "obj", lambda: [],
                           if_idle=count > 1)
        targets.release(session)
        assert out.success, out.reason
    sessions = targets.sessions()
    times, hits, answers, answered = [], 0, 0, 0
    begin = time.perf_counter()
    for seq, msg in paced(messages, rate, begin):
        answered += 1
        started = time.perf_counter()
        rgb = image_msg_to_rgb(msg)  # once per frame, whatever the number of targets
        outs = [s.track(seq, msg.header, rgb) for s in sessions]
        times.append(time.perf_counter() - started)
        for out, truth in zip(outs, boxes[seq - 1], strict=False):
            answers += 1
            if out.box is not None and _iou(out.box, truth) > 0.5:
                hits += 1
    rss = rss_mb()
    targets.close()
    warm = np.asarray(times[10:] if len(times) > 20 else times) * 1000.0
    mean, p95 = float(np.mean(warm)), float(np.percentile(warm, 95))
    if rate > 0:
        sent = len(messages) - 1
        return (f"{count} target(s) at {rate:g} Hz: answered {answered}/{sent} frames "
                f"({answered / sent:.0%}); frame {mean:6.1f} ms mean, {p95:6.1f} ms p95; "
                f"IoU>0.5 {hits}/{answers}"), rss
    return (f"{count} target(s): frame {mean:6.1f} ms mean, {p95:6.1f} ms p95 "
            f"({mean / count:5.1f} ms per target); every target answered up to "
            f"{1000.0 / mean:5.1f} Hz; IoU>0.5 {hits}/{answers}; RSS {rss:.0f} MB"), rss


def paced(messages: list, rate: float, begin: float):
    """Yield (arrival number, message) to track: all in turn, or the newest at ``rate`` Hz.

    Frame ``i`` (from 1) arrives at ``begin + (i - 1) / rate``.
    """
    if rate <= 0:
        yield from enumerate(messages[1:], 2)
        return
    index = 1
    while index < len(messages):
        arrived = 1 + int((time.perf_counter() - begin) * rate)
        if arrived < index:
            time.sleep(begin + (index - 1) / rate - time.perf_counter())
            continue
        index = min(arrived, len(messages) - 1)
        yield index + 1, messages[index]
        index += 1


def _iou(a: np.ndarray, b: tuple[float, ...]) -> float:
    from rtmdnet_ros.geometry import iou

    return float(iou(a, b))


def main() -> None:
    """Run each target count in its own process; a line each, and the RSS per added target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0 = default)")
    parser.add_argument("--rate", type=float, default=15.0,
                        help="then each count again with frames arriving at this rate (0: no)")
    parser.add_argument("--one", type=int, default=0, help=argparse.SUPPRESS)  # a child run
    parser.add_argument("--paced", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        from sensor_msgs.msg import Image

        from rtmdnet_ros.ros_io.image_conversion import fill_image_msg

        images, boxes = scene(args.frames)
        messages = [fill_image_msg(Image(), img, None) for img in images]
        line, rss = run(args.one, messages, boxes, args.threads, args.paced)
        print(f"{line}\nRSS_MB {rss:.1f}", flush=True)
        return
    print(f"{args.frames} frames {W}x{H}, node defaults (composite, async), CPU, torch "
          f"threads {args.threads}; each count in a fresh process")
    first_rss: float | None = None
    for count in args.counts:
        out = subprocess.run([sys.executable, __file__, "--one", str(count), "--frames",
                              str(args.frames), "--threads", str(args.threads)],
                             check=True, capture_output=True, text=True).stdout.splitlines()
        rss = float(out[-1].split()[1])
        extra = ""
        if first_rss is None and count == 1:
            first_rss = rss
        elif first_rss is not None:
            extra = f" (+{(rss - first_rss) / (count - 1):.0f} MB per added target)"
        print(out[-2] + extra, flush=True)
    for count in args.counts if args.rate > 0 else []:
        out = subprocess.run([sys.executable, __file__, "--one", str(count), "--frames",
                              str(args.frames), "--threads", str(args.threads), "--paced",
                              str(args.rate)],
                             check=True, capture_output=True, text=True).stdout.splitlines()
        print(out[-2], flush=True)


if __name__ == "__main__":
    main()
