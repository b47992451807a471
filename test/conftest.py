# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Keep the tests' DDS traffic on this machine and in a domain of each test module's own.

Several test runs (CI jobs, developers) may share one host: random domain ids keep their topics
apart, and LOCALHOST discovery keeps them off the network. Every test module gets a fresh id, so
a node another module left behind (or is still stopping) cannot answer this module's calls or
share its topics. Set before rclpy initialises a context or a node process starts: rclpy and
the node processes read it then.
"""

import os
import random

import pytest

# 1..101: ids whose Fast DDS ports stay below the Linux ephemeral port range.
os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(1, 101))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Deprecated since Jazzy in favour of the variable above; a stale value only adds warnings.
os.environ.pop("ROS_LOCALHOST_ONLY", None)


_DOMAINS = list(range(1, 102))
random.SystemRandom().shuffle(_DOMAINS)


@pytest.fixture(autouse=True, scope="module")
def _module_dds_domain():
    """A domain id no earlier module of this session used (ids cycle after 101 modules)."""
    domain = _DOMAINS.pop(0)
    _DOMAINS.append(domain)
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    yield


_SHM_BEFORE: set[str] = set()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Note the Fast DDS files in /dev/shm before any test process starts."""
    from shm_segments import listing

    _SHM_BEFORE.update(listing())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the segment files this session's killed processes left (test/shm_segments.py)."""
    from shm_segments import remove_orphans

    removed = remove_orphans(_SHM_BEFORE, settle_s=1.0)
    if removed:
        print(f"\nremoved {removed} Fast DDS shared-memory file(s) left by ended test processes")
