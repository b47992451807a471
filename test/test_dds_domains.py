# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Domain ids claimed per test module (test/dds_domains.py): two test runs on one machine never
share one, a run never reuses one within its first 101 modules, and a dead run frees its id."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dds_domains import DOMAINS, LOCK_DIR, DomainPicker, try_claim

HERE = Path(__file__).resolve().parent


def test_this_module_holds_its_domain():
    """conftest.py's claim is in force: nobody else on the machine may take this module's id."""
    domain = int(os.environ["ROS_DOMAIN_ID"])
    assert domain in DOMAINS
    assert try_claim(domain, LOCK_DIR) is None


def test_two_runs_with_the_same_order_get_different_domains(tmp_path):
    first, second = DomainPicker(tmp_path, seed=7), DomainPicker(tmp_path, seed=7)
    ids = [first.next(), second.next()]
    assert ids[0] != ids[1]
    # The next module of each: still apart, and each run left its former id free.
    moved = [first.next(), second.next()]
    assert len({*moved}) == 2 and not {*moved} & {*ids}
    for freed in ids:
        claim = try_claim(freed, tmp_path)
        assert claim is not None, f"domain {freed} still held after its module"
        claim.release()
    first.release()
    second.release()


def test_another_process_holding_a_domain_is_skipped_until_it_ends(tmp_path):
    """The case the lock is for: a second test run (another process) on the same machine."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(HERE)!r})
            from pathlib import Path
            from dds_domains import DomainPicker
            picker = DomainPicker(Path({str(tmp_path)!r}), seed=3)
            print(picker.next(), flush=True)
            sys.stdin.readline()  # hold the claim until the test says so
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        held = int(holder.stdout.readline())
        picker = DomainPicker(tmp_path, seed=3)  # same order: its first choice is taken
        mine = picker.next()
        assert mine != held
        assert try_claim(held, tmp_path) is None
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    claim = try_claim(held, tmp_path)  # the kernel dropped the ended process's lock
    assert claim is not None
    claim.release()
    picker.release()


def test_a_session_cycles_through_every_id_before_reusing_one(tmp_path):
    picker = DomainPicker(tmp_path, seed=1)
    ids = [picker.next() for _ in DOMAINS]
    assert sorted(ids) == list(DOMAINS)
    assert picker.next() == ids[0]
    picker.release()


def test_a_full_machine_keeps_the_current_id_or_says_why(tmp_path):
    others = [try_claim(domain, tmp_path) for domain in DOMAINS[1:]]
    try:
        picker = DomainPicker(tmp_path)
        assert picker.next() == DOMAINS[0]
        assert picker.next() == DOMAINS[0]  # nothing else free: the module keeps the id it has
        picker.release()
        blocker = try_claim(DOMAINS[0], tmp_path)
        with pytest.raises(RuntimeError, match=r"every DDS domain id 1\.\.101 is held"):
            DomainPicker(tmp_path).next()
        blocker.release()
    finally:
        for claim in others:
            claim.release()
