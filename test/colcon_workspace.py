# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A ROS user's setting, built from the project's venv: an underlay and a colcon workspace.

Why not run colcon from ``.venv`` as it is: that venv holds this package twice over (the
development ``.pth`` that puts the source tree on ``sys.path``, and the interfaces ``make setup``
installed), so a module or file missing from the install rules would still be found there and no
test could see it. :func:`make_underlay` therefore builds a prefix that stands in for
``/opt/ros/<distro>``: a virtualenv of the same Python whose site-packages, ``lib/``, ``share/``
and ``include/`` link to the project venv's, with every ``rtmdnet_ros`` entry (and the ``.pth``)
left out, plus a ``setup.bash`` that, like a distro's, sets ``PATH``, ``AMENT_PREFIX_PATH`` and
``CMAKE_PREFIX_PATH``. :func:`copy_sources` lays the package out as ``git clone`` would give it,
and :func:`clean_shell` runs bash with only that environment: no variable of the test session
(``PYTHONPATH``, ``VIRTUAL_ENV``, ``AMENT_PREFIX_PATH``) leaks in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv"
PACKAGE = "rtmdnet_ros"
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
# Console scripts of the underlay: the ROS 2 command line and the build tool.
UNDERLAY_SCRIPTS = ("ros2", "colcon")
# Not part of a clone (the device tool's and a developer's leftovers).
_NOT_SOURCES = {".git", ".venv", "build", "install", "log", "out", "runs", "__pycache__",
                ".pytest_cache", ".ruff_cache"}


def _ours(name: str) -> bool:
    """Whether a venv entry belongs to this package (left out of the underlay)."""
    return PACKAGE in name


def _mirror(src: Path, dst: Path, descend: set[Path]) -> None:
    """Link every entry of ``src`` into ``dst``; folders holding one of ours are rebuilt."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        if _ours(entry.name) or entry.name == "__pycache__":
            continue
        target = dst / entry.name
        if target.is_dir() and not target.is_symlink() and entry.is_dir():
            _mirror(entry, target, descend)  # made by venv (lib/pythonX.Y/site-packages)
        elif target.exists() or target.is_symlink():
            continue  # venv's own (lib64, bin/python)
        elif entry in descend and entry.is_dir() and not entry.is_symlink():
            _mirror(entry, target, descend)
        else:
            target.symlink_to(entry)


def _folders_with_ours(root: Path) -> set[Path]:
    """Every folder under ``root`` that holds (at any depth) an entry of this package."""
    found: set[Path] = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        if any(_ours(name) for name in dirs + files):
            path = Path(folder)
            while path != root.parent and path not in found:
                found.add(path)
                path = path.parent
    return found


def make_underlay(prefix: Path, venv: Path = VENV) -> Path:
    """Build the ``/opt/ros/<distro>`` stand-in at ``prefix``; return its ``setup.bash``."""
    base = Path(os.path.realpath(venv / "bin" / "python"))
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(prefix)], check=True,
                   timeout=120)
    descend = _folders_with_ours(venv) | {venv / "lib", venv / "lib" / PY,
                                          venv / "lib" / PY / "site-packages"}
    for folder in ("lib", "share", "include"):
        if (venv / folder).is_dir():
            _mirror(venv / folder, prefix / folder, descend)
    (prefix / "lib" / PY / "site-packages" / f"{PACKAGE}_dev.pth").unlink(missing_ok=True)
    for name in UNDERLAY_SCRIPTS:
        source = venv / "bin" / name
        if source.is_file():
            lines = source.read_text().splitlines(keepends=True)
            (prefix / "bin" / name).write_text(f"#!{prefix / 'bin' / 'python'}\n"
                                               + "".join(lines[1:]))
            (prefix / "bin" / name).chmod(0o755)
    setup = prefix / "setup.bash"
    setup.write_text(
        "# The underlay of the colcon test: what /opt/ros/<distro>/setup.bash sets.\n"
        f"export PATH={prefix / 'bin'}:$PATH\n"
        f"export AMENT_PREFIX_PATH={prefix}\n"
        f"export CMAKE_PREFIX_PATH={prefix}\n"
        "export ROS_VERSION=2 ROS_PYTHON_VERSION=3\n")
    return setup


def copy_sources(dest: Path, repo: Path = REPO) -> Path:
    """Copy the package's files as a clone has them (git's list, untracked files included)."""
    files: list[str] = []
    if (repo / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], cwd=repo, capture_output=True,
                                timeout=60)
        if listed.returncode == 0:
            files = [f for f in listed.stdout.decode().split("\0") if f]
    if not files:
        for folder, dirs, names in os.walk(repo):
            dirs[:] = [d for d in dirs if d not in _NOT_SOURCES]
            files += [os.path.relpath(os.path.join(folder, n), repo) for n in names
                      if not n.endswith(".pyc")]
    for rel in files:
        source = repo / rel
        if not source.is_file() or source.is_symlink():
            continue  # deleted but still in the index; or a link a clone would recreate
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return dest


def clean_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A login-less shell's environment: nothing of the test session's Python or ROS set-up."""
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID", "0"),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "PYTHONUNBUFFERED": "1",
        "RCUTILS_COLORIZED_OUTPUT": "0",
        "RCUTILS_LOGGING_BUFFERED_STREAM": "0",
    }
    env.update(extra or {})
    return env


def shell_command(underlay_setup: Path, workspace: Path | None, command: str) -> list[str]:
    """``bash -c`` that sources the underlay (and the workspace's install space), then runs."""
    script = f"set -e; source {underlay_setup}; "
    if workspace is not None:
        script += f"source {workspace / 'install' / 'setup.bash'}; "
    return ["bash", "--noprofile", "--norc", "-c", script + command]
