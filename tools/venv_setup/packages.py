# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Stages ``venv`` and ``packages``: the venv itself and the pinned registry packages in it."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from .environment import Environment
from .layout import (
    CONSTRAINTS,
    OPTIONAL_REQUIREMENTS,
    REQUIRED_PYTHON,
    REQUIREMENT_FILES,
    REQUIREMENTS,
)
from .prerequisites import find_base_python, registry_problem
from .process import SetupError, clean_env, log

# The wheels' exported CMake files name the include directories of the Python that built them.
WHEEL_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
WHEEL_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_core/include"
)


def requirement_paths() -> list[Path]:
    """Return the pinned requirement files, in install order."""
    names = (*REQUIREMENT_FILES, OPTIONAL_REQUIREMENTS, CONSTRAINTS)
    return [REQUIREMENTS / name for name in names]


def stage_venv(env: Environment) -> None:
    """Create the venv with the chosen Python 3.11.

    An existing venv of another version is an error rather than silently replaced: it may hold
    the user's own packages.
    """
    if env.python.exists():
        version = env.venv_query("import sys; print('%d.%d' % sys.version_info[:2])")
        if version.stdout.strip() != "{}.{}".format(*REQUIRED_PYTHON):
            raise SetupError(
                f"{env.venv} uses Python {version.stdout.strip() or '?'}, not "
                "{}.{}: remove it (make clean) and run make setup again".format(*REQUIRED_PYTHON)
            )
        return
    base = env.base_python or find_base_python(None)
    log(f"creating {env.venv} with {base}")
    result = subprocess.run([base, "-m", "venv", str(env.venv)], capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(env.venv, ignore_errors=True)
        raise SetupError(
            f"'{base} -m venv' failed (Debian/Ubuntu: apt-get install python3.11-venv):\n"
            + result.stderr.strip()
        )


def stage_packages(env: Environment) -> None:
    """Install the pinned packages, then repair the wheels' CMake files."""
    # No bytecode at install: pip would compile every module of every package (torch, scipy,
    # ... over ten thousand files); Python compiles the ones really imported on first use.
    pip = [str(env.python), "-m", "pip", "install", "--progress-bar", "off", "-q", "--no-compile"]
    cmd = list(pip)
    for name in REQUIREMENT_FILES:
        cmd += ["-r", str(REQUIREMENTS / name)]
    cmd += ["-c", str(REQUIREMENTS / CONSTRAINTS)]
    log("pip install " + " ".join(REQUIREMENT_FILES) + " (pinned by " + CONSTRAINTS + ")")
    start = time.monotonic()
    result = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        hint = registry_problem()
        if hint is None and "torch==" in output and "No matching distribution" in output:
            hint = (
                "torch 2.13.0 CPU build not found: pip needs the local wheel in its find-links "
                "(this machine: /opt/wheels) or --extra-index-url "
                "https://download.pytorch.org/whl/cpu; never install the default CUDA build"
            )
        raise SetupError(
            "pip install failed" + (f": {hint}" if hint else "") + "\n" + output[-3000:]
        )
    optional = REQUIREMENTS / OPTIONAL_REQUIREMENTS
    if optional.is_file():
        opt = subprocess.run(
            [*pip, "-r", str(optional), "-c", str(REQUIREMENTS / CONSTRAINTS)],
            env=clean_env(),
            capture_output=True,
            text=True,
        )
        if opt.returncode != 0:
            log(f"optional packages ({optional.name}) not installed; their features stay off")
    log(f"packages installed in {time.monotonic() - start:.1f} s")
    check_cpu_torch(env)
    fix_cmake_paths(env)


def check_cpu_torch(env: Environment) -> None:
    """Refuse a CUDA build of torch: gigabytes that this project's CPU set-up never needs."""
    probe = env.venv_query("import torch; print(torch.__version__, torch.version.cuda)")
    if probe.returncode != 0:
        raise SetupError("torch does not import in the venv:\n" + probe.stderr.strip()[-2000:])
    version, cuda = probe.stdout.split()
    if cuda != "None":
        raise SetupError(f"torch {version} is a CUDA build (CUDA {cuda}); expected the CPU wheel")


def fix_cmake_paths(env: Environment) -> list[Path]:
    """Point the wheels' exported CMake include paths at this venv's Python and NumPy headers.

    The ROS wheels were built in a manylinux image whose Python lives in /opt/python; their
    ``*__rosidl_generator_pyExport.cmake`` files name its include directories, which do not exist
    here, so every interface build would fail. Returns the files changed (none on a second run).
    """
    probe = env.venv_query(
        "import sysconfig, numpy\n"
        "print(sysconfig.get_paths()['include'])\n"
        "print(numpy.get_include())\n"
    )
    if probe.returncode != 0:
        raise SetupError("numpy does not import in the venv:\n" + probe.stderr.strip()[-2000:])
    python_include, numpy_include = probe.stdout.split("\n")[:2]
    fixed = []
    checked = 0
    for root in (env.venv / "share", env.venv / "lib" / "cmake"):
        if not root.is_dir():
            continue
        for path in root.rglob("*.cmake"):
            checked += 1
            text = path.read_text(errors="surrogateescape")
            if "/opt/python/" not in text:
                continue
            new = WHEEL_NUMPY_INCLUDE.sub(numpy_include, text)
            new = WHEEL_PYTHON_INCLUDE.sub(python_include, new)
            if new != text:
                path.write_text(new, errors="surrogateescape")
                fixed.append(path)
            if "/opt/python/" in new:
                log(f"warning: {path} still names /opt/python (not a known include path)")
    if fixed:
        log(
            f"CMake path fix: {len(fixed)} of {checked} wheel CMake files named the wheel "
            f"builder's Python; now {python_include} and {numpy_include}"
        )
        for path in fixed:
            log(f"  fixed {path.relative_to(env.venv)}")
    else:
        log(f"CMake path fix: nothing to fix ({checked} CMake files checked)")
    return fixed
