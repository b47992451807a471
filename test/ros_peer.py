# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The other end of the DDS round-trip tests, run as a separate process.

A node in a child process makes the traffic cross a real Fast DDS transport between two
participants, as between two ROS programs; inside one process DDS would hand samples over
directly. The messages are built by functions the tests import too, so both sides agree on every
field without sending the expected values along.

Usage: python ros_peer.py publish {image,detections,status} TOPIC
       python ros_peer.py serve-init-target SERVICE
"""

from __future__ import annotations

import sys

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseWithCovariance
from rtmdnet_ros.msg import TrackerStatus
from rtmdnet_ros.srv import InitTarget
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    ObjectHypothesis,
    ObjectHypothesisWithPose,
)

STAMP = Time(sec=1_764_000_123, nanosec=456_789_012)
FRAME_ID = "camera_optical_frame"


def make_header() -> Header:
    """Return the header every test message carries."""
    return Header(stamp=STAMP, frame_id=FRAME_ID)


def make_image() -> Image:
    """Return a VGA bgr8 image with padded rows (step > width * 3) and seeded random pixels.

    921,600 pixel bytes need DDS fragmentation; the padding checks that step and data arrive as
    sent (converters must slice it off themselves).
    """
    height, width, step = 480, 640, 640 * 3 + 8
    data = np.random.default_rng(7).integers(0, 256, size=height * step, dtype=np.uint8)
    return Image(
        header=make_header(),
        height=height,
        width=width,
        encoding="bgr8",
        is_bigendian=0,
        step=step,
        data=data.tobytes(),
    )


def make_detection(index: int) -> Detection2D:
    """Return a Detection2D with every field set to a distinct, non-default value."""
    det = Detection2D(header=make_header(), id=f"track-{index}")
    det.bbox = BoundingBox2D()
    det.bbox.center.position.x = 320.25 + index
    det.bbox.center.position.y = 240.75 - index
    det.bbox.center.theta = 0.125 * index
    det.bbox.size_x = 64.5
    det.bbox.size_y = 48.25 + index
    for k in range(2):
        pose = PoseWithCovariance()
        pose.pose.position.x = 1.5 + k
        pose.pose.position.y = -2.25
        pose.pose.position.z = 3.0 * index
        pose.pose.orientation.x = 0.5
        pose.pose.orientation.y = 0.5
        pose.pose.orientation.z = 0.5
        pose.pose.orientation.w = 0.5
        pose.covariance = [0.01 * (i + 1) + k for i in range(36)]
        hypothesis = ObjectHypothesis(class_id=f"class-{index}-{k}", score=0.875 - 0.25 * k)
        det.results.append(ObjectHypothesisWithPose(hypothesis=hypothesis, pose=pose))
    return det


def make_detections() -> Detection2DArray:
    """Return a Detection2DArray holding two filled detections."""
    return Detection2DArray(header=make_header(), detections=[make_detection(i) for i in (1, 2)])


def make_status() -> TrackerStatus:
    """Return a TrackerStatus with every field set."""
    return TrackerStatus(
        header=make_header(),
        state=TrackerStatus.LOST,
        score=0.25,
        raw_score=-1.25,  # exact in float32, like the other values
        track_id="target-3",
        processing_ms=41.5,
        frames_processed=2**40 + 3,
        frames_dropped=17,
        device="cpu",
        seconds_since_image=3.5,
        message="no image for 3.5 s",
    )


MESSAGES = {
    "image": (Image, make_image),
    "detections": (Detection2DArray, make_detections),
    "status": (TrackerStatus, make_status),
}


def answer_init_target(request: InitTarget.Request) -> tuple[bool, str, str]:
    """Return (success, message, track_id) for a request, spelling out every field received.

    The tests compute the same answer locally: equal answers mean the request crossed intact.
    """
    box = request.box
    if box.size_x <= 0 or box.size_y <= 0:
        return False, f"box size must be positive, got {box.size_x}x{box.size_y}", ""
    label = request.label or "target"
    stamp = f"{request.stamp.sec}.{request.stamp.nanosec:09d}"
    track_id = (
        f"{label}@{stamp}:{box.center.position.x!r},{box.center.position.y!r},"
        f"{box.center.theta!r},{box.size_x!r},{box.size_y!r}"
    )
    return True, "tracking started", track_id


def main(argv: list[str]) -> int:
    """Run one peer role until terminated."""
    import rclpy
    from rclpy.node import Node

    rclpy.init()
    node = Node("rtmdnet_test_peer")
    if argv[0] == "publish":
        msg_type, factory = MESSAGES[argv[1]]
        publisher = node.create_publisher(msg_type, argv[2], 10)
        message = factory()
        node.create_timer(0.1, lambda: publisher.publish(message))
    elif argv[0] == "serve-init-target":

        def serve(request, response):
            response.success, response.message, response.track_id = answer_init_target(request)
            return response

        node.create_service(InitTarget, argv[1], serve)
    else:
        raise SystemExit(f"unknown role {argv[0]!r}")
    print("ready", flush=True)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
