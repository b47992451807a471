# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS-message layer: image conversion, output messages and the executables' CLI helpers.

No node lives here, and no module imports rclpy at load time: the message builders take the
message classes as an argument (rclpy's in the node, rosbags' in ``rtmdnet-bag``), so ``node/``
and ``bag/`` share one code path without either importing the other.
"""
