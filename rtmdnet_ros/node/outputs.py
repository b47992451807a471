# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker node's published topics, their QoS, and the publishing of its answers.

The publishers live in a dict keyed by :class:`Output`, so what the node publishes on is named
in the code (never looked up by attribute name), and ``rtmdnet-bag`` can record with the same
QoS the node offers. :class:`NodeOutputs` is the one place an answer becomes messages.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray

from rtmdnet_ros.msg import TrackerStatus
from rtmdnet_ros.node.health import AnswerLog
from rtmdnet_ros.ros_io.image_conversion import rgb_to_bgr
from rtmdnet_ros.ros_io.messages import (
    answer_messages,
    build_compressed_image,
    build_image,
    build_status,
    draw_debug,
)
from rtmdnet_ros.ros_io.stamps import header_stamp_ns
from rtmdnet_ros.track_session import FrameOutcome, SessionStatus

# Outputs are RELIABLE so every subscriber (reliable or best-effort) matches.
OUTPUT_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
)
DEBUG_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
    history=HistoryPolicy.KEEP_LAST,
    depth=2,
)


class Output(Enum):
    """One published topic of the node; the value is its name relative to the node."""

    DETECTIONS = "~/detections"
    STATUS = "~/status"
    DEBUG_IMAGE = "~/debug_image"
    # image_transport's name for the compressed transport of ~/debug_image (rviz, Foxglove).
    DEBUG_IMAGE_COMPRESSED = "~/debug_image/compressed"


def advertise(node: Node) -> dict[Output, Any]:
    """Create the node's publishers, each output with its message type and QoS.

    The detections publisher also takes ``qos_overrides.<topic>.publisher.*`` (docs/node.md).
    """
    return {
        Output.DETECTIONS: node.create_publisher(
            Detection2DArray, Output.DETECTIONS.value, OUTPUT_QOS,
            qos_overriding_options=QoSOverridingOptions.with_default_policies()),
        Output.STATUS: node.create_publisher(TrackerStatus, Output.STATUS.value, OUTPUT_QOS),
        Output.DEBUG_IMAGE: node.create_publisher(Image, Output.DEBUG_IMAGE.value, DEBUG_QOS),
        Output.DEBUG_IMAGE_COMPRESSED: node.create_publisher(
            CompressedImage, Output.DEBUG_IMAGE_COMPRESSED.value, DEBUG_QOS),
    }


