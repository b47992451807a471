#!/usr/bin/env python3
# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Build the project's virtualenv: a real ROS 2 Kilted runtime from PyPI wheels plus this package.

`make setup` runs this script. Its stages, each skipped when its inputs did not change since it
last succeeded (hashes kept in ``.venv/.setup-state.json``):

1. ``venv``: create ``.venv`` with Python 3.11 (the ROS 2 Kilted wheels on PyPI are cp311 only).
2. ``packages``: pip-install the pinned requirements (``requirements/*.txt``), then repair the
   CMake files of the ROS wheels, whose exported include paths point at the wheel builder's Python.
3. ``vision_msgs``: build ``tools/vision_msgs`` into the venv, only when no ``vision_msgs`` is
   importable (PyPI has none); a real one is never shadowed.
4. ``interfaces``: build this package with CMake (``rosidl_generate_interfaces``) the way colcon
   would, except that the Python modules are not copied: the venv imports them from the source.
5. ``ros2_tools``: when ``../shared/ros2-tools`` (or ``$RTMDNET_ROS2_TOOLS``) exists, install the
   ROS 2 command line and launch tooling from it (no registry has them): pinned PyPI dependencies,
   the checksummed wheels with ``--no-deps``, and ``composition_interfaces`` built like
   vision_msgs. Without that folder it says so in one line and the venv works as before.
6. ``dev``: a ``.pth`` file putting the source tree (then the generated ``msg``/``srv`` modules) on
   ``sys.path``, console scripts in ``.venv/bin`` for the entry points declared in setup.py, and
   the venv's interpreter in the shebang of the ``ros2 run`` executables (``.venv/lib/PACKAGE``).

Any failure prints the missing piece (Python version, venv module, cmake, compiler, Python headers,
registry) and exits non-zero. The script runs under any Python >= 3.8; it never edits the repo.
Each stage is a module of ``tools/venv_setup/``; ``venv_setup/pipeline.py`` runs them in order.
"""

from __future__ import annotations

import argparse
import fcntl
import sys
import time
from pathlib import Path

# tools/ is on the path when this runs as a script; the tests import it by path, so add it then
# (appended: nothing of tools/ may shadow an installed package).
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

from venv_setup import (  # noqa: E402
    constraints,
    dev_links,
    environment,
    interfaces,
    layout,
    packages,
    pipeline,
    prerequisites,
    process,
    ros2_tools,
)

__all__ = ["constraints", "dev_links", "environment", "interfaces", "layout", "main", "packages",
           "pipeline", "prerequisites", "process", "ros2_tools"]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: build or refresh the venv and report what happened."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, default=layout.REPO / ".venv", help="venv to build")
    parser.add_argument("--python", help="CPython 3.11 to create the venv with")
    parser.add_argument("--force", action="store_true", help="rerun every stage")
    parser.add_argument(
        "--write-constraints", action="store_true", help="regenerate requirements/constraints.txt"
    )
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        # One set-up at a time (make -j, or a test running `make setup`): lock this script.
        with open(__file__) as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            venv = args.venv.resolve()
            base = (None if (venv / "bin" / "python").exists()
                    else prerequisites.find_base_python(args.python))
            env = environment.Environment(venv, base)
            if args.write_constraints:
                constraints.write_constraints(env)
                return 0
            changed = pipeline.setup(env, args.force)
    except process.SetupError as err:
        print(f"[setup] FAILED: {err}", file=sys.stderr, flush=True)
        return 1
    elapsed = time.monotonic() - start
    if changed:
        process.log(f"environment ready in {elapsed:.1f} s: {env.venv}")
    else:
        process.log(f"environment up to date ({elapsed:.2f} s, nothing changed): {env.venv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
