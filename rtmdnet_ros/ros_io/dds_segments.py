# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Remove the Fast DDS shared-memory segment of this process from /dev/shm when it stops.

Why: Fast DDS removes a participant's segment file only when the participant is destroyed, and
in our programs that happens at the interpreter's exit, if at all: the nodes' callbacks tie them
into reference cycles through rclpy's C++ side, and the exit skips the last garbage collection
(``gc.freeze`` in ``cli.stop_ros``). The file then outlives the process, and with the shipped
profile it holds up to 64 MB of memory for each run (docs/node.md, "Transport"). A segment is
this process's when it holds the lock on the segment's ``_el`` file, as Fast DDS's owner does;
the shared port files (``fastdds_port*``) belong to every process and are left alone. Unlinking
a mapped file is safe: the mappings, ours and any reader's, stay valid until they are unmapped.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

LOG = logging.getLogger(__name__)

SHM = Path("/dev/shm")
# A participant's lock file: fastdds_<16 hex digits>_el (the port files are fastdds_port<N>).
SEGMENT_LOCK = re.compile(r"^fastdds_([0-9a-f]{16})_el$")


def own_segments(fd_dir: Path = Path("/proc/self/fd")) -> list[Path]:
    """Return the segment files (with their lock files) this process holds open: its own."""
    found: list[Path] = []
    try:
        entries = list(fd_dir.iterdir())
    except OSError:  # not Linux, or /proc hidden: nothing to do
        return found
    for entry in entries:
        try:
            target = Path(os.readlink(entry))
        except OSError:
            continue
        match = SEGMENT_LOCK.match(target.name)
        if match and target.parent == SHM:
            found += [SHM / f"fastdds_{match.group(1)}", target]
    return found


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
