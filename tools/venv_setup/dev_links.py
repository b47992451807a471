# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage ``dev``: the source tree on the venv's path, console scripts, the final import check."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .environment import Environment
from .layout import INTERFACES_PYTHON_DIR, PACKAGE, PTH_NAME, REPO
from .process import SetupError, log

# The ``ros2 run`` executables that the CMake build installs (scripts/ keeps the portable
# ``#!/usr/bin/env python3`` a distro needs; here it would find a Python without the venv).
LIB_EXECUTABLES_DIR = "lib/" + PACKAGE
PYTHON_SHEBANG = re.compile(r"^#![^\n]*python[^\n]*\n")


def console_scripts() -> dict[str, str]:
    """Read the console_scripts entry points from setup.py (parsed, never executed)."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "entry_points":
            entry_points = ast.literal_eval(node.value)
            scripts = {}
            for line in entry_points.get("console_scripts", []):
                name, target = (part.strip() for part in line.split("=", 1))
                scripts[name] = target
            return scripts
    raise SetupError("setup.py declares no entry_points")


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write a file only when its content differs, so a no-op run leaves every mtime alone."""
    if path.is_file() and path.read_text() == text:
        return False
    path.write_text(text)
    path.chmod(mode)
    return True


def stage_dev(env: Environment) -> None:
    """Expose the source tree to the venv and create the console scripts that run it."""
    pth = (
        "# Written by rtmdnet_ros tools/setup_env.py: source tree first, then the generated\n"
        "# interfaces; rtmdnet_ros/__init__.py (pkgutil.extend_path) joins them as one package.\n"
        "# The last line lets ament_index_python find the packages installed in this venv.\n"
        f"{REPO}\n"
        f"{env.venv / INTERFACES_PYTHON_DIR}\n"
        "import os, sys; os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)\n"
    )
    write_if_changed(env.site_packages() / PTH_NAME, pth)
    for name, target in console_scripts().items():
        module, func = target.split(":")
        script = (
            f"#!{env.python}\n"
            f"# Written by rtmdnet_ros tools/setup_env.py: runs {target} from the source tree.\n"
            "import sys\n\n"
            f"from {module} import {func}\n\n"
            "if __name__ == '__main__':\n"
            f"    sys.exit({func}())\n"
        )
        if write_if_changed(env.venv / "bin" / name, script, 0o755):
            log(f"console script {name} -> {target}")
    fix_lib_shebangs(env)


def fix_lib_shebangs(env: Environment) -> list[Path]:
    """Point the ``ros2 run`` executables at the venv's Python; return the files changed.

    CMake installs scripts/ as they are, with ``#!/usr/bin/env python3`` (right on a distro,
    where that Python has the installed package). Here it would find the system Python, so
    ``ros2 run``/``ros2 launch`` would die with "No module named 'rtmdnet_ros'" unless the venv
    were activated; with the venv's interpreter written in, they work from any shell.
    """
    changed = []
    folder = env.venv / LIB_EXECUTABLES_DIR
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if not path.is_file():
            continue
        text = path.read_text(errors="surrogateescape")
        new = PYTHON_SHEBANG.sub(f"#!{env.python}\n", text, count=1)
        if new != text:
            path.write_text(new, errors="surrogateescape")
            path.chmod(0o755)
            changed.append(path)
    if changed:
        log(f"venv interpreter written into {len(changed)} executables in {folder}")
    return changed


def verify(env: Environment) -> None:
    """Import everything the project relies on, from outside the repo, as the tests will."""
    code = (
        "import rclpy, sensor_msgs.msg, std_srvs.srv, vision_msgs.msg, diagnostic_msgs.msg\n"
        "import torch, cv2, numpy\n"
        "import rtmdnet_ros, rtmdnet_ros.msg, rtmdnet_ros.srv\n"
        f"assert rtmdnet_ros.__path__[0] == {str(REPO / PACKAGE)!r}, rtmdnet_ros.__path__\n"
        "print('rclpy', rclpy.__file__)\n"
        "print('torch', torch.__version__, 'numpy', numpy.__version__)\n"
        "print('opencv', cv2.__version__)\n"
        "print('rtmdnet_ros', *rtmdnet_ros.__path__)\n"
    )
    probe = env.venv_query(code)
    if probe.returncode != 0:
        raise SetupError("the finished venv fails its import check:\n" + probe.stderr.strip())
    for line in probe.stdout.strip().splitlines():
        log(f"check: {line}")
