# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""RT-MDNet tracker for ROS 2.

The package is split across two directories in a development environment: the hand-written
modules in the source tree and the rosidl-generated ``msg``/``srv`` modules installed into the
virtualenv. ``extend_path`` lets both be imported under one name without a reinstall after edits.
"""

__path__ = __import__("pkgutil").extend_path(__path__, __name__)
