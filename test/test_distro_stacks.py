# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS-free core under Humble's and Jazzy's Python stacks (short form; tools/distro_stacks.py).

Humble runs the package on CPython 3.10 + NumPy 1.21 + OpenCV 4.5.4, Jazzy on 3.12 + 1.26 + 4.6
(their apt versions); the project venv has 3.11 + NumPy 2 + OpenCV 5. Each stack gets its own
venv (``.venv-humble``, ``.venv-jazzy``; made once and reused), the
torch- and ROS-free core tests run there, and the core's results on fixed inputs must be equal
in all three. Not covered: the tracker (no CPU torch for 3.10/3.12 reachable), see docs/setup.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "tools" / "distro_stacks.py"
STACKS = ("humble", "jazzy")


def run_tool(*args: str, python: str = sys.executable,
             timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, str(TOOL), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def stacks() -> dict[str, Path]:
    """Make (or reuse) both venvs; skip without Python 3.10/3.12 (fail under CI)."""
    result = run_tool("--setup-only")
    if result.returncode == 2 or "skipped" in result.stdout:
        reason = f"a distro Python is missing here:\n{result.stdout}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    assert result.returncode == 0, result.stdout + result.stderr
    return {name: REPO / f".venv-{name}" / "bin" / "python" for name in STACKS}


@pytest.mark.parametrize("name", STACKS)
def test_core_tests_pass_under_the_distro_stack(stacks, name):
    result = run_tool("--stack", name, timeout=1800)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    versions = {"humble": "3.10.", "jazzy": "3.12."}[name]
    numpy_cv = {"humble": " 1.21.6 4.5.4", "jazzy": " 1.26.4 4.6.0"}[name]
    assert f"{name}: Python, NumPy, OpenCV = {versions}" in output and numpy_cv in output, output
    assert " passed" in output and " failed" not in output, output[-3000:]


def test_core_results_equal_across_the_three_stacks(stacks):
    """Same inputs, same results: image conversion, seeded sampling, metrics, PNG decode."""
    here = json.loads(run_tool("--digest").stdout)
    assert len(here) > 30
    for name, python in stacks.items():
        result = run_tool("--digest", python=str(python), timeout=300)
        assert result.returncode == 0, result.stderr
        there = json.loads(result.stdout)
        differ = {k: (here[k], there.get(k)) for k in here if here[k] != there.get(k)}
        assert differ == {}, f"{name} differs from the project venv: {differ}"
