# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Session-wide settings: keep the tests' DDS traffic on this machine and in its own domain.

Several test runs (CI jobs, developers) may share one host: a random domain id per session keeps
their topics apart, and LOCALHOST discovery keeps them off the network. Set before any test
imports rclpy, because rclpy reads them when a context is initialised.
"""

import os
import random

# 1..101: ids whose Fast DDS ports stay below the Linux ephemeral port range.
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Deprecated since Jazzy in favour of the variable above; a stale value only adds warnings.
os.environ.pop("ROS_LOCALHOST_ONLY", None)
