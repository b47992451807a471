# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""How camera-sized images get from another process to the node: DDS profile and input QoS.

Two things decide whether a 640x480 frame from a camera driver reaches the tracker:

- the transport: Fast DDS's default shared-memory segment (512 kB per participant) is smaller
  than one 640x480 bgr8 frame (900 kB), so such frames fall back to loopback UDP in 64 kB
  fragments and are lost in bursts. ``config/fastdds.xml`` raises the segment to 64 MB; it
  must be in the environment of the *publishing* process (the segment belongs to the writer).
  :func:`profile_environment` puts it into the environment of processes we start.
- the reliability of the subscription: ``ros2 topic echo`` subscribes RELIABLE when every
  publisher offers RELIABLE and BEST_EFFORT otherwise; :func:`adapted_reliability` is that
  rule, which the node re-applies whenever the set of publishers changes (reliable delivery
  repairs lost fragments; a best-effort publisher is still accepted).

No rclpy import at module level: the launch file and the bench use the path helpers too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PROFILE_NAME = "fastdds.xml"
# Fast DDS 3 (Kilted and later) reads the first; Fast DDS 2 (Humble, Jazzy) the second. Kilted's
# rmw still honours the old name but warns that it is deprecated, so only the right one is set.
PROFILE_ENV_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
FAST_DDS_2_DISTROS = ("humble", "iron", "jazzy")
SHM_DEFAULT_SEGMENT = 512 * 1024  # Fast DDS's default shared-memory segment, bytes


def profile_path() -> Path:
    """Return the shipped Fast DDS profile: the source tree's copy, else the installed one.

    In a checkout (and the project's ``.venv``, which imports the package from the checkout) the
    file sits at ``config/`` beside the package, so an edited profile is used without a
    reinstall; after ``colcon build`` the package lives in site-packages and the profile in
    ``share/rtmdnet_ros/config``.
    """
    source = Path(__file__).resolve().parents[2] / "config" / PROFILE_NAME
    if source.is_file():
        return source
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:  # the library without ROS
        return source
    try:
        return Path(get_package_share_directory("rtmdnet_ros")) / "config" / PROFILE_NAME
    except PackageNotFoundError:
        return source


def profile_variable(distro: str | None = None) -> str:
    """Name of the environment variable the local Fast DDS reads its XML profile from."""
    distro = (distro if distro is not None else os.environ.get("ROS_DISTRO", "")).lower()
    return PROFILE_ENV_VARIABLES[1] if distro in FAST_DDS_2_DISTROS else PROFILE_ENV_VARIABLES[0]


def profile_environment(base: Mapping[str, str] | None = None,
                        profile: str | Path | None = None) -> dict[str, str]:
    """Return ``base`` (default: this process's environment) with the shipped profile set.

    A profile the user already named in either variable is kept: their file wins over ours.
    """
    env = dict(os.environ if base is None else base)
    if any(env.get(name) for name in PROFILE_ENV_VARIABLES):
        return env
    env[profile_variable(env.get("ROS_DISTRO"))] = str(profile or profile_path())
    return env


def active_profile(env: Mapping[str, str] | None = None) -> str:
    """Return the XML profile the (default: current) environment hands to Fast DDS, or ''."""
    env = os.environ if env is None else env
    for name in PROFILE_ENV_VARIABLES:
        if env.get(name):
            return env[name]
    return ""


def adapted_reliability(publisher_reliabilities: Iterable[Any]) -> str | None:
    """``ros2 topic echo``'s rule on the publishers' offered reliabilities.

    Returns ``"reliable"`` when every publisher offers RELIABLE, ``"best_effort"`` when at least
    one offers less (a reliable subscription would not match it), and ``None`` when there is no
    publisher yet (keep what we have). Accepts rclpy ``ReliabilityPolicy`` values or names.
    """
    names = [getattr(r, "name", str(r)).lower() for r in publisher_reliabilities]
    if not names:
        return None
    return "reliable" if all(name == "reliable" for name in names) else "best_effort"


def transport_hint(image_bytes: int | None = None) -> str:
    """Return the sentence the node logs when frames were lost before reaching it: the fix.

    Frames above Fast DDS's default segment point at the profile; the other cause (a
    best-effort depth-1 reader whose process was too busy to take a frame before the next one
    replaced it) is harmless for a node that works on the newest frame, and is said as such.
    """
    busy = ("frames also vanish inside DDS when this process was too busy to take one before "
            "the next replaced it (input depth 1), which costs nothing here since the "
            "node tracks the newest frame anyway")
    if image_bytes is not None and image_bytes <= SHM_DEFAULT_SEGMENT:
        return busy
    size = (f" (this camera's frames are {image_bytes / 1024:.0f} kB)"
            if image_bytes else "")
    return (
        "large images between processes need a shared-memory segment bigger than Fast DDS's "
        f"512 kB default{size}: start the camera driver (the publisher: its segment is the "
        f"one used) with {profile_variable()}={profile_path()}, the profile this package "
        "ships (the launch file sets it for the tracker); other RMWs: docs/node.md, "
        f"'Transport'. If the camera has it already: {busy}")
