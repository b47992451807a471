# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 side of rtmdnet_ros: the tracker node and its tool nodes (publisher, recorder, demo).

Only this sub-package imports rclpy; ``image_conversion`` and ``frame_cache`` stay ROS-free so they
can be tested and reused without a ROS installation.
"""
