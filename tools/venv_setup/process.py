# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Errors, progress lines and subprocesses, as every stage reports and runs them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class SetupError(Exception):
    """A failure with a message naming what is missing and how to get it."""


def log(message: str) -> None:
    """Print a progress line at once (make buffers nothing, but pipes would)."""
    print(f"[setup] {message}", flush=True)


def clean_env() -> dict[str, str]:
    """Environment for the venv's Python: let the ROS wheels' bootstrapper set its library path.

    The bootstrapper re-executes Python once with LD_LIBRARY_PATH set and marks that in a guard
    variable; inherited from another interpreter (e.g. pytest in some other venv) the guard would
    skip the library path of this venv.
    """
    env = dict(os.environ)
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)
    return env


def run(cmd: list[str], *, log_file: Path | None = None, **kwargs) -> None:
    """Run a command; with log_file, keep its output there and show the tail only on failure."""
    if log_file is None:
        result = subprocess.run(cmd, env=kwargs.pop("env", clean_env()), **kwargs)
        if result.returncode != 0:
            raise SetupError(f"command failed (exit {result.returncode}): {' '.join(cmd)}")
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        result = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=kwargs.pop("env", clean_env()), **kwargs
        )
    if result.returncode != 0:
        tail = log_file.read_text(errors="replace").splitlines()[-40:]
        raise SetupError(
            f"command failed (exit {result.returncode}): {' '.join(cmd)}\n"
            + "\n".join("    " + line for line in tail)
            + f"\n  full log: {log_file}"
        )
