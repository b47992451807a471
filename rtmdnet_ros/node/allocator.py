# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Keep glibc's allocator from holding on to camera frames the node has long let go of.

A node that lives for hours receives a megabyte-sized image many times a second on DDS threads,
and trains on other threads. glibc gives each thread that allocates an arena of its own (up to
eight per core) and, once a large block has been freed, raises its mmap threshold so that later
frames come from those arenas instead of from mmap: the freed frames then stay in the process as
fragmented arena memory, and the resident size climbs in steps with every init. Two arenas and a
fixed threshold (mallopt(3): a fixed value also turns the dynamic raising off) send every frame
buffer to mmap, returned to the system when freed. The environment's own MALLOC_ARENA_MAX /
MALLOC_MMAP_THRESHOLD_ win: a user who tuned the allocator keeps the tuning.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_MMAP_THRESHOLD = -3  # mallopt(3) parameter numbers, glibc's malloc.h
M_ARENA_MAX = -8
ARENAS = 2  # the frame path and the training threads: more only fragments
MMAP_THRESHOLD_BYTES = 256 * 1024  # below a 320x240 RGB frame, above a model's small tensors


def limit_allocator_growth() -> list[str]:
    """Apply the settings not given in the environment; return what was set ("" on non-glibc).

    Call it first thing in a process, before threads exist: a thread keeps the arena it got.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return []
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return []
    applied = []
    for env, param, value in (("MALLOC_ARENA_MAX", M_ARENA_MAX, ARENAS),
                              ("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)):
        if env not in os.environ and mallopt(param, value) == 1:
            applied.append(f"{env}={value}")
    return applied
