# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What /diagnostics and ~/debug_image/compressed cost per 640x480 frame.

Target: both together add <= 1 ms per frame while nobody subscribes. Measured on the node's own
code (``NodeOutputs`` and ``NodeDiagnostics`` on a real rclpy node with the node's parameters):

- per frame, nobody subscribed: ``NodeOutputs.answer`` (detections + status, now also noting
  the answer for /diagnostics) + ``NodeOutputs.debug_image`` (now asking two publishers for
  subscribers instead of one), and the parts the two features add: the answer log's record and
  the second subscriber count;
- per tick: building and publishing the DiagnosticArray, spread over the frames of one tick
  (``--camera-hz`` frames at ``diagnostics_rate`` 1 Hz);
- for comparison, with a subscriber: drawing + the raw debug image, and the JPEG on top.

Run: ``.venv/bin/python bench/bench_node_outputs.py [--repeats 300] [--camera-hz 30]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_node  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Best-of-5 mean milliseconds of ``repeats`` calls (bench_node.py's timer)."""
    return bench_node.timed(fn, repeats, rounds=5)


def frame() -> np.ndarray:
    """A 640x480 RGB frame: car1's first frame from the shared data, else a blurred noise."""
    from rtmdnet_ros.sequences import default_data_root

    path = default_data_root() / "sequences" / "car1" / "img" / "0001.jpg"
    if path.is_file():
        return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), (9, 9), 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--camera-hz", type=float, default=30.0,
                        help="frames per /diagnostics tick (diagnostics_rate 1 Hz)")
    args = parser.parse_args()

    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import CompressedImage, Image
    from std_msgs.msg import Header

    from rtmdnet_ros.node.diagnostics import NodeDiagnostics, NodeParts
    from rtmdnet_ros.node.frame_cache import FrameCache
    from rtmdnet_ros.node.health import AnswerLog
    from rtmdnet_ros.node.outputs import NodeOutputs
    from rtmdnet_ros.node.parameters import declare_all
    from rtmdnet_ros.track_session import TRACKING, FrameOutcome, SessionStatus, TrackSession

    class BenchNode(Node):
        device = "cpu"
        frames_dropped = 0

    rclpy.init()
    node = BenchNode("bench_outputs")
    declare_all(node)
    outputs = NodeOutputs(node, "cpu", lambda: 0, lambda: 0.03)
    outputs.open()
    cache = FrameCache(10.0)
    session = TrackSession(tracker=None)
    diagnostics = NodeDiagnostics(node, lambda: NodeParts(
        session, cache, SimpleNamespace(lost=0, topic_name="/image"), outputs))

    rgb = frame()
    box = np.array([250.0, 180.0, 90.0, 70.0])
    answer = FrameOutcome(None, TRACKING, TRACKING, 0.93, 2.6, box, "1", "object")
    status = SessionStatus(TRACKING, 2.6, "1", 40.0, 100, 0.93)
    stamp = {"ns": time.time_ns()}

    def header() -> Header:
        stamp["ns"] += 33_333_333  # answers in stamp order, as the node publishes them
        h = Header(frame_id="camera")
        h.stamp.sec, h.stamp.nanosec = divmod(stamp["ns"], 1_000_000_000)
        return h

    for _ in range(int(args.camera_hz) * 10):  # ten seconds of arrivals for the window
        cache.put(stamp["ns"], None, None)

    def frame_path() -> None:
        h = header()
        if outputs.answer(h, answer, status):
            outputs.debug_image(rgb, h, answer)

    log = AnswerLog()
    raw_pub = outputs._pubs  # the node's own publishers (their subscriber counts)
    from rtmdnet_ros.node.outputs import Output

    jpeg_pub = raw_pub[Output.DEBUG_IMAGE_COMPRESSED]
    n = args.repeats
    t_frame = timed(frame_path, n)
    t_record = timed(lambda: log.record(time.monotonic(), stamp["ns"], time.time_ns(), TRACKING),
                     n)
    t_count = timed(jpeg_pub.get_subscription_count, n)
    t_tick = timed(lambda: diagnostics._pub.publish(diagnostics.build(time.monotonic())), 50)
    added = t_record + t_count + t_tick / args.camera_hz

    # With subscribers (another node in this process): the raw image, then the JPEG too.
    listener = rclpy.create_node("bench_outputs_listener")
    listener.create_subscription(Image, "/bench_outputs/debug_image", lambda _m: None, 2)
    deadline = time.monotonic() + 10.0
    while (raw_pub[Output.DEBUG_IMAGE].get_subscription_count() == 0
           and time.monotonic() < deadline):
        time.sleep(0.05)
    t_raw = timed(frame_path, max(20, n // 10))
    listener.create_subscription(CompressedImage, "/bench_outputs/debug_image/compressed",
                                 lambda _m: None, 2)
    while jpeg_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    t_both = timed(frame_path, max(20, n // 10))
    encoded = outputs.debug_encoded
    listener.destroy_node()
    outputs.close()
    node.destroy_node()
    rclpy.try_shutdown()

    load = os.getloadavg()
    print(f"640x480, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, "
          f"{n} repeats, best of 5")
    print(f"nobody subscribed, per frame: answer + debug_image       {t_frame:7.3f} ms")
    print(f"  of which added: answer log record                      {t_record:7.4f} ms")
    print(f"  of which added: compressed topic's subscriber count    {t_count:7.4f} ms")
    print(f"  /diagnostics tick (build + publish) {t_tick:.3f} ms, per frame at "
          f"{args.camera_hz:g} Hz: {t_tick / args.camera_hz:7.4f} ms")
    print(f"added per frame, nobody subscribed: {added:.4f} ms (target <= 1 ms: "
          f"{'met' if added <= 1.0 else 'NOT met'})")
    print(f"~/debug_image subscribed (draw + bgr8 message)         {t_raw:7.3f} ms per frame")
    print(f"both subscribed (+ JPEG q80 encode + message)          {t_both:7.3f} ms per frame "
          f"(JPEG alone {t_both - t_raw:.3f} ms; {encoded} encoded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
