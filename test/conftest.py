# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Keep the tests' DDS traffic on this machine and in a domain of each test module's own.

Several test runs (CI jobs, developers, two checkouts) may share one host: each module claims a
domain id no other run on the machine holds (test/dds_domains.py: a lock file per id), and
LOCALHOST discovery keeps the traffic off the network. Every module gets a fresh id, so a node
another module left behind (or is still stopping) cannot answer this module's calls or share its
topics. Set before rclpy initialises a context or a node process starts: rclpy and the node
processes read it then.
"""

import os

import pytest
from dds_domains import DomainPicker
from shm_segments import clear_dead_ports

# `make test` runs modules in two pytest-xdist workers on a 2-core machine: one compute thread per
# worker (and per process it starts), or two workers' torch and OpenMP pools would fight over the
# cores and spin at their barriers. Before anything imports torch; a value already set wins.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

_PICKER = DomainPicker()


def _claim_domain() -> None:
    """Claim a fresh domain for what starts next, with the ports dead processes left in it
    removed first (test/shm_segments.py, ``clear_dead_ports``)."""
    domain = _PICKER.next()
    clear_dead_ports(domain)
    os.environ["ROS_DOMAIN_ID"] = str(domain)


# Claimed at import: anything that starts before the first module's fixture has a domain too.
_claim_domain()
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Deprecated since Jazzy in favour of the variable above; a stale value only adds warnings.
os.environ.pop("ROS_LOCALHOST_ONLY", None)


@pytest.fixture(autouse=True, scope="module")
def _module_dds_domain():
    """A domain id free on this machine that no earlier module of this session used, held until
    the next module claims its own (ids cycle after 101 modules)."""
    _claim_domain()
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


def pytest_unconfigure(config: pytest.Config) -> None:
    _PICKER.release()
