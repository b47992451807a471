# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's allocator settings, in a fresh process: frame-sized blocks go back to the system."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# After a freed 1 MB block, glibc's dynamic threshold would serve a 900 kB block (a frame) from
# an arena; the fixed threshold keeps it mmapped (mallinfo2's hblks counts mmapped blocks).
PROBE = """
import ctypes, json
from rtmdnet_ros.node.allocator import limit_allocator_growth

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

applied = limit_allocator_growth()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
before = libc.mallinfo2().hblks
libc.free(libc.malloc(1 << 20))
frame = libc.malloc(900_000)
print(json.dumps({"applied": applied, "mmapped": libc.mallinfo2().hblks - before}))
libc.free(frame)
"""


def _run(env_extra: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt only")
def test_frames_are_mmapped_unless_the_environment_tunes_the_allocator_itself():
    tuned = _run({})
    assert tuned == {"applied": ["MALLOC_ARENA_MAX=2", "MALLOC_MMAP_THRESHOLD_=262144"],
                     "mmapped": 1}
    own = _run({"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": "2000000"})
    assert own == {"applied": [], "mmapped": 0}  # the user's threshold, above a frame, kept
    assert _run({"MALLOC_ARENA_MAX": "4"})["applied"] == ["MALLOC_MMAP_THRESHOLD_=262144"]