class NodeOutputs:
    """The publishers from activate to deactivate, and the one way an answer goes out.

    Answers go out in stamp order or not at all: an answer older than one already published
    (an init on a cached frame after newer frames were answered, and its catch-up up to them) is
    tracked but not published, since consumers matching by stamp must never see time go back.
    The worker publishes while the executor may be deactivating the node: publishers are
    created, looked up and destroyed under one lock, so nothing is published on a destroyed one.
    """

    def __init__(self, node: Node, device: str, frames_dropped: Callable[[], int],
                 image_age: Callable[[], float], publish_debug: bool = True) -> None:
        """Take the shared counters the statuses report.

        ``frames_dropped()``: frames no target was handed (each status adds its target's
        ``frames_unanswered``); ``image_age()``: seconds since the last image arrived (-1
        before the first).
        """
        self._node = node
        self._device = device
        self._frames_dropped = frames_dropped
        self._image_age = image_age
        self.publish_debug = publish_debug
        self._lock = threading.RLock()
        self._pubs: dict[Output, Any] = {}
        self._newest_ns = -1  # stamp of the newest answer published
        self.last_header: Any = None  # of that answer: a status without a frame repeats it
        self.last_status = time.monotonic()  # when a status was last published
        self.out_of_order = 0  # answers not published because a newer one was
        self.answers = AnswerLog()  # what /diagnostics reports of the published answers
        self._more_answers: dict[int, AnswerLog] = {}  # of the targets after the first
        self.debug_drawn = 0  # debug images drawn (someone subscribed to either topic)
        self.debug_encoded = 0  # of those, JPEG-encoded for ~/debug_image/compressed

    def open(self) -> None:
        """Advertise the outputs (activate)."""
        with self._lock:
            self._pubs = advertise(self._node)
            self.last_status = time.monotonic()

    def close(self) -> None:
        """Destroy the publishers (deactivate); later publishes are dropped."""
        with self._lock:
            for pub in self._pubs.values():
                self._node.destroy_publisher(pub)
            self._pubs = {}

    def topics(self) -> list[str]:
        """Return the resolved names of the open outputs, for the start-up line."""
        with self._lock:
            return [pub.topic_name for pub in self._pubs.values()]

    def _publish(self, output: Output, msg: Any) -> None:
        with self._lock:
            pub = self._pubs.get(output)
            if pub is not None:
                pub.publish(msg)
                if output is Output.STATUS:
                    self.last_status = time.monotonic()

    def _claim(self, header: Any) -> int | None:
        """Take ``header`` as the newest answered frame (lock held); None when it is older."""
        stamp = header_stamp_ns(header)
        if stamp < self._newest_ns:
            self.out_of_order += 1
            return None
        self._newest_ns, self.last_header = stamp, header
        return stamp

    def _dropped(self, status: SessionStatus) -> int:
        """Frames never answered for ``status``'s target: the shared drops and its own."""
        return self._frames_dropped() + status.frames_unanswered

    def answer(self, header: Any, answer: FrameOutcome, status: SessionStatus) -> bool:
        """Publish a frame's (or an init's) detections and status; False when out of order."""
        with self._lock:
            stamp = self._claim(header)
            if stamp is None:
                return False
            detections, status_msg = answer_messages(
                header, answer, status, self._dropped(status), self._device,
                seconds_since_image=self._image_age())
            self._publish(Output.DETECTIONS, detections)
            self._publish(Output.STATUS, status_msg)
        self.answers.record(time.monotonic(), stamp, time.time_ns(), answer.state)
        return True

    def answers_for(self, slot: int) -> AnswerLog:
        """Return the answer log of the target in ``slot`` (0: the first target's, ``answers``)."""
        with self._lock:
            return self.answers if slot == 0 else self._more_answers.setdefault(slot,
                                                                               AnswerLog())

    def answer_targets(self, header: Any, answers: list[tuple[int, FrameOutcome, SessionStatus]]
                       ) -> bool:
        """Publish one frame's answer for several targets: one array, a status per target.

        ``answers``: (slot, outcome, status) of each target answering the frame. The array
        holds a ``Detection2D`` per TRACKING target (its id the track id); the statuses follow,
        each with its track id. False when out of order (nothing published).
        """
        with self._lock:
            stamp = self._claim(header)
            if stamp is None:
                return False
            array, statuses = None, []
            for _, outcome, status in answers:
                detections, status_msg = answer_messages(
                    header, outcome, status, self._dropped(status), self._device,
                    seconds_since_image=self._image_age())
                if array is None:
                    array = detections
                else:
                    array.detections.extend(detections.detections)
                statuses.append(status_msg)
            if array is not None:
                self._publish(Output.DETECTIONS, array)
            for status_msg in statuses:
                self._publish(Output.STATUS, status_msg)
        now, wall = time.monotonic(), time.time_ns()
        for slot, outcome, _ in answers:
            self.answers_for(slot).record(now, stamp, wall, outcome.state)
        return True

    def status(self, status: SessionStatus, message: str = "") -> None:
        """Publish the status alone (a reset, or the heartbeat), on the last answer's header."""
        with self._lock:
            header = self.last_header
            if header is None:
                header = Header()
            self._publish(Output.STATUS, build_status(
                header, status.state, status.raw, status.track_id, status.processing_ms,
                status.frames_processed, self._dropped(status), self._device,
                score=status.score, seconds_since_image=self._image_age(), message=message))

    def debug_image(self, rgb: np.ndarray, header: Any, answer: FrameOutcome) -> None:
        """Draw the debug image once while anyone subscribes to either topic.

        The JPEG is encoded only while someone subscribes to the compressed one: encoding
        costs several times the drawing, and a viewer of the raw topic does not need it.
        """
        self.debug_targets(rgb, header, [answer])

    def debug_targets(self, rgb: np.ndarray, header: Any, answers: list[FrameOutcome]) -> None:
        """Draw every target's box on one debug image (see :meth:`debug_image`)."""
        with self._lock:
            if not self.publish_debug:
                return
            raw, jpeg = (self._pubs.get(o) for o in (Output.DEBUG_IMAGE,
                                                     Output.DEBUG_IMAGE_COMPRESSED))
            want_raw = raw is not None and raw.get_subscription_count() > 0
            want_jpeg = jpeg is not None and jpeg.get_subscription_count() > 0
        if not (want_raw or want_jpeg):
            return
        bgr = rgb_to_bgr(rgb)
        for answer in answers:  # the corner line is the last target's; each box has its id
            draw_debug(bgr, answer.state, answer.box, answer.score, answer.track_id,
                       answer.label)
        self.debug_drawn += 1
        if want_raw:
            self._publish(Output.DEBUG_IMAGE, build_image(bgr, header))
        if want_jpeg:
            quality = int(self._node.get_parameter("debug_image_jpeg_quality").value)
            self._publish(Output.DEBUG_IMAGE_COMPRESSED,
                          build_compressed_image(bgr, header, quality))
            self.debug_encoded += 1
