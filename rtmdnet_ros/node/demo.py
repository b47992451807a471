# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``make demo``: the whole ROS graph from one command, with a printed summary.

The ``rtmdnet_tracker`` node runs in its own process, started as a launch file would start it
(``tracker_node --ros-args --params-file config/tracker.yaml``, namespace ``/rtmdnet_demo``),
so frames cross a process boundary exactly as they do from a camera driver. This process holds
the camera stand-in (frame publisher), the ``~/init`` call with the first box and the recorder
that writes an annotated video. Both processes get the shipped Fast DDS profile
(``config/fastdds.xml``: a 64 MB shared-memory segment; the publisher's is the one that
counts), unless the user's environment names a profile already.

Default input needs nothing but what the project already installs: a clip generated at run time
from ``grace_hopper.jpg``, the sample photograph shipped inside matplotlib
(``matplotlib/mpl-data/sample_data/grace_hopper.jpg``, public domain). The face is cut out and
moved across a panning, blurred backdrop made from the same photo while it grows and shrinks, so
the ground truth is known exactly. ``--sequence DIR`` plays a folder in the shared format (with
its ground truth), ``--video FILE --box x,y,w,h`` any video. ``--from-detector`` starts the
track from a detector stand-in (``detector_stand_in``: the ground truth published as detections,
the node's ``auto_init`` and ``reinit_when_lost``) instead of the ``~/init`` call.

Exit codes: 0 when the tracker answered frames and both processes stopped cleanly (also after
Ctrl-C), 1 when the run failed, 2 for a bad command line (one line, no traceback).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
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
    from rtmdnet_ros.device import DEVICE_NAMES
    from rtmdnet_ros.ros_io.cli import OneLineParser, parse_box

    parser = OneLineParser(
        prog="rtmdnet-demo",
        description="Run frame publisher -> rtmdnet_tracker (own process) -> recorder over ROS 2 "
                    "and print a summary. Default input: a clip generated from matplotlib's "
                    "sample photo.")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--sequence", help="sequence folder (img/ + groundtruth_rect.txt)")
    src.add_argument("--video", help="video file (needs --box)")
    parser.add_argument("--box", help="init box x,y,w,h in pixels (default: first ground truth)")
    parser.add_argument("--frames", type=int, default=0,
                        help="publish at most this many frames (default: all; synthetic: 90)")
    parser.add_argument("--rate", type=float, default=10.0, help="publishing rate, Hz")
    parser.add_argument("--output", default="out/demo.mp4",
                        help="annotated video (.mp4 or .avi); empty = none")
    parser.add_argument("--device", default="auto", choices=DEVICE_NAMES)
    parser.add_argument("--model", default="", help="model file (default: packaged model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--from-detector", action="store_true",
                        help="start from a detector stand-in (the ground truth as "
                             "vision_msgs/Detection2DArray on every 5th frame: auto_init, and "
                             "reinit_when_lost after a loss) instead of the ~/init service")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="give up after this many seconds of playback")
    args = parser.parse_args(argv)
    if args.frames < 0:
        parser.error(f"--frames must be 0 (all) or positive, got {args.frames}")
    if not 0.1 <= args.rate <= 1000.0:
        parser.error(f"--rate must be between 0.1 and 1000 Hz, got {args.rate:g}")
    if not args.timeout > 0:
        parser.error(f"--timeout must be positive, got {args.timeout:g}")
    if args.output and Path(args.output).suffix.lower() not in (".mp4", ".avi"):
        parser.error(f"--output must end in .mp4 or .avi (or be empty), got {args.output!r}")
    if args.model and not Path(args.model).is_file():
        parser.error(f"--model {args.model!r}: no such file")
    if args.video and not args.box:
        parser.error("--video needs --box x,y,w,h (a video has no ground truth to start from)")
    if args.box is not None:
        try:
            args.box = parse_box(args.box)
        except ValueError as exc:
            parser.error(str(exc))
    return args


