# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker node's published topics and their QoS.

The node holds its publishers in a dict keyed by :class:`Output`, so what it publishes on is
named in the code (never looked up by attribute name), and ``rtmdnet-bag`` can record with the
same QoS the node offers.
"""

from __future__ import annotations

from enum import Enum

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

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
