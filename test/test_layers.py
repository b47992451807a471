# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The package's layers, checked on every import statement (function-local ones too).

docs/design.md, "Layers": the tracker core imports nothing above it and never reads the data
folders; the track session is ROS-free; the ROS-message layer holds no node; the front ends
(node, bag tool, evaluation, training) share the layers below them and never each other.
Inside the core (docs/design.md, "The tracker core"): the facade above the frame policies, the
policies above the classifier's parts, those above the foundation; no import circle anywhere.
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
               "builtin_interfaces", "rcl_interfaces", "lifecycle_msgs", "launch", "launch_ros",
               "diagnostic_msgs"}


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
    "bag": {"core", "data", "session", "ros_io", "bag"},
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


# The core's floors, top down; a core module not named here is foundation (floor 0).
CORE_FLOORS = {
    "rtmdnet_ros.tracker": 3,
    "rtmdnet_ros.reference_policy": 2,
    "rtmdnet_ros.composite": 2,  # the package and every module in it
    "rtmdnet_ros.classifier": 1,
    "rtmdnet_ros.features": 1,
    "rtmdnet_ros.first_frame": 1,
    "rtmdnet_ros.search_area": 1,
    "rtmdnet_ros.model_loading": 1,
}
# Imports nothing of the package: every part may share these values.
CORE_BOTTOM = ("rtmdnet_ros.track_types", "rtmdnet_ros.packaged_models")


def core_floor(module: str) -> int:
    for name, floor in CORE_FLOORS.items():
        if module == name or module.startswith(name + "."):
            return floor
    return 0


def package_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (names that are not modules dropped)."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {t for t in imports(path) if t in paths and t != name}
            for name, path in paths.items()}


def core_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for name, targets in sorted(graph.items()):
        if layer(name) != "core":
            continue
        for target in sorted(targets):
            if layer(target) != "core":
                continue
            if name in CORE_BOTTOM:
                out.append(f"{name} is the core's bottom and imports {target}")
            elif core_floor(target) > core_floor(name):
                out.append(f"{name} (floor {core_floor(name)}) imports {target} "
                           f"(floor {core_floor(target)})")
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_core_is_built_in_floors_without_a_circle():
    graph = package_graph()
    assert core_violations(graph) == []
    # Package __init__ files import nothing here, so any circle is a real one.
    assert circles(graph) == []


def test_the_floor_and_circle_checks_see_what_they_must():
    """A policy importing the facade, and a two-module loop, are both caught."""
    graph = package_graph()
    graph["rtmdnet_ros.composite.policy"] = graph["rtmdnet_ros.composite.policy"] | {
        "rtmdnet_ros.tracker"}
    assert any("composite.policy" in v for v in core_violations(graph))
    assert circles(graph)  # tracker -> composite.policy -> tracker
    assert "rtmdnet_ros.classifier" in package_graph()["rtmdnet_ros.composite.verifier"]


def test_the_checker_sees_local_and_relative_imports(tmp_path):
    """The rules above would pass on a checker that saw nothing: check it sees what it must."""
    tracker = imports(PACKAGE / "tracker.py")
    assert "rtmdnet_ros.onnx_runtime" in tracker  # ``from . import onnx_runtime``
    # ``from . import model_file as mf`` inside ship_packaged: a function-local relative import
    assert "rtmdnet_ros.model_file" in imports(PACKAGE / "backbone_runtime.py")
    node = imports(PACKAGE / "node" / "outputs.py")
    assert any(t.split(".")[0] == "rclpy" for t in node) and "rtmdnet_ros.ros_io.messages" in node
    assert layer("rtmdnet_ros.node.tracker_node") == "node"
    assert layer("rtmdnet_ros.sequences") == "data" and layer("rtmdnet_ros.tracker") == "core"
