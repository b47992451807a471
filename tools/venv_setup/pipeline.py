# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The stages in order, each rerun only when its inputs changed since it last succeeded."""

from __future__ import annotations

from pathlib import Path

from . import ros2_tools
from .dev_links import stage_dev, verify
from .environment import Environment, file_digest, tree_files
from .interfaces import stage_interfaces, stage_vision_msgs
from .layout import (
    INSTALLED_DIRS,
    PACKAGE,
    PTH_NAME,
    REPO,
    REQUIREMENT_FILES,
    REQUIREMENTS,
    VISION_MSGS_SRC,
)
from .packages import requirement_paths, stage_packages, stage_venv
from .prerequisites import check_build_tools
from .process import log

SETUP_CODE = Path(__file__).resolve().parent


def stage_digests(env: Environment, tools: Path | None = None) -> dict[str, str]:
    """Hash every stage's inputs; a stage depends on the stages before it.

    The ROS 2 tools (when a tools folder is given) depend on the ROS toolchain pins only, not on
    this package's interfaces, so editing a .msg does not reinstall them.
    """
    digests = {}
    digests["packages"] = file_digest(requirement_paths(), extra=str(env.python))
    # The CMake builds depend on the ROS toolchain only: adding a pure-Python package must not
    # rebuild them.
    ros = file_digest([REQUIREMENTS / REQUIREMENT_FILES[0]], extra=str(env.python))
    digests["vision_msgs"] = file_digest(tree_files(VISION_MSGS_SRC), extra=ros)
    inputs = [
        REPO / "CMakeLists.txt",
        REPO / "package.xml",
        REPO / PACKAGE / "__init__.py",
        *tree_files(REPO / "msg"),
        *tree_files(REPO / "srv"),
    ]
    for name in INSTALLED_DIRS:
        inputs += tree_files(REPO / name)
    digests["interfaces"] = file_digest(inputs, extra=digests["vision_msgs"])
    if tools is not None:
        digests["ros2_tools"] = ros2_tools.ros2_tools_digest(tools, ros)
    # The set-up code itself writes the dev stage's files (the .pth, the console scripts).
    scripts = [REPO / "setup.py", REPO / "tools" / "setup_env.py", *tree_files(SETUP_CODE)]
    digests["dev"] = file_digest(scripts, extra=digests["interfaces"])
    return digests


def setup(env: Environment, force: bool) -> bool:
    """Bring the venv up to date; return True when something had to be done."""
    state = {} if force else env.load_state()
    tools = ros2_tools.ros2_tools_dir()
    if tools is None:
        log(f"ROS 2 tools: {ros2_tools.DEFAULT_ROS2_TOOLS} not found and "
            f"{ros2_tools.ROS2_TOOLS_ENV} unset: skipped "
            "(no ros2 CLI or launch in the venv; their tests skip)")
    digests = stage_digests(env, tools)
    up_to_date = (
        env.python.exists()
        and (env.site_packages() / PTH_NAME).is_file()
        and state.get("packages") == digests["packages"]
        and state.get("vision_msgs") in ("external", f"built:{digests['vision_msgs']}")
        and state.get("interfaces") == digests["interfaces"]
        and (tools is None or state.get("ros2_tools") == digests["ros2_tools"])
        and state.get("dev") == digests["dev"]
    )
    if up_to_date:
        return False

    if state.get("interfaces") != digests["interfaces"] or (
        tools is not None and state.get("ros2_tools") != digests["ros2_tools"]
    ):
        # Fail before minutes of downloads when the CMake builds could not work anyway.
        check_build_tools(str(env.python) if env.python.exists() else env.base_python or "")
    stage_venv(env)
    if state.get("packages") != digests["packages"]:
        stage_packages(env)
        state = {**state, "packages": digests["packages"]}
        env.save_state(state)
    vision_state = stage_vision_msgs(env, state, digests["vision_msgs"])
    if state.get("vision_msgs") != vision_state:
        # Rebuild this package's interfaces; the tools do not use vision_msgs and stay.
        kept = {k: state[k] for k in ("packages", "ros2_tools") if k in state}
        state = {**kept, "vision_msgs": vision_state}
        env.save_state(state)
    if state.get("interfaces") != digests["interfaces"]:
        stage_interfaces(env)
        state = {**state, "interfaces": digests["interfaces"]}
        state.pop("dev", None)
        env.save_state(state)
    if tools is not None and state.get("ros2_tools") != digests["ros2_tools"]:
        ros2_tools.stage_ros2_tools(env, tools)
        state = {**state, "ros2_tools": digests["ros2_tools"]}
        env.save_state(state)
    stage_dev(env)
    verify(env)
    state["dev"] = digests["dev"]
    env.save_state(state)
    return True
