# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``make demo``: the whole ROS graph from one command, with a printed summary.

A frame publisher (camera stand-in), the ``rtmdnet_tracker`` node, an ``~/init`` service call with
the first box, and a recorder that writes an annotated video, all in one process on one
MultiThreadedExecutor, talking over real DDS topics and services (namespace ``/rtmdnet_demo``).

Default input needs nothing but what the project already installs: a clip generated at run time
from ``grace_hopper.jpg``, the sample photograph shipped inside matplotlib
(``matplotlib/mpl-data/sample_data/grace_hopper.jpg``, public domain). The face is cut out and
moved across a panning, blurred backdrop made from the same photo while it grows and shrinks, so
the ground truth is known exactly. ``--sequence DIR`` plays a folder in the shared format (with
its ground truth), ``--video FILE --box x,y,w,h`` any video.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

SAMPLE_IMAGE = "grace_hopper.jpg"
# Face and cap in grace_hopper.jpg (512x600), chosen by eye: x, y, w, h.
SAMPLE_TARGET = (150, 30, 220, 290)
NAMESPACE = "rtmdnet_demo"


def sample_image_path() -> Path:
    """Locate matplotlib's bundled sample photo (no download: it is inside the wheel)."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / SAMPLE_IMAGE
    if not path.is_file():
        raise FileNotFoundError(f"matplotlib sample image not found at {path}")
    return path


def synthetic_clip(frames: int = 90, size: tuple[int, int] = (640, 480),
                   seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Return (BGR frames, ground truth xywh) of a moving, scaling face on a panning backdrop."""
    photo = cv2.imread(str(sample_image_path()), cv2.IMREAD_COLOR)
    if photo is None:
        raise ValueError(f"cannot read {sample_image_path()}")
    width, height = size
    tx, ty, tw, th = SAMPLE_TARGET
    target = photo[ty:ty + th, tx:tx + tw]
    base_w, base_h = 96, round(96 * th / tw)
    # Backdrop: the photo mirrored into a 2x2 tile, enlarged and blurred, panned slowly.
    tile = np.concatenate([photo, photo[:, ::-1]], axis=1)
    tile = np.concatenate([tile, tile[::-1]], axis=0)
    backdrop = cv2.GaussianBlur(cv2.resize(tile, (width * 2, height * 2)), (0, 0), 6)
    rng = np.random.default_rng(seed)
    out, gt = [], []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        ox = round((width * 0.8) * (0.5 - 0.5 * math.cos(math.pi * t)))
        oy = round((height * 0.6) * t)
        frame = backdrop[oy:oy + height, ox:ox + width].copy()
        scale = 1.0 + 0.3 * math.sin(2 * math.pi * t)
        w, h = round(base_w * scale), round(base_h * scale)
        cx = width * (0.5 + 0.32 * math.sin(2 * math.pi * 0.8 * t))
        cy = height * (0.5 + 0.22 * math.sin(2 * math.pi * 1.3 * t + 0.6))
        x, y = round(cx - w / 2), round(cy - h / 2)
        frame[y:y + h, x:x + w] = cv2.resize(target, (w, h), interpolation=cv2.INTER_AREA)
        noise = rng.normal(0.0, 3.0, frame.shape)
        out.append(np.clip(frame + noise, 0, 255).astype(np.uint8))
        gt.append((x, y, w, h))
    return out, np.asarray(gt, dtype=np.float64)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line of the demo (``make demo ARGS='...'``)."""
    parser = argparse.ArgumentParser(
        prog="rtmdnet-demo",
        description="Run frame publisher -> rtmdnet_tracker -> recorder over ROS 2 and print "
                    "a summary. Default input: a clip generated from matplotlib's sample photo.")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--sequence", help="sequence folder (img/ + groundtruth_rect.txt)")
    src.add_argument("--video", help="video file (needs --box)")
    parser.add_argument("--box", help="init box x,y,w,h in pixels (default: first ground truth)")
    parser.add_argument("--frames", type=int, default=0,
                        help="publish at most this many frames (default: all; synthetic: 90)")
    parser.add_argument("--rate", type=float, default=10.0, help="publishing rate, Hz")
    parser.add_argument("--output", default="out/demo.mp4",
                        help="annotated video (.mp4 or .avi); empty = none")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--model", default="", help="model file (default: packaged model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="give up after this many seconds of playback")
    return parser.parse_args(argv)


def load_source(args: argparse.Namespace):
    """Build the frame source and the init box from the arguments."""
    from rtmdnet_ros.node.frame_publisher import FrameSource

    if args.sequence:
        source = FrameSource.from_sequence(args.sequence, args.frames)
        where = f"sequence {args.sequence}"
    elif args.video:
        source = FrameSource.from_video(args.video, args.frames)
        where = f"video {args.video}"
    else:
        frames, gt = synthetic_clip(args.frames or 90)
        source = FrameSource.from_arrays(frames, gt, "grace_hopper_synthetic")
        where = (f"a {len(frames)}-frame clip generated from {sample_image_path()} "
                 "(matplotlib's bundled sample photo)")
    if args.box:
        try:
            box = tuple(float(v) for v in args.box.split(","))
        except ValueError:
            box = ()
        if len(box) != 4:
            raise SystemExit(f"--box must be x,y,w,h, got {args.box!r}")
    elif source.groundtruth is not None:
        box = tuple(float(v) for v in source.groundtruth[0])
    else:
        raise SystemExit("--video needs --box x,y,w,h (no ground truth to start from)")
    return source, box, where


def run(argv: list[str] | None = None) -> int:
    """Run the graph once; return 0 when the tracker answered frames."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[%(name)s] %(levelname)s: %(message)s")
    source, box, where = load_source(args)

    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from rtmdnet_ros.node.frame_publisher import FramePublisher
    from rtmdnet_ros.node.messages import set_bbox
    from rtmdnet_ros.node.recorder import TrackingRecorder
    from rtmdnet_ros.node.tracker_node import NodeSetupError, TrackerNode
    from rtmdnet_ros.srv import InitTarget

    print(f"input: {where}")
    rclpy.init()
    nodes: list = []
    executor = MultiThreadedExecutor(num_threads=4)
    spin_thread = threading.Thread(target=executor.spin, daemon=True)
    try:
        try:
            tracker = TrackerNode(namespace=NAMESPACE, parameter_overrides=[
                Parameter("device", value=args.device),
                Parameter("model_path", value=args.model),
                Parameter("seed", value=args.seed),
            ])
        except NodeSetupError as exc:
            print(f"cannot start the tracker: {exc}", file=sys.stderr)
            return 1
        publisher = FramePublisher(source, namespace=NAMESPACE, autostart=False,
                                   parameter_overrides=[Parameter("rate", value=args.rate),
                                                        Parameter("frame_id", value="camera")])
        recorder = TrackingRecorder(
            namespace=NAMESPACE, stamp_to_index=publisher.index_of,
            groundtruth=source.groundtruth,
            detections_topic="rtmdnet_tracker/detections", status_topic="rtmdnet_tracker/status",
            parameter_overrides=[Parameter("output", value=args.output),
                                 Parameter("fps", value=args.rate)])
        client_node = Node("demo_client", namespace=NAMESPACE)
        nodes = [tracker, publisher, recorder, client_node]
        for node in nodes:
            executor.add_node(node)
        spin_thread.start()
        init_client = client_node.create_client(InitTarget, "rtmdnet_tracker/init")

        deadline = time.monotonic() + 15.0
        while publisher.subscriber_count() < 2 or not init_client.service_is_ready():
            if time.monotonic() > deadline:
                print("the graph did not connect within 15 s (DDS discovery)", file=sys.stderr)
                return 1
            time.sleep(0.05)

        # Frame 0 until the tracker has it (best-effort delivery may lose one), then init on
        # exactly that frame's stamp; playback continues from frame 1.
        first = None
        deadline = time.monotonic() + 30.0
        while first is None and time.monotonic() < deadline:
            header = publisher.publish_frame(0)
            key = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
            until = time.monotonic() + 2.0
            while time.monotonic() < until:
                record = recorder.records.get(key)
                if record is not None and record.answered:
                    first = header
                    break
                time.sleep(0.02)
        if first is None:
            print("the tracker never answered the first frame within 30 s", file=sys.stderr)
            return 1
        publisher.skip_to(1)
        request = InitTarget.Request()
        set_bbox(request.box, box)
        request.stamp = first.stamp
        future = init_client.call_async(request)
        deadline = time.monotonic() + 120.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        response = future.result() if future.done() else None
        if response is None or not response.success:
            print(f"init failed: {response.message if response else 'no answer'}",
                  file=sys.stderr)
            return 1
        print(f"init: {response.message} (track {response.track_id}, device {tracker.device})")
        started = time.monotonic()
        publisher.start()
        while not publisher.done.is_set() and time.monotonic() - started < args.timeout:
            time.sleep(0.05)
        last = publisher.headers[-1].stamp
        last_ns = last.sec * 1_000_000_000 + last.nanosec
        settle = time.monotonic() + 30.0
        while time.monotonic() < settle:  # wait until the last frame is answered (or dropped)
            record = recorder.records.get(last_ns)
            if record is not None and record.answered:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        summary = recorder.finish()
        print(f"published {publisher.published} frames at {args.rate:g} Hz in "
              f"{time.monotonic() - started:.1f} s")
        print("\n".join(summary.lines()))
        return 0 if summary.frames_answered > 0 else 1
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()


def main(argv: list[str] | None = None) -> int:
    """Entry point (``python -m rtmdnet_ros.node.demo``)."""
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
