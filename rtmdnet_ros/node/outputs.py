# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker node's published topics and their QoS.

The node holds its publishers in a dict keyed by :class:`Output`, so what it publishes on is
named in the code (never looked up by attribute name), and ``rtmdnet-bag`` can record with the
same QoS the node offers.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from rtmdnet_ros.msg import TrackerStatus

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
    }
