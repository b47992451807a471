# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS user's path: ``colcon build`` in a workspace, then everything from the install space.

The package is copied into a scratch workspace as a clone gives it, built with ``colcon build``
(colcon-common-extensions, pinned in requirements/) against an underlay standing in for
``/opt/ros/<distro>`` (test/colcon_workspace.py: the project venv minus this package and its
development ``.pth``), and then used from ``bash`` shells that source the underlay and
``install/setup.bash`` and nothing else: no source tree on any path. That is how a missing
install rule shows: a module, model, config, launch or rviz file that is not installed is not
found by the installed node, and the file-by-file check names it.

The NanoTrack v3 files are put under the copy's ``rtmdnet_ros/models/nanotrack_v3/`` before the
build, standing in for the Siamese network that ships there: the installed node must load it
from the install space, so whatever lands under ``rtmdnet_ros/models/`` is installed.
Cost: one build and one launch, shared by the module.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from colcon_workspace import (
    PACKAGE,
    PY,
    VENV,
    clean_env,
    copy_sources,
    make_underlay,
    shell_command,
)
from data_paths import REPO_ROOT, require_ros2_tools
from node_harness import CollectedProcess

from rtmdnet_ros import packaged_models

BUILD_S = 900.0  # colcon build on a loaded 2-core machine, with room to spare
STARTUP_S = 120.0
CALL_S = 60.0
# The shipped Siamese network, relative to the package (the default of siamese_dir and
# refiner_dir): installed with the package like anything under rtmdnet_ros/models/.
SHIPPED_SIAMESE = packaged_models.SIAMESE_DIR.relative_to(
    Path(packaged_models.__file__).resolve().parent)
INIT = ('ros2 service call /rtmdnet_tracker/init rtmdnet_ros/srv/InitTarget '
        '"{box: {center: {position: {x: 320.0, y: 240.0}}, size_x: 80.0, size_y: 120.0}}"')


@dataclass
class Workspace:
    """A built colcon workspace and the shell set-up that uses it."""

    root: Path
    underlay: Path  # the underlay's setup.bash
    home: Path
    build_output: str

    @property
    def install(self) -> Path:
        return self.root / "install" / PACKAGE

    @property
    def site_package(self) -> Path:
        return self.install / "lib" / PY / "site-packages" / PACKAGE

    def command(self, command: str) -> list[str]:
        return shell_command(self.underlay, self.root, command)

    def run(self, command: str, timeout: float = CALL_S) -> str:
        """Run ``command`` in a clean shell with the install space sourced; fail on exit != 0."""
        result = subprocess.run(self.command(command), cwd=self.root, env=clean_env(self.home),
                                capture_output=True, text=True, timeout=timeout)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{command}\nexit {result.returncode}\n{output[-4000:]}"
        return result.stdout


def _own_group() -> None:
    """In the child: default SIGINT (a backgrounded pytest ignores it) and its own group."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setpgrp()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Copy the package into a scratch workspace and build it with colcon; fail with its output."""
    require_ros2_tools()
    if not (VENV / "bin" / "colcon").is_file():
        pytest.fail(f"{VENV / 'bin' / 'colcon'} missing: make setup installs "
                    "colcon-common-extensions (requirements/project.txt)", pytrace=False)
    base = tmp_path_factory.mktemp("colcon")
    underlay = make_underlay(base / "ros")
    root = base / "ws"
    copy_sources(root / "src" / PACKAGE)
    home = base / "home"
    home.mkdir()
    result = subprocess.run(shell_command(underlay, None, "colcon build"), cwd=root,
                            env=clean_env(home), capture_output=True, text=True,
                            timeout=BUILD_S)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"colcon build failed:\n{output[-6000:]}"
    return Workspace(root, underlay, home, output)


