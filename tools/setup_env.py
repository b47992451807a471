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
"""

from __future__ import annotations

import argparse
import ast
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "rtmdnet_ros"
# The ROS 2 Kilted wheels on PyPI are built for CPython 3.11 only.
REQUIRED_PYTHON = (3, 11)
REQUIREMENTS = REPO / "requirements"
# Installed together, so pip resolves them as one set; constraints.txt pins everything else.
REQUIREMENT_FILES = ("ros2-kilted.txt", "project.txt")
OPTIONAL_REQUIREMENTS = "optional.txt"
CONSTRAINTS = "constraints.txt"
VISION_MSGS_SRC = REPO / "tools" / "vision_msgs"
# Words of the fallback's package.xml description that tell it apart from a real vision_msgs.
FALLBACK_MARKER = "Stand-in for the upstream vision_msgs"
# Generated rtmdnet_ros.msg / .srv go here (relative to the venv), not into site-packages, so that
# the source tree, listed first in the .pth file, always provides the package's own modules.
INTERFACES_PYTHON_DIR = "lib/rtmdnet_ros_interfaces"
PTH_NAME = "rtmdnet_ros_dev.pth"
STATE_NAME = ".setup-state.json"
# Files installed by the CMake build besides the interfaces: a change to any of them reinstalls.
INSTALLED_DIRS = ("launch", "config", "rviz", "scripts")

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
# The ``ros2 run`` executables that the CMake build installs (scripts/ keeps the portable
# ``#!/usr/bin/env python3`` a distro needs; here it would find a Python without the venv).
LIB_EXECUTABLES_DIR = "lib/" + PACKAGE
PYTHON_SHEBANG = re.compile(r"^#![^\n]*python[^\n]*\n")

# The wheels' exported CMake files name the include directories of the Python that built them.
WHEEL_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
WHEEL_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_core/include"
)


class SetupError(Exception):
    """A failure with a message naming what is missing and how to get it."""


def log(message: str) -> None:
    """Print a progress line at once (make buffers nothing, but pipes would)."""
    print(f"[setup] {message}", flush=True)


def file_digest(paths: list[Path], extra: str = "") -> str:
    """Hash file names and contents so a stage reruns exactly when one of its inputs changed."""
    digest = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
        digest.update(b"\0")
    return digest.hexdigest()


def tree_files(root: Path) -> list[Path]:
    """List the regular files under root (none if it does not exist), skipping caches."""
    if not root.is_dir():
        return []
    return [
        p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ]


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


class Environment:
    """The venv being built and the paths derived from it."""

    def __init__(self, venv: Path, base_python: str | None) -> None:
        self.venv = venv
        self.python = venv / "bin" / "python"
        self.build_dir = venv / "build"
        self.state_file = venv / STATE_NAME
        self.base_python = base_python

    def load_state(self) -> dict[str, str]:
        """Read the stage hashes of the last successful run ({} when there is none)."""
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def save_state(self, state: dict[str, str]) -> None:
        """Record the stage hashes atomically so an interrupted run never looks complete."""
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
        tmp.replace(self.state_file)

    def venv_query(self, code: str) -> subprocess.CompletedProcess[str]:
        """Run Python code in the venv from a neutral directory.

        The repository must not reach sys.path through the current directory, or a check could
        pass here and fail for a user elsewhere.
        """
        return subprocess.run(
            [str(self.python), "-c", code],
            capture_output=True,
            text=True,
            cwd="/",
            env=clean_env(),
        )

    def site_packages(self) -> Path:
        """Return the venv's site-packages directory."""
        version = f"python{REQUIRED_PYTHON[0]}.{REQUIRED_PYTHON[1]}"
        return self.venv / "lib" / version / "site-packages"


# ----------------------------------------------------------------------------- checks


def find_base_python(explicit: str | None) -> str:
    """Pick a CPython 3.11 to create the venv with: --python, $PYTHON, this one, or python3.11."""
    candidates = [explicit, os.environ.get("RTMDNET_PYTHON"), sys.executable, "python3.11"]
    wanted = "{}.{}".format(*REQUIRED_PYTHON)
    for candidate in candidates:
        if not candidate:
            continue
        exe = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if not exe:
            continue
        probe = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == wanted:
            return exe
    raise SetupError(
        f"no Python {wanted} found (the ROS 2 Kilted wheels on PyPI are built for "
        f"CPython {wanted} only); install python{wanted} or pass --python /path/to/python{wanted}"
    )


