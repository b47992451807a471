# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Detector hand-off at camera rate: how many frames after a detection a lost track restarts.

Two processes over real DDS: the ``rtmdnet_tracker`` node (started as the launch file starts
it, with ``detections_topic``, ``auto_init`` and ``reinit_when_lost``) and this process, which
is the camera (a 320x240 textured scene at ``--rate`` Hz, fresh stamps, not in lockstep), a
detector stand-in (each visible frame's true box as a ``Detection2DArray`` stamped with that
frame, published ``--latency`` frames later, as a detector slower than a frame would) and the
consumer of ``~/detections``. Each cycle: the target moves in view, leaves it (the track goes
LOST), and comes back three target sizes away, outside the tracker's own search. Reported per
cycle: whether the track went LOST, the first frame the detector saw the target again, the
first frame answered with the restarted track (same id), and the frames between the two (the
issue's target: at most 3). ``--json FILE`` keeps every answer.

Run: ``.venv/bin/python bench/bench_hand_off.py [--rate 10] [--latency 1] [--cycles 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

W, H, S, Y = 320, 240, 40, 100
CLASS = "target"
LEAD = 40  # frames in view before the first loss (the verifier learns the target meanwhile)


def scene() -> tuple[np.ndarray, np.ndarray]:
    """A textured background and the target patch (a dark cross on texture), BGR."""
    rng = np.random.default_rng(4)

    def texture(h: int, w: int, cell: int) -> np.ndarray:
        coarse = rng.integers(0, 256, size=(h // cell, w // cell, 3)).astype(np.uint8)
        tex = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        return np.clip(tex + rng.normal(0, 12, size=tex.shape), 0, 255).astype(np.uint8)

    background, patch = texture(H, W, 12), texture(S, S, 6)
    patch[18:22, :] = patch[:, 18:22] = (20, 20, 160)
    return background, patch


def timeline(cycles: int, gone: int) -> list[int | None]:
    """The target's column per frame (None: out of view): move, leave, come back, repeat."""
    xs: list[int | None] = [60 + i for i in range(LEAD)]
    for cycle in range(cycles):
        last = xs[-1]
        assert last is not None
        xs += [None] * gone
        back = last + 3 * S if cycle % 2 == 0 else last - 3 * S
        xs += [back + (1 if cycle % 2 == 0 else -1) * i for i in range(20)]
    return xs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--latency", type=int, default=1, help="detector latency in frames")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--gone", type=int, default=3,
                        help="frames out of view (the tracker sweeps the frame itself after 5 "
                             "LOST frames: fewer keep its own re-detection out of the way)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    from rtmdnet_ros.node import process
    from rtmdnet_ros.ros_io.image_conversion import fill_image_msg
    from rtmdnet_ros.ros_io.messages import set_bbox
    from rtmdnet_ros.ros_io.stamps import stamp_to_ns

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    # A domain of its own unless given: other graphs on this machine must not answer.
    os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
    child = process.start(process.tracker_command("", {
        "detections_topic": "detections", "auto_init": True, "init_class": CLASS,
        "reinit_when_lost": True, "reinit_radius": 3.5}), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(
        line.decode(errors="replace").rstrip() for line in child.stdout), daemon=True)
    reader.start()
    rclpy.init()
    node = rclpy.create_node("bench_hand_off")
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, "/image", 5)
    det_pub = node.create_publisher(Detection2DArray, "/detections", reliable)
    answers: dict[int, str | None] = {}  # stamp -> track id (None: no box)
    node.create_subscription(Detection2DArray, "/rtmdnet_tracker/detections",
                             lambda m: answers.__setitem__(stamp_to_ns(m.header.stamp),
                                                           m.detections[0].id if m.detections
                                                           else None), reliable)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        deadline = time.monotonic() + 120
        while image_pub.get_subscription_count() == 0 or det_pub.get_subscription_count() == 0:
            if time.monotonic() > deadline or child.poll() is not None:
                print("the tracker node did not come up", file=sys.stderr)
                return 1
            time.sleep(0.1)
        time.sleep(1.0)  # the node's input turns RELIABLE (it follows this publisher)
        background, patch = scene()
        xs = timeline(args.cycles, args.gone)
        headers: list[Header] = []
        period, start = 1.0 / args.rate, time.monotonic()
        for i, x in enumerate(xs + [None] * args.latency):
            if i < len(xs):
                frame = background.copy()
                if x is not None:
                    frame[Y:Y + S, x:x + S] = patch
                header = Header(frame_id="camera")
                header.stamp = node.get_clock().now().to_msg()
                image_pub.publish(fill_image_msg(Image(), frame, header))
                headers.append(header)
            k = i - args.latency  # the detector answers frame k now
            if 0 <= k < len(xs) and xs[k] is not None:
                det = Detection2D(header=headers[k])
                set_bbox(det.bbox, (xs[k], Y, S, S))
                hyp = ObjectHypothesisWithPose()
                hyp.hypothesis.class_id, hyp.hypothesis.score = CLASS, 0.9
                det.results.append(hyp)
                det_pub.publish(Detection2DArray(header=headers[k], detections=[det]))
            time.sleep(max(0.0, start + (i + 1) * period - time.monotonic()))
        time.sleep(3.0)
    finally:
        stop.set()
        spinner.join()
        code = process.stop(child)
        node.destroy_node()
        rclpy.try_shutdown()
    stamps = [stamp_to_ns(h.stamp) for h in headers]
    ids = [answers.get(s, "unanswered") for s in stamps]
    first_id = next((t for t in ids if t not in (None, "unanswered")), None)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rate:g} Hz, detector latency "
          f"{args.latency} frame(s); {sum(t != 'unanswered' for t in ids)} of {len(ids)} "
          f"frames answered; node exit {code}")
    reader.join(timeout=5)
    # The node's restarts, by the frame they started on (its stamp in the log line).
    index_of = {f"{s // 10**9}.{s % 10**9:09d}": i for i, s in enumerate(stamps)}
    restarts = [index_of.get(m.group(1)) for line in log for m in [re.search(
        r"restarted by re-initialisation .* on the \w+ frame (\d+\.\d+) ", line)] if m]
    refusals = [line.split("]: ", 1)[-1] for line in log if "not restarted" in line]
    results = []
    for cycle in range(args.cycles):
        gone = LEAD + cycle * (args.gone + 20)  # first out-of-view frame of the cycle
        back = gone + args.gone
        lost = any(t is None for t in ids[gone:back])
        on = [r for r in restarts if r is not None and back <= r < back + 20]
        answered = next((i for i in range(back, back + 20) if ids[i] == first_id), None)
        after = None if answered is None else answered - back
        results.append({"cycle": cycle + 1, "lost": lost, "back": back, "restart_frame":
                        on[0] if on else None, "answered": answered,
                        "frames_after_detection": after})
        how = (f"restarted by re-initialisation on frame {on[0]}" if on
               else "no re-initialisation (the tracker found it itself, or none was accepted)")
        print(f"cycle {cycle + 1}: LOST {'yes' if lost else 'no'}; target back at frame "
              f"{back} (its detection {args.latency} frame(s) later); {how}; track "
              f"{first_id} answered again at frame {answered} ({after} frame(s) after the "
              "target's first detected frame)")
    for line in refusals:
        print(f"  refused: {line}")
    if args.json:
        args.json.write_text(json.dumps({"ids": ids, "cycles": results}, indent=1))
    ok = all(r["lost"] and r["restart_frame"] is not None
             and r["frames_after_detection"] is not None
             and r["frames_after_detection"] <= 3 for r in results)
    return 0 if ok and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
