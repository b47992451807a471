# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""DDS domain ids claimed for a test module, never shared by two test runs on one machine.

Random ids alone collide when two checkouts test at once (their nodes would answer each other's
calls). A claim is an exclusive ``flock`` on ``<tmp>/rtmdnet_ros-dds-domains/<id>.lock``: the
kernel drops it when the holder closes the file or dies, so a crashed run leaves nothing stale,
and a busy id is simply skipped for the next one.
"""

from __future__ import annotations

import errno
import fcntl
import os
import random
import tempfile
from pathlib import Path

# 1..101: ids whose Fast DDS ports stay below the Linux ephemeral port range.
DOMAINS = range(1, 102)
LOCK_DIR = Path(tempfile.gettempdir()) / "rtmdnet_ros-dds-domains"


class DomainClaim:
    """One claimed domain id; the claim lasts until :meth:`release` (or the process ends)."""

    def __init__(self, domain: int, fd: int) -> None:
        self.domain = domain
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


def _lock_dir(lock_dir: Path) -> Path:
    """The folder of lock files, usable by every user of the machine (sticky, like /tmp)."""
    if not lock_dir.is_dir():
        lock_dir.mkdir(parents=True, exist_ok=True)
        try:
            lock_dir.chmod(0o1777)
        except OSError:  # made by another user at the same moment
            pass
    return lock_dir


def try_claim(domain: int, lock_dir: Path = LOCK_DIR) -> DomainClaim | None:
    """Claim ``domain`` if no process (this one included) holds it; None when it is taken."""
    path = _lock_dir(lock_dir) / f"{domain}.lock"
    # Read-only is enough for flock, and works on a lock file another user created.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EACCES):
            return None
        raise
    return DomainClaim(domain, fd)


class DomainPicker:
    """Claims a fresh domain per test module: free on this machine, and (until the ids run out)
    none an earlier module of this session used, so a node one module left behind cannot answer
    the next one's calls."""

    def __init__(self, lock_dir: Path = LOCK_DIR, seed: int | None = None) -> None:
        self._lock_dir = lock_dir
        self._order = list(DOMAINS)
        random.Random(seed if seed is not None else random.SystemRandom().random()).shuffle(
            self._order)
        self.current: DomainClaim | None = None

    def next(self) -> int:
        """Claim the next free id, then release the previous one; return the new id (the
        previous one again only when no other id is free on this machine)."""
        for _ in range(len(self._order)):
            domain = self._order.pop(0)
            self._order.append(domain)  # used ids go to the back: cycled last
            claim = try_claim(domain, self._lock_dir)
            if claim is not None:
                if self.current is not None:
                    self.current.release()
                self.current = claim
                return domain
        if self.current is not None:  # only ours is free: keep it rather than fail
            return self.current.domain
        raise RuntimeError(f"every DDS domain id {DOMAINS.start}..{DOMAINS.stop - 1} is held by "
                           f"another test run on this machine (locks in {self._lock_dir})")

    def release(self) -> None:
        if self.current is not None:
            self.current.release()
            self.current = None
