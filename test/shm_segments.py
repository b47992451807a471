# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Fast DDS shared-memory files the test processes leave behind, removed after the session.

Why: a process that ends without closing its DDS participant (killed on purpose by an exit test,
stopped by a timeout, a crash a test provokes) leaves its segment file in /dev/shm, and with the
shipped profile (config/fastdds.xml) a segment holds up to 64 MB of the frames it carried. The
files are memory: a few runs of the suite on one machine filled 19 GB of it. Only files that
appeared during this session and that no live process maps are removed; segments of other
sessions' running nodes and of anything started before stay.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

SHM = Path("/dev/shm")
PREFIX = "fastdds_"


def listing(root: Path = SHM) -> set[str]:
    """Names of the Fast DDS files in ``root`` now (empty where there is no /dev/shm)."""
    try:
        return {p.name for p in root.iterdir() if p.name.startswith(PREFIX)}
    except OSError:
        return set()


def mapped_names(root: Path = SHM) -> set[str]:
    """Names of the files under ``root`` that some live process has mapped (from /proc)."""
    names: set[str] = set()
    marker = f"{root}/"
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            text = maps.read_text()
        except OSError:  # the process ended, or is not ours to read
            continue
        for line in text.splitlines():
            if marker in line:
                names.add(line.split(marker, 1)[1].replace(" (deleted)", "").strip())
    return names


def remove_orphans(before: set[str], root: Path = SHM, settle_s: float = 0.0,
                   min_age_s: float = 10.0, prefix: str = PREFIX) -> int:
    """Remove Fast DDS files created since ``before`` that no live process maps; their count.

    A segment's companion files (``_el`` lock files, port queues) go with the same rule: a file
    is kept while it or the segment it belongs to is mapped. Files younger than ``min_age_s``
    stay: another run's participant may have created one and not mapped it yet.
    """
    if settle_s:
        time.sleep(settle_s)  # processes that are exiting right now release their maps
    live = mapped_names(root)
    now = time.time()
    removed = 0
    for name in sorted(listing(root) - before):
        base = name[: -len("_el")] if name.endswith("_el") else name
        if not name.startswith(prefix) or name in live or base in live:
            continue
        try:
            if now - (root / name).stat().st_mtime < min_age_s:
                continue
        except OSError:
            continue
        try:
            (root / name).unlink()
            removed += 1
        except OSError:  # gone meanwhile, or not ours
            pass
    return removed


# Fast DDS's port numbers for domain d (RTPS defaults: 7400 + 250 * d, then offsets below 250);
# a shared-memory port is named after its number: fastdds_port<N>, its listener's lock file
# fastdds_port<N>_el and its mutex sem.fastdds_port<N>_mutex.
PORT_BASE, DOMAIN_GAIN = 7400, 250


def _listener_alive(lock_file: Path) -> bool:
    """Whether some process holds the listener's lock on ``lock_file`` (as Fast DDS's does)."""
    try:
        fd = os.open(lock_file, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops a lock this probe took
    return False


def clear_dead_ports(domain: int, root: Path = SHM) -> int:
    """Remove the shared-memory ports of ``domain`` that no live process uses; their count.

    Why: a process that died without closing its participant leaves its port behind. When the
    next participant with the same number opens it, Fast DDS finds it abandoned and makes it
    anew; a peer that had opened the old one a moment before writes into a removed file, and
    everything it sends that participant is lost (a whole module's node never answering the
    test's client). Called for a domain this run has just claimed, before any of its processes
    start: a port nobody maps and nobody listens on is dead.
    """
    first = PORT_BASE + DOMAIN_GAIN * domain
    live = mapped_names(root)
    removed = 0
    for port in range(first, first + DOMAIN_GAIN):
        name = f"{PREFIX}port{port}"
        files = [root / name, root / f"{name}_el", root / f"sem.{name}_mutex"]
        if not any(path.exists() for path in files):
            continue
        if any(path.name in live for path in files) or _listener_alive(files[1]):
            continue
        for path in files:
            try:
                path.unlink()
                removed += 1
            except OSError:  # absent, or not ours
                pass
    return removed
