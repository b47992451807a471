# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS Python checks (flake8, pep257, copyright) as part of the test suite, through ruff."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEADER = ["# Copyright 2026 The rtmdnet_ros Authors", "# SPDX-License-Identifier: Apache-2.0"]
# Python files without a .py suffix: the `ros2 run` executables.
EXTRA_PYTHON_DIRS = ("scripts",)
SKIP_DIRS = {".git", ".venv", "build", "install", "log", "__pycache__", ".pytest_cache"}


def python_files() -> list[Path]:
    """Return the repository's Python files: tracked and new ones, never ignored ones."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if listing.returncode == 0:
        candidates = [REPO / name for name in listing.stdout.split("\0") if name]
    else:  # not a git checkout (e.g. an exported tarball): walk the tree instead
        candidates = []
        for root, dirs, files in os.walk(REPO):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            candidates += [Path(root) / name for name in files]
    return sorted(
        path
        for path in candidates
        if path.is_file()
        and (path.suffix == ".py" or path.parent.name in EXTRA_PYTHON_DIRS)
    )


def test_ruff_check_is_clean():
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "--version"], capture_output=True, text=True
    )
    if ruff.returncode != 0:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("ruff not installed in the test environment")
        pytest.skip("ruff not installed: run `make test`")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_python_file_carries_the_licence_header():
    files = python_files()
    assert REPO / "tools" / "setup_env.py" in files  # the listing itself works
    missing = []
    for path in files:
        lines = path.read_text(errors="replace").splitlines()
        if lines and lines[0].startswith("#!"):
            lines = lines[1:]
        if lines[:2] != HEADER:
            missing.append(str(path.relative_to(REPO)))
    assert missing == [], f"files without the two licence lines: {missing}"
