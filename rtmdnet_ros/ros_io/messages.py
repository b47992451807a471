# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Building the node's output messages: detections, status and the debug image (raw, JPEG).

Kept apart from the node so the per-frame cost can be benchmarked and the field conventions
(header copied, box centre in pixels, score in [0, 1]) are in one place. vision_msgs changed
between distros (Foxy/Galactic: ``BoundingBox2D.center`` was ``geometry_msgs/Pose2D`` with
``center.x``; ``ObjectHypothesisWithPose`` carried ``id``/``score`` directly), so the field
access goes through small helpers that accept both layouts.

The builders fill messages field by field, so they take the message classes as an argument
(:class:`MessageTypes`): rclpy's generated classes in the node (the default, imported on first
use), rosbags' dataclasses in ``rtmdnet-bag`` (no ROS runtime there). One code path for live and
offline output; this module itself imports no ROS package.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from rtmdnet_ros.ros_io.image_conversion import fill_image_msg
from rtmdnet_ros.score_scale import probability
from rtmdnet_ros.track_session import (
    IDLE,
    LOST,
    STATE_NAMES,
    TRACKING,
    FrameOutcome,
    SessionStatus,
)


@dataclass(frozen=True)
class MessageTypes:
    """The message classes the builders instantiate: each called with no argument.

    Each must return a message with every field at its default value, as rclpy's classes do;
    ``rtmdnet_ros.bag.types`` provides the same for rosbags' dataclasses.
    """

    Detection2DArray: Callable[[], Any]
    Detection2D: Callable[[], Any]
    ObjectHypothesisWithPose: Callable[[], Any]
    TrackerStatus: Callable[[], Any]
    Image: Callable[[], Any]


@functools.cache
def ros_types() -> MessageTypes:
    """Return rclpy's generated classes (imported here, so this module loads without ROS)."""
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    from rtmdnet_ros.msg import TrackerStatus

    return MessageTypes(Detection2DArray, Detection2D, ObjectHypothesisWithPose, TrackerStatus,
                        Image)


def set_bbox(bbox: Any, box_xywh: Sequence[float]) -> Any:
    """Fill a ``vision_msgs/BoundingBox2D`` from (x, y, w, h), top-left corner, in pixels."""
    x, y, w, h = (float(v) for v in box_xywh)
    centre = bbox.center
    point = getattr(centre, "position", centre)  # 4.x: center.position.x; Foxy: center.x
    point.x = x + 0.5 * w
    point.y = y + 0.5 * h
    centre.theta = 0.0
    bbox.size_x = w
    bbox.size_y = h
    return bbox


def bbox_to_xywh(bbox: Any) -> tuple[float, float, float, float]:
    """Return (x, y, w, h) of a ``BoundingBox2D`` given by its centre and size (any distro)."""
    centre = bbox.center
    point = getattr(centre, "position", centre)
    w, h = float(bbox.size_x), float(bbox.size_y)
    return float(point.x) - 0.5 * w, float(point.y) - 0.5 * h, w, h


def _set_hypothesis(result: Any, class_id: str, score: float) -> None:
    hypothesis = getattr(result, "hypothesis", None)
    if hypothesis is not None:  # vision_msgs >= 3
        hypothesis.class_id = class_id
        hypothesis.score = score
    else:  # pragma: no cover - Foxy layout
        result.id = class_id
        result.score = score


def build_detections(
    header: Any,
    box_xywh: Sequence[float] | None,
    score: float,
    label: str,
    track_id: str,
    types: MessageTypes | None = None,
) -> Any:
    """Return the ``Detection2DArray`` for one frame: one detection while tracking, else empty.

    The image header (stamp and frame_id) goes into the array and into the detection, so rviz
    and message filters can match it to the image. ``types``: the classes to build (rclpy's when
    None).
    """
    types = types or ros_types()
    array = types.Detection2DArray()
    array.header = header
    if box_xywh is None:
        return array
    detection = types.Detection2D()
    detection.header = header
    set_bbox(detection.bbox, box_xywh)
    result = types.ObjectHypothesisWithPose()
    _set_hypothesis(result, label, float(score))
    detection.results = [result]
    detection.id = track_id
    array.detections = [detection]
    return array