def source_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` but Python's caches, relative to it."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def test_install_space_holds_every_file_the_package_needs(workspace):
    """File by file: the Python package (models included), launch, config, rviz, executables,
    interface definitions. A folder or file left out of CMakeLists.txt fails here by name."""
    src = workspace.root / "src" / PACKAGE
    share = workspace.install / "share" / PACKAGE
    expected = {src / PACKAGE / rel: workspace.site_package / rel
                for rel in source_files(src / PACKAGE)}
    for folder in ("launch", "config", "rviz", "msg", "srv"):
        expected.update({src / folder / rel: share / folder / rel
                         for rel in source_files(src / folder)})
    expected[src / "package.xml"] = share / "package.xml"
    missing = [str(dst) for src_file, dst in expected.items() if not dst.is_file()]
    assert missing == [], "not installed:\n" + "\n".join(missing)
    differ = [str(dst) for src_file, dst in expected.items()
              if dst.read_bytes() != src_file.read_bytes()]
    assert differ == [], "installed copies differ:\n" + "\n".join(differ)
    for name in ("models/default.pt", f"{SHIPPED_SIAMESE}/nanotrack_backbone.onnx",
                 f"{SHIPPED_SIAMESE}/nanotrack_head.onnx", f"{SHIPPED_SIAMESE}/NOTICE",
                 f"{SHIPPED_SIAMESE}/LICENSE"):
        assert (workspace.site_package / name).is_file(), name
    for script in (src / "scripts").iterdir():
        installed = workspace.install / "lib" / PACKAGE / script.name
        assert os.access(installed, os.X_OK), f"{installed} not installed as an executable"


def test_installed_package_imports_from_the_install_space_only(workspace):
    """Every module of the package imports in a clean shell, from the install space alone."""
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import rtmdnet_ros, rtmdnet_ros.msg, rtmdnet_ros.srv\n"
        "from rtmdnet_ros import packaged_models\n"
        "names = [m.name for m in pkgutil.walk_packages(rtmdnet_ros.__path__, 'rtmdnet_ros.')\n"
        "         if not m.name.endswith('__main__')]  # those run a command line\n"
        "files = {n: importlib.import_module(n).__file__ for n in names}\n"
        "print(json.dumps({'path': list(rtmdnet_ros.__path__), 'sys_path': sys.path,\n"
        "    'files': files, 'model': str(packaged_models.DEFAULT_MODEL),\n"
        "    'siamese_dir': str(packaged_models.siamese_dir(''))}))\n"
    )
    found = json.loads(workspace.run(f"python3 -c {shlex.quote(code)}", timeout=300)
                       .strip().splitlines()[-1])
    install = str(workspace.install)
    assert found["path"] == [str(workspace.site_package)]
    for entry in found["sys_path"]:
        assert not entry.startswith(str(REPO_ROOT)) and "/src/" not in entry, entry
        assert "rtmdnet_ros_interfaces" not in entry, entry
    assert len(found["files"]) > 40  # every module of the package, node, bag, evaluation...
    outside = {name: file for name, file in found["files"].items()
               if not (file or "").startswith(install)}
    assert outside == {}, outside
    assert found["model"].startswith(install)
    assert found["siamese_dir"] == str(workspace.site_package / SHIPPED_SIAMESE)


def test_ros2_pkg_executables_and_interface_show(workspace):
    executables = workspace.run("ros2 pkg executables rtmdnet_ros").split("\n")
    assert sorted(line for line in executables if line) == [
        f"{PACKAGE} {name}"
        for name in ("frame_publisher", "init_client", "tracker_node", "tracking_recorder")]
    init = workspace.run("ros2 interface show rtmdnet_ros/srv/InitTarget")
    assert "vision_msgs/BoundingBox2D box" in init and "---" in init and "bool success" in init
    status = workspace.run("ros2 interface show rtmdnet_ros/msg/TrackerStatus")
    assert "std_msgs/Header header" in status and "uint8 TRACKING" in status


def interrupt_group(process: CollectedProcess, timeout: float = 30.0) -> int:
    """Ctrl-C in a terminal: SIGINT to the whole process group; kill after ``timeout``."""
    if process.proc.poll() is None:
        os.killpg(process.proc.pid, signal.SIGINT)
        try:
            process.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.proc.pid, signal.SIGKILL)
            process.proc.wait(timeout=10)
            process.lines.append(f"[test] still running {timeout} s after SIGINT: killed")
    return int(process.proc.returncode)


def test_launch_reaches_active_answers_init_and_stops_on_sigint(workspace, tmp_path):
    """``ros2 launch`` from the install space to active, a camera, one ``~/init``, Ctrl-C."""
    import cv2
    from synthetic_clip import make_clip

    frames, _ = make_clip(n_frames=20, size=(640, 480))
    writer = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10,
                             (640, 480))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    env = clean_env(workspace.home)
    launch = CollectedProcess(
        workspace.command("exec ros2 launch rtmdnet_ros tracker.launch.py device:=cpu "
                          "image_topic:=/camera/image_raw"),
        tmp_path, env=env, preexec_fn=_own_group)
    camera = None
    try:
        launch.wait_for_log(r"listening on /camera/image_raw", STARTUP_S)
        camera = CollectedProcess(
            workspace.command("exec ros2 run rtmdnet_ros frame_publisher --ros-args "
                              "-p video:=clip.mp4 -p loop:=true -r image:=/camera/image_raw"),
            tmp_path, env=env, preexec_fn=_own_group)
        camera.wait_for_log(r"publishing \d+ frames", 60)
        # Without a daemon each call discovers the graph anew and can miss the node within its
        # spin time on a busy machine, so calls are repeated until a deadline before the verdict.
        deadline = time.monotonic() + STARTUP_S
        while True:
            result = subprocess.run(
                workspace.command("ros2 lifecycle get /rtmdnet_tracker --no-daemon --spin-time 5"),
                cwd=workspace.root, env=env, capture_output=True, text=True, timeout=CALL_S)
            state = result.stdout
            found = result.returncode == 0 and "Node not found" not in result.stderr
            if found or time.monotonic() > deadline:
                break
        assert state.startswith("active [3]"), f"{state}\n{result.stderr}"
        deadline = time.monotonic() + 30
        while True:  # the first frames may still be on their way when the camera starts
            answer = workspace.run(INIT)
            if "success=True" in answer or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        assert "success=True" in answer and "tracking started" in answer, answer
        launch.wait_for_log(r"track 1 \(object\) started", 30)
    finally:
        codes = {"launch": interrupt_group(launch)}
        if camera is not None:
            codes["frame_publisher"] = interrupt_group(camera)
    log = launch.log()
    assert codes == {"launch": 0, "frame_publisher": 0}, f"{codes}\n{log[-4000:]}"
    assert re.search(r"tracker_node-1\]: process has finished cleanly", log), log[-3000:]
    # The node used the installed files: model, the shipped Siamese network of the default
    # composite tracker, Fast DDS profile, config.
    site = str(workspace.site_package)
    assert f"using the packaged model {site}/models/default.pt" in log, log[-4000:]
    assert f"composite tracker: Siamese network from {site}/models/siamese" in log, log[-4000:]
    assert f"DDS profile {workspace.install}/share/{PACKAGE}/config/fastdds.xml" in log
    # The camera stand-in found the installed profile too: no lost-frame warning from the node.
    assert f"DDS profile {workspace.install}/share/{PACKAGE}/config/fastdds.xml" in camera.log()
    assert "lost before reaching the node" not in log, log[-4000:]