def load_source(args: argparse.Namespace):
    """Build the frame source and the init box from the arguments.

    Raises ``ValueError`` (``DatasetError`` included) or ``OSError`` with a readable message for
    a missing or unreadable input; the caller prints it as one line.
    """
    from rtmdnet_ros.node.frame_publisher import FrameSource

    if args.sequence:
        source = FrameSource.from_sequence(args.sequence, args.frames)
        where = f"sequence {args.sequence}"
    elif args.video:
        if not Path(args.video).is_file():
            raise ValueError(f"--video {args.video!r}: no such file")
        source = FrameSource.from_video(args.video, args.frames)
        where = f"video {args.video}"
    else:
        frames, gt = synthetic_clip(args.frames or 90)
        source = FrameSource.from_arrays(frames, gt, "grace_hopper_synthetic")
        where = (f"a {len(frames)}-frame clip generated from {sample_image_path()} "
                 "(matplotlib's bundled sample photo)")
    if args.box:
        box = args.box
    elif source.groundtruth is not None:
        box = tuple(float(v) for v in source.groundtruth[0])
    else:
        raise ValueError("--video needs --box x,y,w,h (no ground truth to start from)")
    first = source.frame(0)
    x, y, w, h = box
    if x >= first.shape[1] or y >= first.shape[0] or x + w <= 0 or y + h <= 0:
        raise ValueError(f"--box {x:g},{y:g},{w:g},{h:g} lies outside the "
                         f"{first.shape[1]}x{first.shape[0]} frames")
    return source, box, where


def known_box(source, first_box, publisher, stamp_ns: int):
    """Return (index, box) of the frame published with this stamp, or None when unknown.

    The box is the frame's ground truth, else (a video) the given box, on frame 0 only.
    """
    index = publisher.index_of(stamp_ns)
    if index is None:
        return None
    if source.groundtruth is not None and index < len(source.groundtruth):
        return index, tuple(float(v) for v in source.groundtruth[index])
    return (0, first_box) if index == 0 else None


class DemoFailed(Exception):
    """The graph did not come up or the tracker did not answer: one line, exit 1."""


def _spin(executor, stop: threading.Event) -> None:
    """Spin until told to stop, so the thread can be joined before rclpy shuts down.

    A thread left inside rclpy's wait at interpreter exit aborts the process.
    """
    import rclpy

    from rtmdnet_ros.ros_io.spinning import RaceGuard, spin_once

    guard = RaceGuard()
    while not stop.is_set():
        try:
            spin_once(executor, 0.05, guard)
        except Exception:
            if stop.is_set() or not rclpy.ok():
                return  # Ctrl-C shut the context down under us: the main thread cleans up
            raise


