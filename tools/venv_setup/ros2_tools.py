# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stage ``ros2_tools``: the ROS 2 command line and launch tooling from a local wheel folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import time
from pathlib import Path

from .environment import Environment
from .interfaces import cmake_build
from .layout import CONSTRAINTS, REPO, REQUIREMENTS
from .process import SetupError, log, run

# ROS 2 command line and launch tooling (ros2cli, launch, launch_ros, launch_testing, ...): pure
# Python wheels built from upstream sources, which no registry reachable here has. Test and
# developer tooling only: the package never needs them, and a ROS 2 distro brings its own.
ROS2_TOOLS_ENV = "RTMDNET_ROS2_TOOLS"
DEFAULT_ROS2_TOOLS = REPO.parent / "shared" / "ros2-tools"
# Their PyPI dependencies, pinned (the wheels are installed with --no-deps, see stage_ros2_tools).
ROS2_TOOLS_REQUIREMENTS = "ros2-tools.txt"
# What must import once the tools are in (launch_ros imports composition_interfaces at once).
ROS2_TOOLS_IMPORTS = (
    "launch",
    "launch_ros.actions",
    "launch_testing",
    "launch_pytest",
    "ros2cli",
    "rosidl_runtime_py",
    "composition_interfaces.srv",
)


def ros2_tools_dir() -> Path | None:
    """Return the folder holding the ROS 2 tool wheels, or None when there is none.

    ``$RTMDNET_ROS2_TOOLS`` names it explicitly (then it must exist: a typo should not silently
    leave the tools out); otherwise ``../shared/ros2-tools`` beside the repository is used when
    present, and a plain clone without it gets the venv it always got.
    """
    explicit = os.environ.get(ROS2_TOOLS_ENV)
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not (path / "wheels").is_dir():
            raise SetupError(f"{ROS2_TOOLS_ENV}={explicit}: no wheels/ folder there")
        return path
    return DEFAULT_ROS2_TOOLS if (DEFAULT_ROS2_TOOLS / "wheels").is_dir() else None


def ros2_tools_files(tools: Path) -> list[Path]:
    """Return the tool wheels and the composition_interfaces sources, sorted by name."""
    wheels = tools / "wheels"
    return sorted([*wheels.glob("*.whl"), *wheels.glob("*-src.tar.gz")])


def ros2_tools_digest(tools: Path, ros_digest: str) -> str:
    """Hash the tools' files (names and contents) and their pins, on top of the ROS toolchain's.

    The folder lives outside the repository, so names are taken relative to it; its location
    does not count (moving it reinstalls nothing).
    """
    digest = hashlib.sha256(ros_digest.encode())
    for path in [*ros2_tools_files(tools), tools / "wheels" / "SHA256SUMS"]:
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    digest.update((REQUIREMENTS / ROS2_TOOLS_REQUIREMENTS).read_bytes())
    return digest.hexdigest()


def check_ros2_tools_checksums(tools: Path) -> list[Path]:
    """Check every wheel and source archive against SHA256SUMS; return the files to install.

    The folder is shared between users and machines: a truncated or swapped file must stop the
    set-up with its name rather than install something else.
    """
    sums_file = tools / "wheels" / "SHA256SUMS"
    if not sums_file.is_file():
        raise SetupError(f"{sums_file} missing: cannot check the ROS 2 tool wheels")
    expected = {}
    for line in sums_file.read_text().splitlines():
        if line.strip():
            value, name = line.split(maxsplit=1)
            expected[name.lstrip("*")] = value
    files = ros2_tools_files(tools)
    if not files:
        raise SetupError(f"no wheels in {tools / 'wheels'}")
    for path in files:
        if path.name not in expected:
            raise SetupError(f"{path} is not listed in {sums_file}")
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != expected[path.name]:
            raise SetupError(f"{path}: SHA-256 {actual} does not match {sums_file}")
    return files


def stage_ros2_tools(env: Environment, tools: Path) -> None:
    """Install ros2cli, launch, launch_ros, launch_testing (and friends) into the venv.

    Follows the recipe verified in ros2-tools/README.md: the wheels go in with ``--no-deps``
    because their metadata names ROS distribution packages that PyPI has under other names
    (``ament_index_python`` is ``ros-ament-index-python`` here) or not at all (PyPI's ``launch``
    is an unrelated project); their real PyPI dependencies are pinned in
    requirements/ros2-tools.txt. ``composition_interfaces`` (imported by launch_ros) is built
    from its upstream definitions exactly like the vision_msgs fallback.
    """
    start = time.monotonic()
    files = check_ros2_tools_checksums(tools)
    log(f"ROS 2 tools: installing {len(files) - 1} wheels from {tools}")
    pip = [str(env.python), "-m", "pip", "install", "--progress-bar", "off", "-q", "--no-compile"]
    pip_log = env.build_dir / "ros2_tools.log"  # pip's output, shown only on failure
    pip_log.unlink(missing_ok=True)
    run([*pip, "-r", str(REQUIREMENTS / ROS2_TOOLS_REQUIREMENTS),
         "-c", str(REQUIREMENTS / CONSTRAINTS)], log_file=pip_log)
    run([*pip, "--no-deps", *(str(p) for p in files if p.name.endswith(".whl"))],
        log_file=pip_log)
    archives = [p for p in files if p.name.startswith("composition_interfaces-")]
    if len(archives) != 1:
        raise SetupError(f"expected one composition_interfaces-*-src.tar.gz in {tools}/wheels")
    source_root = env.build_dir / "composition_interfaces-src"
    shutil.rmtree(source_root, ignore_errors=True)
    source_root.mkdir(parents=True)
    with tarfile.open(archives[0]) as archive:
        for member in archive.getmembers():  # never write outside source_root
            if member.name.startswith(("/", "..")) or "/../" in member.name:
                raise SetupError(f"{archives[0]}: unsafe path {member.name}")
        # The "data" filter (Python >= 3.11.4) also refuses links and devices.
        options = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(source_root, **options)  # noqa: S202 (members checked above)
    cmake_build(env, source_root / "composition_interfaces", "composition_interfaces", [])
    probe = env.venv_query("import " + ", ".join(ROS2_TOOLS_IMPORTS))
    if probe.returncode != 0:
        raise SetupError("the ROS 2 tools were installed but do not import:\n"
                         + probe.stderr.strip()[-2000:])
    log(f"ROS 2 tools installed in {time.monotonic() - start:.1f} s "
        f"({env.venv / 'bin' / 'ros2'})")
