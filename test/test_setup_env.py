# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""`make setup` (tools/setup_env.py): idempotent, fast when nothing changed, clear when it fails,
and the venv it builds sees the source tree and the generated interfaces as one package."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from data_paths import require_ros2_tools

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv"
REQUIREMENTS_DIR = REPO / "requirements"
IN_CI = os.environ.get("CI", "").lower() == "true"


def load_setup_env():
    """Import tools/setup_env.py as a module (tools/ is not a package); its stages are its
    attributes (setup_env.packages, setup_env.ros2_tools, ...)."""
    spec = importlib.util.spec_from_file_location("setup_env", REPO / "tools" / "setup_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


setup_env = load_setup_env()


def require_venv() -> None:
    """Skip (fail under CI) when the project's venv was not built: these tests inspect it."""
    if not (VENV / "bin" / "python").exists():
        if IN_CI:
            pytest.fail(f"{VENV} missing under CI: make test builds it first")
        pytest.skip(f"{VENV} not built: run `make setup`")


def venv_snapshot() -> dict[str, tuple[int, int]]:
    """Map every file and link in the venv to (mtime_ns, size), bytecode caches aside (Python
    writes those on first import of the CMake-installed modules, which is not set-up's doing)."""
    snapshot = {}
    for root, dirs, files in os.walk(VENV):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            path = os.path.join(root, name)
            info = os.lstat(path)
            snapshot[path] = (info.st_mtime_ns, info.st_size)
    return snapshot


def make_setup() -> tuple[subprocess.CompletedProcess[str], float]:
    """Run `make setup` in the repo as a user would; return the result and its wall time."""
    start = time.monotonic()
    result = subprocess.run(
        ["make", "-s", "setup"], cwd=REPO, capture_output=True, text=True, timeout=1200
    )
    return result, time.monotonic() - start


def test_second_make_setup_changes_nothing_and_takes_seconds():
    require_venv()
    first, _ = make_setup()  # brings the venv up to date if something changed since
    assert first.returncode == 0, first.stdout + first.stderr
    before = venv_snapshot()
    second, elapsed = make_setup()
    assert second.returncode == 0, second.stdout + second.stderr
    assert "up to date" in second.stdout, second.stdout
    assert elapsed < 10.0, f"no-op make setup took {elapsed:.1f} s"
    after = venv_snapshot()
    changed = [p for p in before.keys() | after.keys() if before.get(p) != after.get(p)]
    assert changed == [], f"no-op make setup touched {sorted(changed)[:10]}"
    assert len(before) > 1000  # the snapshot really covered the installed packages


def test_cmake_path_fix_rewrites_wheel_paths_once(tmp_path):
    require_venv()
    cmake_dir = tmp_path / "share" / "std_msgs" / "cmake"
    cmake_dir.mkdir(parents=True)
    export = cmake_dir / "export_std_msgs__rosidl_generator_pyExport.cmake"
    export.write_text(
        'INTERFACE_INCLUDE_DIRECTORIES "/opt/python/cp311-cp311/include/python3.11;'
        '/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"\n'
    )
    untouched = cmake_dir / "other.cmake"
    untouched.write_text("set(X 1)\n")
    env = setup_env.environment.Environment(tmp_path, None)
    env.python = VENV / "bin" / "python"  # needs numpy for numpy.get_include()

    assert setup_env.packages.fix_cmake_paths(env) == [export]
    text = export.read_text()
    assert "/opt/python" not in text
    includes = text.split('"')[1].split(";")
    assert (Path(includes[0]) / "Python.h").is_file()
    assert (Path(includes[1]) / "numpy" / "arrayobject.h").is_file()
    assert untouched.read_text() == "set(X 1)\n"
    mtime = export.stat().st_mtime_ns
    assert setup_env.packages.fix_cmake_paths(env) == []  # second run: nothing left to fix
    assert export.stat().st_mtime_ns == mtime


def test_installed_wheels_need_no_more_fixes():
    require_venv()
    env = setup_env.environment.Environment(VENV, None)
    offenders = [
        p for p in (VENV / "share").rglob("*.cmake") if "/opt/python/" in p.read_text()
    ]
    assert offenders == []
    assert setup_env.packages.fix_cmake_paths(env) == []


def isolated_path(tmp_path: Path, tools: list[str]) -> str:
    """Return a PATH holding only the named tools (symlinked), to play a machine without others."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        assert found, f"{tool} not on this machine's PATH"
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.mark.parametrize(
    ("tools", "complaint"),
    [
        ([], "cmake not found on PATH"),
        (["cmake", "make"], "no C compiler"),
    ],
)
def test_missing_build_tool_is_named_before_anything_is_built(tmp_path, tools, complaint):
    venv = tmp_path / "venv"
    env = {**os.environ, "PATH": isolated_path(tmp_path, tools)}
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "setup_env.py"), "--venv", str(venv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode != 0
    assert complaint in result.stderr, result.stderr
    assert "FAILED" in result.stderr
    assert not venv.exists()  # failed before creating (or downloading) anything


def test_unreachable_registry_is_reported(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # discard port: refused
    problem = setup_env.prerequisites.registry_problem()
    assert problem is not None and "registry unreachable" in problem
    assert "127.0.0.1:9" in problem


def test_stage_hash_follows_input_contents(tmp_path, monkeypatch):
    monkeypatch.setattr(setup_env.environment, "REPO", tmp_path)
    a = tmp_path / "a.msg"
    a.write_text("int32 x\n")
    first = setup_env.environment.file_digest([a])
    assert setup_env.environment.file_digest([a]) == first
    a.write_text("int64 x\n")
    assert setup_env.environment.file_digest([a]) != first
    digest = setup_env.environment.file_digest
    assert digest([a], extra="other stage") != digest([a])


def fake_venv_with_vision_msgs_manifest(tmp_path: Path, description: str):
    """An Environment whose share/ holds a vision_msgs package.xml with the given description,
    run by the project's venv Python (where a vision_msgs imports)."""
    share = tmp_path / "share" / "vision_msgs"
    share.mkdir(parents=True)
    (share / "package.xml").write_text(
        f"<package format='3'><name>vision_msgs</name><description>{description}"
        "</description></package>\n"
    )
    env = setup_env.environment.Environment(tmp_path, None)
    env.python = VENV / "bin" / "python"
    return env


def test_vision_msgs_fallback_never_shadows_a_real_one(tmp_path):
    require_venv()
    assert (REPO / "tools" / "vision_msgs" / "COLCON_IGNORE").is_file()
    manifest = REPO / "tools" / "vision_msgs" / "package.xml"
    assert setup_env.layout.FALLBACK_MARKER in manifest.read_text()
    # An importable vision_msgs whose manifest is not ours (a distro's): used, nothing built,
    # whatever the state file says.
    env = fake_venv_with_vision_msgs_manifest(tmp_path, "Messages for interfacing with vision.")
    assert not setup_env.interfaces.fallback_installed(env)
    assert setup_env.interfaces.stage_vision_msgs(env, {}, "d1") == "external"
    stage = setup_env.interfaces.stage_vision_msgs
    assert stage(env, {"vision_msgs": "built:d0"}, "d1") == "external"
    assert not (tmp_path / "build").exists()


def test_vision_msgs_fallback_up_to_date_is_not_rebuilt(tmp_path):
    require_venv()
    env = fake_venv_with_vision_msgs_manifest(tmp_path, setup_env.layout.FALLBACK_MARKER + " ...")
    assert setup_env.interfaces.fallback_installed(env)
    stage = setup_env.interfaces.stage_vision_msgs
    assert stage(env, {"vision_msgs": "built:d1"}, "d1") == "built:d1"
    assert not (tmp_path / "build").exists()


def test_source_tree_and_generated_interfaces_import_together(tmp_path):
    """A new module in the source tree imports at once, beside the installed rtmdnet_ros.msg."""
    require_venv()
    token = uuid.uuid4().hex[:10]
    probe = REPO / "rtmdnet_ros" / f"_probe_{token}.py"
    probe.write_text(
        "# Copyright 2026 The rtmdnet_ros Authors\n"
        "# SPDX-License-Identifier: Apache-2.0\n"
        f'"""Temporary module of test_setup_env."""\n\nTOKEN = "{token}"\n'
    )
    code = (
        f"import rtmdnet_ros, rtmdnet_ros._probe_{token} as p\n"
        "from rtmdnet_ros.msg import TrackerStatus\n"
        "from rtmdnet_ros.srv import InitTarget\n"
        "import rtmdnet_ros.msg as m\n"
        "print(p.TOKEN); print(m.__file__); print(rtmdnet_ros.__file__)\n"
    )
    try:
        result = subprocess.run(
            [str(VENV / "bin" / "python"), "-c", code],
            cwd=tmp_path,  # not the repo: the venv alone must find the source tree
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        probe.unlink()
    assert result.returncode == 0, result.stderr
    token_out, msg_file, init_file = result.stdout.split()
    assert token_out == token
    assert msg_file.startswith(str(VENV))
    assert init_file == str(REPO / "rtmdnet_ros" / "__init__.py")  # source wins: package data


def test_console_scripts_run_the_source_entry_points():
    require_venv()
    scripts = setup_env.dev_links.console_scripts()
    assert set(scripts) == {
        "rtmdnet-eval",
        "rtmdnet-train",
        "rtmdnet-train-siamese",
        "tracker_node",
        "frame_publisher",
        "tracking_recorder",
        "init_client",
        "rtmdnet-demo",
        "rtmdnet-bag",
        "rtmdnet-bag-from-images",
    }
    for name, target in scripts.items():
        script = VENV / "bin" / name
        assert os.access(script, os.X_OK), script
        text = script.read_text()
        module, func = target.split(":")
        assert text.startswith(f"#!{VENV / 'bin' / 'python'}\n")
        assert f"from {module} import {func}" in text


def test_package_is_installed_like_colcon_would():
    """ament index, share/ files and lib/<package>/ executables, as `ros2 run` expects them."""
    require_venv()
    code = (
        "from ament_index_python.packages import get_package_share_directory, "
        "get_package_prefix\n"
        "print(get_package_share_directory('rtmdnet_ros'))\n"
        "print(get_package_prefix('rtmdnet_ros'))\n"
    )
    result = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    share, prefix = (Path(line) for line in result.stdout.split())
    assert prefix == VENV
    assert (share / "package.xml").read_bytes() == (REPO / "package.xml").read_bytes()
    assert (share / "srv" / "InitTarget.srv").is_file()
    for name in ("tracker_node", "frame_publisher", "tracking_recorder", "init_client"):
        assert os.access(prefix / "lib" / "rtmdnet_ros" / name, os.X_OK)
    for folder in ("launch", "config"):
        for source in (REPO / folder).glob("*"):
            if source.is_file():
                assert (share / folder / source.name).read_bytes() == source.read_bytes()
        assert not (share / folder / "__pycache__").exists()


def test_ros_run_executables_start_without_an_activated_venv(tmp_path):
    """`ros2 run`/`ros2 launch` exec .venv/lib/rtmdnet_ros/* directly: the shebang must be the
    venv's Python, or they die with "No module named 'rtmdnet_ros'" outside an activated venv."""
    require_venv()
    folder = VENV / "lib" / "rtmdnet_ros"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["frame_publisher", "init_client", "tracker_node", "tracking_recorder"]
    for name in names:
        assert (folder / name).read_text().startswith(f"#!{VENV / 'bin' / 'python'}\n"), name
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "_ROS_WHEELS_BOOTSTRAP_COMPLETE")}
    env["PATH"] = "/usr/bin:/bin"  # no venv on PATH
    result = subprocess.run([str(folder / "init_client"), "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--box" in result.stdout


def test_shebang_fix_touches_python_scripts_only_and_once(tmp_path):
    env = setup_env.environment.Environment(tmp_path, None)
    folder = tmp_path / "lib" / "rtmdnet_ros"
    folder.mkdir(parents=True)
    script = folder / "tracker_node"
    script.write_text("#!/usr/bin/env python3\n# body\nimport sys\n")
    shell = folder / "helper.sh"
    shell.write_text("#!/bin/sh\necho python\n")
    assert setup_env.dev_links.fix_lib_shebangs(env) == [script]
    assert script.read_text() == f"#!{env.python}\n# body\nimport sys\n"
    assert os.access(script, os.X_OK)
    assert shell.read_text() == "#!/bin/sh\necho python\n"
    mtime = script.stat().st_mtime_ns
    assert setup_env.dev_links.fix_lib_shebangs(env) == []  # idempotent: nothing rewritten
    assert script.stat().st_mtime_ns == mtime


def test_ros2_tools_folder_choice(tmp_path, monkeypatch):
    """$RTMDNET_ROS2_TOOLS wins and must exist; else ../shared/ros2-tools when present; else
    None (a plain clone: the tools are skipped)."""
    monkeypatch.delenv(setup_env.ros2_tools.ROS2_TOOLS_ENV, raising=False)
    monkeypatch.setattr(setup_env.ros2_tools, "DEFAULT_ROS2_TOOLS", tmp_path / "absent")
    assert setup_env.ros2_tools.ros2_tools_dir() is None
    (tmp_path / "tools" / "wheels").mkdir(parents=True)
    monkeypatch.setattr(setup_env.ros2_tools, "DEFAULT_ROS2_TOOLS", tmp_path / "tools")
    assert setup_env.ros2_tools.ros2_tools_dir() == tmp_path / "tools"
    (tmp_path / "mine" / "wheels").mkdir(parents=True)
    monkeypatch.setenv(setup_env.ros2_tools.ROS2_TOOLS_ENV, str(tmp_path / "mine"))
    assert setup_env.ros2_tools.ros2_tools_dir() == tmp_path / "mine"
    monkeypatch.setenv(setup_env.ros2_tools.ROS2_TOOLS_ENV, str(tmp_path / "typo"))
    with pytest.raises(setup_env.process.SetupError, match="typo"):
        setup_env.ros2_tools.ros2_tools_dir()


def test_setup_without_the_tools_folder_says_so_in_one_line(monkeypatch, capsys):
    """A clone without ../shared: the up-to-date venv stays as it is, one line names the skip."""
    require_venv()
    assert make_setup()[0].returncode == 0  # up to date first (another edit may be pending)
    monkeypatch.delenv(setup_env.ros2_tools.ROS2_TOOLS_ENV, raising=False)
    monkeypatch.setattr(setup_env.ros2_tools, "DEFAULT_ROS2_TOOLS", REPO / "no-such-ros2-tools")
    assert setup_env.main(["--venv", str(VENV)]) == 0
    out = capsys.readouterr().out
    skipped = [line for line in out.splitlines() if "ROS 2 tools" in line]
    assert len(skipped) == 1 and "skipped" in skipped[0], out
    assert "up to date" in out


def test_tool_wheels_are_checked_against_their_checksums(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = wheels / "launch-3.7.1-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    source = wheels / "composition_interfaces-2.2.0-src.tar.gz"
    source.write_bytes(b"sources")
    sums = wheels / "SHA256SUMS"

    def sha(data: bytes) -> str:
        import hashlib

        return hashlib.sha256(data).hexdigest()

    sums.write_text(f"{sha(b'sources')}  {source.name}\n{sha(b'wheel bytes')}  {wheel.name}\n")
    assert setup_env.ros2_tools.check_ros2_tools_checksums(tmp_path) == [source, wheel]
    wheel.write_bytes(b"truncated")
    with pytest.raises(setup_env.process.SetupError, match="does not match"):
        setup_env.ros2_tools.check_ros2_tools_checksums(tmp_path)
    wheel.write_bytes(b"wheel bytes")
    (wheels / "extra-1.0-py3-none-any.whl").write_bytes(b"x")
    with pytest.raises(setup_env.process.SetupError, match="not listed"):
        setup_env.ros2_tools.check_ros2_tools_checksums(tmp_path)


def test_ros2_tools_are_installed_when_the_folder_exists():
    """With ../shared/ros2-tools, make setup put ros2cli, launch and launch_testing in the venv,
    recorded so that the next run skips them; the local wheels never become registry pins."""
    require_venv()
    require_ros2_tools()  # skips (fails under CI) without the folder
    folder = setup_env.ros2_tools.ros2_tools_dir()
    assert make_setup()[0].returncode == 0
    state = setup_env.environment.Environment(VENV, None).load_state()
    assert state["ros2_tools"] == setup_env.pipeline.stage_digests(
        setup_env.environment.Environment(VENV, None), folder)["ros2_tools"]
    code = "import " + ", ".join(setup_env.ros2_tools.ROS2_TOOLS_IMPORTS)
    result = subprocess.run([str(VENV / "bin" / "python"), "-c", code], cwd="/",
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    help_text = subprocess.run([str(VENV / "bin" / "ros2"), "--help"], capture_output=True,
                               text=True, timeout=60)
    assert help_text.returncode == 0, help_text.stderr
    for verb in ("launch", "service", "topic", "param", "node", "run"):
        assert f"  {verb} " in help_text.stdout, verb
    pins = setup_env.constraints.registry_pins(setup_env.environment.Environment(VENV, None))
    for line in (REQUIREMENTS_DIR / "ros2-tools.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            assert line in pins
    assert not [p for p in pins if p.split("==")[0].lower() in ("launch", "launch-ros", "ros2cli")]
