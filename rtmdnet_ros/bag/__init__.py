# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``rtmdnet-bag``: track a target through a recorded rosbag2, offline, every frame, no ROS.

``types`` builds the rosbags type stores (ROS 2 Kilted's standard types, ``vision_msgs`` and our
``TrackerStatus`` from their ``.msg`` files) and default-valued messages, so the node's own
message builders (``rtmdnet_ros.ros_io.messages``) fill the offline output too. ``reading``
opens the bag and decodes its images, ``schedule`` decides when a track starts and on which box,
``outputs`` holds the writers, ``tool`` streams the bag through the tracker and the outputs;
``cli`` is the command line. See docs/bag.md.
"""
