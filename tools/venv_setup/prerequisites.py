# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What must exist before minutes of downloads and builds: Python 3.11, compilers, a registry."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .layout import REQUIRED_PYTHON
from .process import SetupError


def find_base_python(explicit: str | None) -> str:
    """Pick a CPython 3.11 to create the venv with: --python, $PYTHON, this one, or python3.11."""
    candidates = [explicit, os.environ.get("RTMDNET_PYTHON"), sys.executable, "python3.11"]
    wanted = "{}.{}".format(*REQUIRED_PYTHON)
    for candidate in candidates:
        if not candidate:
            continue
        exe = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if not exe:
            continue
        probe = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == wanted:
            return exe
    raise SetupError(
        f"no Python {wanted} found (the ROS 2 Kilted wheels on PyPI are built for "
        f"CPython {wanted} only); install python{wanted} or pass --python /path/to/python{wanted}"
    )


def check_build_tools(python: str) -> None:
    """Fail early, naming the missing piece, when the interface builds cannot work."""
    missing = []
    if not shutil.which("cmake"):
        missing.append("cmake not found on PATH (Debian/Ubuntu: apt-get install cmake)")
    if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        missing.append("no C compiler (cc/gcc) on PATH (apt-get install build-essential)")
    if not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        missing.append("no C++ compiler (c++/g++) on PATH (apt-get install build-essential)")
    if not (shutil.which("make") or shutil.which("ninja")):
        missing.append("no build tool (make) on PATH (apt-get install make)")
    include = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not include or not (Path(include) / "Python.h").is_file():
        missing.append(
            f"Python headers missing (no Python.h in {include or '?'}; "
            "apt-get install python3.11-dev)"
        )
    if missing:
        raise SetupError("cannot build the ROS interfaces:\n  - " + "\n  - ".join(missing))


def pip_index_url() -> str:
    """Return the package index pip uses by default, to tell an offline machine apart."""
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def registry_problem() -> str | None:
    """Return why the package index cannot be reached, or None when it answers."""
    url = pip_index_url() + "/ros-rclpy/"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 (fixed URL)
            response.read(1)
    except (urllib.error.URLError, OSError) as err:
        return f"package registry unreachable: {url} ({err})"
    return None
