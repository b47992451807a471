# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Start and stop ROS executables as child processes, the way a launch file would.

The demo and the graph bench run the tracker node in its own process (as on a robot), with the
shipped Fast DDS profile in its environment; stopping is a SIGINT, then a wait, so the child's
own clean-shutdown path runs and its exit code is a real result (non-zero = it crashed on exit).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from rtmdnet_ros.node.transport import profile_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / "config" / "tracker.yaml"


def tracker_command(namespace: str = "", params: Mapping[str, Any] | None = None,
                    params_file: Path | None = PARAMS_FILE,
                    remaps: Sequence[tuple[str, str]] = ()) -> list[str]:
    """Command line of the tracker node with ``--ros-args`` (this interpreter, as a module)."""
    cmd = [sys.executable, "-m", "rtmdnet_ros.node.tracker_node", "--ros-args"]
    if params_file is not None and Path(params_file).is_file():
        cmd += ["--params-file", str(params_file)]
    if namespace:
        cmd += ["-r", f"__ns:=/{namespace.strip('/')}"]
    for key, value in (params or {}).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if text == "":
            text = "''"  # an empty string value needs quotes on the rcl command line
        cmd += ["-p", f"{key}:={text}"]
    for old, new in remaps:
        cmd += ["-r", f"{old}:={new}"]
    return cmd


def start(cmd: Sequence[str], env: Mapping[str, str] | None = None,
          stdout: IO[Any] | int | None = None, stderr: IO[Any] | int | None = None,
          with_profile: bool = True) -> subprocess.Popen:
    """Start ``cmd`` from the repository root; the shipped DDS profile is added to its env."""
    child_env = profile_environment(env) if with_profile else dict(env or {})
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    child_env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
    return subprocess.Popen(list(cmd), cwd=REPO_ROOT, env=child_env, stdout=stdout,
                            stderr=stderr)


def stop(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """SIGINT, wait up to ``timeout`` s (an init may be training), then kill; return the code.

    A killed child reports ``-9``, so a hang is visible to the caller as a failure.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10.0)
    return int(proc.returncode)
