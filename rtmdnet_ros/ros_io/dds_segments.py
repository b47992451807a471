# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Remove the Fast DDS shared-memory segment of this process from /dev/shm when it stops.

Why: Fast DDS removes a participant's segment file only when the participant is destroyed, and
in our programs that happens at the interpreter's exit, if at all: the nodes' callbacks tie them
into reference cycles through rclpy's C++ side, and the exit skips the last garbage collection
(``gc.freeze`` in ``cli.stop_ros``). The file then outlives the process, and with the shipped
profile it holds up to 64 MB of memory for each run (docs/node.md, "Transport"). A segment is
this process's when it holds the lock on the segment's ``_el`` file, as Fast DDS's owner does;
the shared port files (``fastdds_port*``) belong to every process and are left alone, and so do
the segments of other processes that this one reads (it may hold their ``_el`` files open).
Unlinking a mapped file is safe: the mappings, ours and any reader's, stay valid until unmapped.
It is done at the interpreter's exit, not when one context shuts down: Fast DDS may keep one
segment for every participant of the process, and a program that goes on with DDS after
``stop_ros`` (a test process) would publish through a file no reader can open any more.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
from pathlib import Path

LOG = logging.getLogger(__name__)

SHM = Path("/dev/shm")
# A participant's lock file: fastdds_<16 hex digits>_el (the port files are fastdds_port<N>).
SEGMENT_LOCK = re.compile(r"^fastdds_([0-9a-f]{16})_el$")


def _flocked_inodes(pid: int, locks: Path = Path("/proc/locks")) -> set[int]:
    """Inodes of the files process ``pid`` holds a flock on (Linux's /proc/locks)."""
    inodes: set[int] = set()
    try:
        lines = locks.read_text().splitlines()
    except OSError:
        return inodes
    for line in lines:
        fields = line.replace("->", " ").split()
        # "<n>: FLOCK ADVISORY WRITE <pid> <major>:<minor>:<inode> <start> <end>"
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[4] == str(pid):
            try:
                inodes.add(int(fields[5].rsplit(":", 1)[1]))
            except (IndexError, ValueError):
                continue
    return inodes


def own_segments(pid: int | None = None) -> list[Path]:
    """Return the segment files (with their lock files) process ``pid`` (default: this) owns.

    Owned: the process holds the flock on the segment's ``_el`` file. A reader of another
    process's segment may hold that file open too, without the lock: it is not its own.
    """
    pid = os.getpid() if pid is None else pid
    locked = _flocked_inodes(pid)
    found: list[Path] = []
    try:
        entries = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # not Linux, or /proc hidden: nothing to do
        return found
    for entry in entries:
        try:
            target = Path(os.readlink(entry))
            match = SEGMENT_LOCK.match(target.name)
            if not match or target.parent != SHM or target.stat().st_ino not in locked:
                continue
        except OSError:
            continue
        found += [SHM / f"fastdds_{match.group(1)}", target]
    return found


_REGISTERED: list[bool] = []


def release_own_segments_at_exit() -> None:
    """Have :func:`release_own_segments` run when the interpreter exits (registered once)."""
    if not _REGISTERED:
        _REGISTERED.append(True)
        atexit.register(release_own_segments)


def release_own_segments() -> int:
    """Unlink this process's segment files (after rclpy's shutdown); how many were removed."""
    removed = 0
    for path in own_segments():
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:  # the participant was destroyed after all, and took it
            pass
        except OSError as exc:
            LOG.debug("cannot remove %s: %s", path, exc)
    return removed
