# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stages ``vision_msgs`` and ``interfaces``: the CMake builds of ROS message packages."""

from __future__ import annotations

import time
from pathlib import Path

from .environment import Environment
from .layout import FALLBACK_MARKER, INTERFACES_PYTHON_DIR, PACKAGE, REPO, VISION_MSGS_SRC
from .prerequisites import check_build_tools
from .process import SetupError, log, run


def vision_msgs_importable(env: Environment) -> str | None:
    """Return where vision_msgs.msg imports from in the venv, or None when it does not."""
    probe = env.venv_query("import vision_msgs.msg as m; print(m.__file__)")
    return probe.stdout.strip() if probe.returncode == 0 else None


def cmake_build(env: Environment, source: Path, name: str, extra: list[str]) -> None:
    """Configure, build and install one ament_cmake package into the venv, logging to a file."""
    check_build_tools(str(env.python))
    build = env.build_dir / name
    log_file = env.build_dir / f"{name}.log"
    if log_file.exists():
        log_file.unlink()
    configure = [
        "cmake",
        "-S",
        str(source),
        "-B",
        str(build),
        f"-DCMAKE_PREFIX_PATH={env.venv}",
        f"-DCMAKE_INSTALL_PREFIX={env.venv}",
        f"-DPython3_EXECUTABLE={env.python}",
        "-DPython3_FIND_VIRTUALENV=ONLY",
        "-DBUILD_TESTING=OFF",
        *extra,
    ]
    start = time.monotonic()
    run(configure, log_file=log_file)
    run(["cmake", "--build", str(build), "-j", "2"], log_file=log_file)
    run(["cmake", "--install", str(build)], log_file=log_file)
    log(f"built and installed {name} in {time.monotonic() - start:.1f} s (log: {log_file})")


def fallback_installed(env: Environment) -> bool:
    """Tell whether the vision_msgs in the venv is our fallback (its package.xml says so)."""
    manifest = env.venv / "share" / "vision_msgs" / "package.xml"
    return manifest.is_file() and FALLBACK_MARKER in manifest.read_text(errors="replace")


def stage_vision_msgs(env: Environment, state: dict[str, str], digest: str) -> str:
    """Build the fallback vision_msgs only when none imports; return what the state should say.

    A vision_msgs that imports and is not our fallback (a ROS distro's, a user's) is used as it
    is; our fallback is rebuilt when its definitions or the ROS toolchain changed.
    """
    where = vision_msgs_importable(env)
    if where and not fallback_installed(env):
        log(f"vision_msgs found at {where}: using it (fallback not built)")
        return "external"
    if where and state.get("vision_msgs") == f"built:{digest}":
        return f"built:{digest}"
    if where:
        log("rebuilding the fallback vision_msgs (tools/vision_msgs or the ROS pins changed)")
    else:
        log("vision_msgs not importable: building the fallback from tools/vision_msgs")
    cmake_build(env, VISION_MSGS_SRC, "vision_msgs", [])
    if not vision_msgs_importable(env):
        raise SetupError("the fallback vision_msgs was built but does not import")
    return f"built:{digest}"


def stage_interfaces(env: Environment) -> None:
    """Build msg/ and srv/ with the project's own CMakeLists.txt (as colcon would run it)."""
    cmake_build(
        env,
        REPO,
        PACKAGE,
        [
            "-DRTMDNET_ROS_INSTALL_PYTHON_SOURCES=OFF",
            f"-DPYTHON_INSTALL_DIR={INTERFACES_PYTHON_DIR}",
        ],
    )
