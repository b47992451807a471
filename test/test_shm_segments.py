# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The suite's clean-up of Fast DDS files in /dev/shm (test/shm_segments.py) on real files."""

from __future__ import annotations

import fcntl
import mmap
import os
import uuid
from pathlib import Path

import pytest
from shm_segments import (
    DOMAIN_GAIN,
    PORT_BASE,
    PREFIX,
    SHM,
    clear_dead_ports,
    listing,
    mapped_names,
    remove_orphans,
)

pytestmark = pytest.mark.skipif(not SHM.is_dir(), reason="no /dev/shm on this machine")


def make(name: str, size: int = 4096) -> Path:
    path = SHM / name
    path.write_bytes(b"\0" * size)
    return path


def test_only_new_unmapped_files_are_removed():
    tag = uuid.uuid4().hex[:12]
    old = make(f"{PREFIX}{tag}_old")  # there before: another run's, or a live node's
    before = listing()
    orphan, orphan_lock = make(f"{PREFIX}{tag}_orphan"), make(f"{PREFIX}{tag}_orphan_el")
    held = make(f"{PREFIX}{tag}_held")
    held_lock = make(f"{PREFIX}{tag}_held_el")  # its segment is mapped: it stays too
    other = make(f"other_{tag}")  # not Fast DDS's
    fd = os.open(held, os.O_RDWR)
    view = mmap.mmap(fd, 4096)
    try:
        assert held.name in mapped_names()
        assert remove_orphans(before, min_age_s=0.0, prefix=f"{PREFIX}{tag}") == 2
        assert not orphan.exists() and not orphan_lock.exists()
        assert old.exists() and held.exists() and held_lock.exists() and other.exists()
        young = make(f"{PREFIX}{tag}_young")  # just created: maybe not mapped yet by its owner
        assert remove_orphans(before, prefix=f"{PREFIX}{tag}") == 0 and young.exists()
    finally:
        view.close()
        os.close(fd)
        for path in (old, held, held_lock, other, SHM / f"{PREFIX}{tag}_young"):
            path.unlink(missing_ok=True)


def test_dead_ports_of_the_claimed_domain_are_removed_live_ones_stay(tmp_path):
    domain = 7
    first = PORT_BASE + DOMAIN_GAIN * domain

    def port(number: int) -> list[Path]:
        name = f"{PREFIX}port{number}"
        files = [tmp_path / name, tmp_path / f"{name}_el", tmp_path / f"sem.{name}_mutex"]
        for path in files:
            path.write_bytes(b"\0" * 4096)
        return files

    dead, listened, mapped = port(first + 11), port(first + 13), port(first)
    elsewhere = port(first + DOMAIN_GAIN)  # the next domain's first port: not this one's
    listener = os.open(listened[1], os.O_RDONLY)
    fcntl.flock(listener, fcntl.LOCK_EX)  # as a live Fast DDS listener holds it
    fd = os.open(mapped[0], os.O_RDWR)
    view = mmap.mmap(fd, 4096)  # a writer that opened the port
    try:
        assert clear_dead_ports(domain, root=tmp_path) == 3
        assert not any(path.exists() for path in dead)
        assert all(path.exists() for path in listened + mapped + elsewhere)
        os.close(listener)  # the listener is gone; the writer still maps its port
        listener = -1
        assert clear_dead_ports(domain, root=tmp_path) == 3
        assert not any(path.exists() for path in listened)
        assert all(path.exists() for path in mapped)
    finally:
        view.close()
        os.close(fd)
        if listener >= 0:
            os.close(listener)
