# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A detector stand-in for ``make demo``'s hand-off variant: ground truth as detections.

A real detector subscribes to the camera and, some time later, publishes a
``vision_msgs/Detection2DArray`` stamped with the image it looked at; this node does the same
with the ground-truth box of each frame it knows, on every ``every``-th frame (a detector
slower than the camera, the usual pairing), so the tracker node is started by ``auto_init`` and
restarted after a loss by ``reinit_when_lost`` exactly as it would be by a detector.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from rtmdnet_ros.ros_io.messages import set_bbox
from rtmdnet_ros.ros_io.stamps import header_stamp_ns

DETECTOR_CLASS = "target"
DETECTOR_SCORE = 0.9


class DetectorStandIn(Node):
    """Answers every ``every``-th frame with its known box.

    ``frame_of(stamp_ns)`` gives (frame index, box) of a published frame, None when unknown.
    """

    def __init__(self, frame_of: Callable[[int], Any], every: int = 5, **kwargs: Any) -> None:
        super().__init__("detector_stand_in", **kwargs)
        self._frame_of = frame_of
        self._every = max(1, int(every))
        self.published = 0
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._pub = self.create_publisher(Detection2DArray, "detections", reliable)
        self.create_subscription(Image, "image", self._on_image, reliable)

    def matched(self) -> bool:
        """Whether the tracker node's detections input has matched this publisher."""
        return self._pub.get_subscription_count() > 0

    def _on_image(self, msg: Image) -> None:
        known = self._frame_of(header_stamp_ns(msg.header))
        if known is None or known[0] % self._every:
            return
        box = known[1]
        detection = Detection2D(header=msg.header)
        set_bbox(detection.bbox, box)
        hypothesis = ObjectHypothesisWithPose()
        hypothesis.hypothesis.class_id = DETECTOR_CLASS
        hypothesis.hypothesis.score = DETECTOR_SCORE
        detection.results.append(hypothesis)
        self._pub.publish(Detection2DArray(header=msg.header, detections=[detection]))
        self.published += 1
