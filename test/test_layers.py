# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The package's layers, checked on every import statement (function-local ones too).

docs/design.md, "Layers": the tracker core imports nothing above it and never reads the data
folders; the track session is ROS-free; the ROS-message layer holds no node; the front ends
(node, bag tool, evaluation, training) share the layers below them and never each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rtmdnet_ros"

FRONT_ENDS = ("node", "bag", "evaluation", "training")
DATA = {"sequences", "split"}
SESSION = {"track_session"}
ROS_IO = "ros_io"
ROS_MODULES = {"rclpy", "rosbags", "sensor_msgs", "std_msgs", "vision_msgs", "std_srvs",
               "builtin_interfaces", "rcl_interfaces", "lifecycle_msgs", "launch", "launch_ros"}


def layer(module: str) -> str:
    """``rtmdnet_ros.a.b`` -> its layer: core, data, session, ros_io or a front end's name."""
    parts = module.split(".")[1:]
    if not parts:
        return "core"
    if parts[0] in FRONT_ENDS or parts[0] == ROS_IO:
        return parts[0]
    if parts[0] in DATA:
        return "data"
    if parts[0] in SESSION:
        return "session"
    if parts[0] in ("msg", "srv"):  # generated interfaces: ROS
        return "interfaces"
    return "core"


ALLOWED = {
    "core": {"core"},
    "data": {"core", "data"},
    "session": {"core"},
    "ros_io": {"core", "session", "ros_io", "interfaces"},
    "node": {"core", "data", "session", "ros_io", "node", "interfaces"},
    "bag": {"core", "session", "ros_io", "bag"},
    "evaluation": {"core", "data", "evaluation"},
    "training": {"core", "data", "training"},
}
MAY_IMPORT_ROS = {"node", "ros_io", "bag", "interfaces"}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module the file imports, relative imports resolved against its package."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # ``from rtmdnet_ros import tracker``: the names may be modules themselves
            found |= {f"{target}.{alias.name}" for alias in node.names
                      if (PACKAGE.parent / Path(*f"{target}.{alias.name}".split("."))).exists()
                      or (PACKAGE.parent / (Path(*f"{target}.{alias.name}".split(".")))
                          ).with_suffix(".py").exists()}
    return found


def violations() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = layer(module_name(path))
        for target in sorted(imports(path)):
            root = target.split(".")[0]
            if root == "rtmdnet_ros":
                theirs = layer(target)
                if theirs not in ALLOWED[own]:
                    out.append(f"{module_name(path)} ({own}) imports {target} ({theirs})")
            elif root in ROS_MODULES and own not in MAY_IMPORT_ROS:
                out.append(f"{module_name(path)} ({own}) imports {target} (ROS)")
    return out


def test_every_import_respects_the_layers():
    assert violations() == []


def test_the_checker_sees_local_and_relative_imports(tmp_path):
    """The rules above would pass on a checker that saw nothing: check it sees what it must."""
    tracker = imports(PACKAGE / "tracker.py")
    assert "rtmdnet_ros.onnx_runtime" in tracker  # ``from . import onnx_runtime``
    assert "rtmdnet_ros.siamese_refiner" in tracker  # a function-local relative import
    node = imports(PACKAGE / "node" / "outputs.py")
    assert any(t.split(".")[0] == "rclpy" for t in node) and "rtmdnet_ros.ros_io.messages" in node
    assert layer("rtmdnet_ros.node.tracker_node") == "node"
    assert layer("rtmdnet_ros.sequences") == "data" and layer("rtmdnet_ros.tracker") == "core"