def check_build_tools(python: str) -> None:
    """Fail early, naming the missing piece, when the interface builds cannot work."""
    missing = []
    if not shutil.which("cmake"):
        missing.append("cmake not found on PATH (Debian/Ubuntu: apt-get install cmake)")
    if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        missing.append("no C compiler (cc/gcc) on PATH (apt-get install build-essential)")
    if not (shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")):
        missing.append("no C++ compiler (c++/g++) on PATH (apt-get install build-essential)")
    if not (shutil.which("make") or shutil.which("ninja")):
        missing.append("no build tool (make) on PATH (apt-get install make)")
    include = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not include or not (Path(include) / "Python.h").is_file():
        missing.append(
            f"Python headers missing (no Python.h in {include or '?'}; "
            "apt-get install python3.11-dev)"
        )
    if missing:
        raise SetupError("cannot build the ROS interfaces:\n  - " + "\n  - ".join(missing))


def pip_index_url() -> str:
    """Return the package index pip uses by default, to tell an offline machine apart."""
    return os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def registry_problem() -> str | None:
    """Return why the package index cannot be reached, or None when it answers."""
    url = pip_index_url() + "/ros-rclpy/"
    try:
        with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 (fixed URL)
            response.read(1)
    except (urllib.error.URLError, OSError) as err:
        return f"package registry unreachable: {url} ({err})"
    return None


# ----------------------------------------------------------------------------- stages


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
    cmd = [str(env.python), "-m", "pip", "install", "--progress-bar", "off", "-q"]
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
            [*cmd[:7], "-r", str(optional), "-c", str(REQUIREMENTS / CONSTRAINTS)],
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
    pip = [str(env.python), "-m", "pip", "install", "--progress-bar", "off", "-q"]
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
        "import rclpy, sensor_msgs.msg, std_srvs.srv, vision_msgs.msg, torch, cv2, numpy\n"
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


# ----------------------------------------------------------------------------- driver


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
        digests["ros2_tools"] = ros2_tools_digest(tools, ros)
    digests["dev"] = file_digest(
        [REPO / "setup.py", Path(__file__).resolve()], extra=digests["interfaces"]
    )
    return digests


def setup(env: Environment, force: bool) -> bool:
    """Bring the venv up to date; return True when something had to be done."""
    state = {} if force else env.load_state()
    tools = ros2_tools_dir()
    if tools is None:
        log(f"ROS 2 tools: {DEFAULT_ROS2_TOOLS} not found and {ROS2_TOOLS_ENV} unset: skipped "
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
        stage_ros2_tools(env, tools)
        state = {**state, "ros2_tools": digests["ros2_tools"]}
        env.save_state(state)
    stage_dev(env)
    verify(env)
    state["dev"] = digests["dev"]
    env.save_state(state)
    return True


def registry_pins(env: Environment) -> list[str]:
    """Return ``name==version`` for every registry package in the venv, sorted by name."""
    # Only what pip installed: the ROS wheels and the CMake builds also leave egg-info metadata
    # for their Python packages (rclpy, vision_msgs, ...), which are not registry packages.
    # Nor what pip installed from a local file (the ROS 2 tool wheels): PyPI's "launch" is an
    # unrelated project, and a pin on it would be wrong for anyone who ever asked for it.
    code = (
        "import importlib.metadata as md, json\n"
        "for d in md.distributions():\n"
        "    url = json.loads(d.read_text('direct_url.json') or '{}').get('url', '')\n"
        "    pip = (d.read_text('INSTALLER') or '').strip() == 'pip'\n"
        "    if pip and not url.startswith('file:'):\n"
        "        print(d.metadata['Name'] + '==' + d.version)\n"
    )
    probe = env.venv_query(code)
    if probe.returncode != 0:
        raise SetupError("cannot list the venv's packages:\n" + probe.stderr)
    return sorted(set(probe.stdout.split()), key=str.lower)


def write_constraints(env: Environment) -> None:
    """Regenerate requirements/constraints.txt from the venv (maintainers, after a pin change)."""
    lines = registry_pins(env)
    header = (
        "# Exact versions of every package in a working .venv, transitive ones included.\n"
        "# Generated by `python3 tools/setup_env.py --write-constraints`; edit the other files.\n"
    )
    (REQUIREMENTS / CONSTRAINTS).write_text(header + "\n".join(lines) + "\n")
    log(f"wrote {REQUIREMENTS / CONSTRAINTS} ({len(lines)} pins)")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: build or refresh the venv and report what happened."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, default=REPO / ".venv", help="venv to build")
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
            base = None if (venv / "bin" / "python").exists() else find_base_python(args.python)
            env = Environment(venv, base)
            if args.write_constraints:
                write_constraints(env)
                return 0
            changed = setup(env, args.force)
    except SetupError as err:
        print(f"[setup] FAILED: {err}", file=sys.stderr, flush=True)
        return 1
    elapsed = time.monotonic() - start
    if changed:
        log(f"environment ready in {elapsed:.1f} s: {env.venv}")
    else:
        log(f"environment up to date ({elapsed:.2f} s, nothing changed): {env.venv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