def build_status(
    header: Any,
    state: int,
    raw_score: float,
    track_id: str,
    processing_ms: float,
    frames_processed: int,
    frames_dropped: int,
    device: str,
    types: MessageTypes | None = None,
    score: float | None = None,
    seconds_since_image: float = -1.0,
    message: str = "",
) -> Any:
    """Return a filled ``TrackerStatus``.

    ``score`` is on the detections' scale (a probability; the sigmoid of ``raw_score`` unless
    given, as for the init frame's 1); ``raw_score`` keeps the tracker's logit in its own field.
    """
    status = (types or ros_types()).TrackerStatus()
    raw = float(raw_score) if math.isfinite(raw_score) else 0.0
    status.header = header
    status.state = int(state)
    status.score = float(probability(raw) if score is None else score) if state != IDLE else 0.0
    status.raw_score = raw if state != IDLE else 0.0
    status.track_id = track_id
    status.processing_ms = float(processing_ms)
    status.frames_processed = int(frames_processed)
    status.frames_dropped = int(frames_dropped)
    status.device = device
    status.seconds_since_image = float(seconds_since_image)
    status.message = message
    return status


# What a frame's rule means for a person reading the status, where it is not plain tracking.
BRANCH_MESSAGES = {
    "warmup": "verifier still learning the target: TRACKING on the Siamese network's own "
              "confidence",
    "siamese_only": "mode siamese: the Siamese network alone, no verification (never LOST)",
}


def answer_messages(header: Any, answer: FrameOutcome, status: SessionStatus,
                    frames_dropped: int, device: str,
                    types: MessageTypes | None = None,
                    seconds_since_image: float = -1.0) -> tuple[Any, Any]:
    """Return the ``Detection2DArray`` and ``TrackerStatus`` that answer a frame or an init.

    The node and ``rtmdnet-bag`` both publish through here, so a recording tracked offline
    carries exactly the fields the live node would have sent: a box only while TRACKING, the
    answer's score (in the detection and the status alike), the session's status.
    """
    box = answer.box if answer.state == TRACKING else None
    detections = build_detections(header, box, answer.score, answer.label, answer.track_id,
                                  types=types)
    return detections, build_status(header, status.state, status.raw, status.track_id,
                                     status.processing_ms, status.frames_processed,
                                     frames_dropped, device, types=types, score=status.score,
                                     seconds_since_image=seconds_since_image,
                                     message=BRANCH_MESSAGES.get(answer.branch, ""))


_COLOURS = {  # BGR
    TRACKING: (0, 220, 0),
    LOST: (0, 0, 255),
    IDLE: (200, 200, 200),
}


def draw_debug(
    bgr: np.ndarray,
    state: int,
    box_xywh: Sequence[float] | None,
    score: float,
    track_id: str,
    label: str,
) -> np.ndarray:
    """Draw the box, score and state onto a BGR image in place and return it.

    The box is drawn while lost too (dashed look is not worth the time; red instead of green),
    because seeing where the tracker last was is what people debug with.
    """
    colour = _COLOURS.get(state, (255, 255, 255))
    name = STATE_NAMES.get(state, str(state))
    height, width = bgr.shape[:2]
    thickness = max(1, round(min(height, width) / 240))
    font_scale = max(0.4, min(height, width) / 600)
    if box_xywh is not None and state != IDLE:
        x, y, w, h = box_xywh
        cv2.rectangle(bgr, (round(x), round(y)), (round(x + w), round(y + h)), colour, thickness)
        tag = f"{label} {track_id} {score:.2f}"
        org = (max(0, round(x)), max(12, round(y) - 4))
        cv2.putText(bgr, tag, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, colour, thickness,
                    cv2.LINE_AA)
    text = name if state == IDLE else f"{name} score {score:.2f}"
    cv2.putText(bgr, text, (6, round(22 * font_scale / 0.5)), cv2.FONT_HERSHEY_SIMPLEX,
                font_scale, colour, thickness, cv2.LINE_AA)
    return bgr


def build_image(bgr: np.ndarray, header: Any, types: MessageTypes | None = None) -> Any:
    """Return a ``bgr8`` ``sensor_msgs/Image`` carrying the given header."""
    return fill_image_msg((types or ros_types()).Image(), bgr, header)


# The format field of a JPEG CompressedImage: the message's documented value. image_transport's
# own "bgr8; jpeg compressed bgr8" is not read by Foxglove's viewer, while image_transport's
# subscriber (rviz, rqt_image_view) decodes a plain "jpeg" as bgr8.
JPEG_FORMAT = "jpeg"


def build_compressed_image(bgr: np.ndarray, header: Any, quality: int,
                           message: Callable[[], Any] | None = None) -> Any:
    """Return a JPEG ``sensor_msgs/CompressedImage`` of a BGR image (``quality`` 1..100)."""
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG encoding of a {bgr.shape} image failed")
    if message is None:
        from sensor_msgs.msg import CompressedImage as message
    msg = message()
    msg.header = header
    msg.format = JPEG_FORMAT
    msg.data = data.tobytes()
    return msg