def _wait(condition, timeout: float, what: str, child=None) -> None:
    """Poll ``condition`` until true; fail with ``what`` on timeout or when the child exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        if child is not None and child.poll() is not None:
            raise DemoFailed(f"the tracker node exited with code {child.returncode} "
                             "(its log is above)")
        if time.monotonic() > deadline:
            raise DemoFailed(what)
        time.sleep(0.02)


def run(argv: list[str] | None = None) -> int:
    """Run the graph once; return 0 when the tracker answered frames and everything stopped."""
    from rtmdnet_ros.node import process
    from rtmdnet_ros.node.transport import active_profile, profile_environment
    from rtmdnet_ros.ros_io.cli import fail, one_line

    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[%(name)s] %(levelname)s: %(message)s")
    try:
        source, box, where = load_source(args)
    except (ValueError, OSError) as exc:
        return fail("rtmdnet-demo", one_line(exc))
    # This process publishes the frames: its shared-memory segment is the one that counts, so
    # the profile goes into its own environment before rclpy creates the DDS participant.
    os.environ.update(profile_environment())
    print(f"input: {where}")
    print(f"DDS profile: {active_profile()}")

    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from rtmdnet_ros.node.detector_stand_in import DETECTOR_CLASS, DetectorStandIn
    from rtmdnet_ros.node.frame_publisher import FramePublisher
    from rtmdnet_ros.node.recorder import TrackingRecorder
    from rtmdnet_ros.ros_io.cli import init_ros, stop_ros
    from rtmdnet_ros.ros_io.messages import set_bbox
    from rtmdnet_ros.ros_io.stamps import stamp_to_ns
    from rtmdnet_ros.srv import InitTarget

    code = init_ros("rtmdnet-demo", [])
    if code is not None:
        return code
    child = None
    child_code = None
    nodes: list = []
    executor = MultiThreadedExecutor(num_threads=3)
    stop_spinning = threading.Event()
    spin_thread = threading.Thread(target=_spin, args=(executor, stop_spinning),
                                   name="demo_spin")
    result = 1
    try:
        params = {"device": args.device, "model_path": args.model, "seed": args.seed}
        if args.from_detector:
            params.update(detections_topic="detections", auto_init=True,
                          init_class=DETECTOR_CLASS, reinit_when_lost=True)
        child = process.start(process.tracker_command(NAMESPACE, params))
        print(f"tracker node: pid {child.pid}, its own process (namespace /{NAMESPACE})",
              flush=True)
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
        nodes = [publisher, recorder, client_node]
        stand_in = None
        if args.from_detector:
            stand_in = DetectorStandIn(lambda stamp: known_box(source, box, publisher, stamp),
                                       namespace=NAMESPACE)
            nodes.append(stand_in)
        for node in nodes:
            executor.add_node(node)
        spin_thread.start()
        init_client = client_node.create_client(InitTarget, "rtmdnet_tracker/init")
        # The node imports torch and loads its model first: allow for a loaded machine.
        _wait(lambda: publisher.subscriber_count() >= len(nodes) - 1
              and init_client.service_is_ready() and (stand_in is None or stand_in.matched()),
              90.0, "the tracker node did not come up within 90 s", child)

        # The node's input follows this (reliable) publisher within half a second; frames sent
        # while its subscription changes may be missed, so let it settle first.
        def input_is_reliable() -> bool:
            return any(info.node_name == "rtmdnet_tracker"
                       and info.qos_profile.reliability.name == "RELIABLE"
                       for info in client_node.get_subscriptions_info_by_topic(
                           f"/{NAMESPACE}/image"))

        try:
            _wait(input_is_reliable, 5.0, "", child)
        except DemoFailed:
            if child.poll() is not None:
                raise
        # Frame 0 until the tracker has it (best-effort delivery may lose one), then init on
        # exactly that frame's stamp; playback continues from frame 1.
        first = None
        deadline = time.monotonic() + 30.0
        while first is None and time.monotonic() < deadline:
            header = publisher.publish_frame(0)
            key = stamp_to_ns(header.stamp)
            until = time.monotonic() + 3.0
            while time.monotonic() < until:
                record = recorder.records.get(key)
                if record is not None and record.answered:
                    first = header
                    break
                time.sleep(0.02)
        if first is None:
            raise DemoFailed("the tracker never answered the first frame within 30 s")
        publisher.skip_to(1)
        if stand_in is not None:  # the stand-in answers frame 0: auto_init starts on it
            def started() -> bool:
                return recorder.last_status is not None and bool(recorder.last_status.track_id)

            for _ in range(24):  # a detection that overtook its frame is refused: offer it again
                try:
                    _wait(started, 5.0, "", child)
                    break
                except DemoFailed:
                    if child.poll() is not None:
                        raise
                    publisher.publish_frame(0)
            else:
                raise DemoFailed("no track started from the detector stand-in within 120 s")
            print(f"init: track {recorder.last_status.track_id} started by auto_init on the "
                  f"stand-in's detection of frame 0 (device {recorder.last_status.device})")
        else:
            request = InitTarget.Request()
            set_bbox(request.box, box)
            request.stamp = first.stamp
            future = init_client.call_async(request)
            _wait(future.done, 120.0, "~/init did not answer within 120 s", child)
            response = future.result()
            if response is None or not response.success:
                raise DemoFailed(f"init failed: {response.message if response else 'no answer'}")
            device = recorder.last_status.device if recorder.last_status is not None else "?"
            print(f"init: {response.message} (track {response.track_id}, device {device})")
        started = time.monotonic()
        publisher.start()
        while not publisher.done.is_set() and time.monotonic() - started < args.timeout:
            if child.poll() is not None:
                raise DemoFailed(f"the tracker node exited with code {child.returncode}")
            time.sleep(0.05)
        last = publisher.headers[-1].stamp
        last_ns = stamp_to_ns(last)
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
        if stand_in is not None:
            print(f"detector stand-in: {stand_in.published} detections published")
        result = 0 if summary.frames_answered > 0 else 1
    except KeyboardInterrupt:
        print("interrupted: stopping the graph", file=sys.stderr)
        result = 0
    except DemoFailed as exc:
        result = fail("rtmdnet-demo", str(exc))
    finally:
        if child is not None:
            child_code = process.stop(child)
        stop_spinning.set()
        stop_ros(executor, nodes, [spin_thread] if spin_thread.is_alive() else [])
    if child_code not in (None, 0) and result == 0:
        return fail("rtmdnet-demo", f"the tracker node process exited with code {child_code} "
                                    "at shutdown")
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point (``rtmdnet-demo``, ``python -m rtmdnet_ros.node.demo``)."""
    try:
        return run(argv)
    except KeyboardInterrupt:  # Ctrl-C before the graph existed (e.g. while making the clip)
        return 0


if __name__ == "__main__":
    sys.exit(main())
