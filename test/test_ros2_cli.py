# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The README's ROS 2 commands, run as a user runs them, against the node the launch file starts.

Each command below is a real ``ros2`` process (ros2cli from ../shared/ros2-tools, which
``make setup`` installs into .venv) talking to a real tracker node started by
``ros2 launch rtmdnet_ros tracker.launch.py``; nothing is imported from the node. The command
strings are the README's own lines (``test_every_readme_ros2_line_is_tested`` ties both ways),
so a README that drifts from the node fails here. Two launches are shared by all tests to keep the
time down: the README's default one (with a camera stand-in for a successful ``~/init``) and one
setting every launch argument at once. Both stop with SIGINT, as ``ros2 launch`` needs.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from data_paths import REPO_ROOT, require_ros2_tools
from node_harness import CollectedProcess

README = REPO_ROOT / "README.md"

# The README's lines, verbatim (the init request is continued over two lines there).
LAUNCH = "ros2 launch rtmdnet_ros tracker.launch.py image_topic:=/camera/image_raw device:=auto"
CAMERA = ("ros2 run rtmdnet_ros frame_publisher --ros-args -p video:=clip.mp4 -p loop:=true "
          "-p rate:=10.0 -r image:=/camera/image_raw")
INIT = ('ros2 service call /rtmdnet_tracker/init rtmdnet_ros/srv/InitTarget '
        '"{box: {center: {position: {x: 320.0, y: 240.0}}, size_x: 80.0, size_y: 120.0}}"')
RESET = "ros2 service call /rtmdnet_tracker/reset std_srvs/srv/Trigger"
ECHO_STATUS = "ros2 topic echo --once /rtmdnet_tracker/status"
DESCRIBE = "ros2 param describe /rtmdnet_tracker lost_score_threshold"
SET_OK = "ros2 param set /rtmdnet_tracker lost_score_threshold 0.6"
SET_OUT_OF_RANGE = "ros2 param set /rtmdnet_tracker lost_score_threshold 1.5"
SET_READ_ONLY = "ros2 param set /rtmdnet_tracker device cpu"
GET = "ros2 param get /rtmdnet_tracker lost_score_threshold"
LAUNCH_ALL_ARGS = ("ros2 launch rtmdnet_ros tracker.launch.py namespace:=cam1 "
                   "params_file:=my_tracker.yaml image_topic:=camera/image "
                   "image_transport:=compressed device:=cpu publish_debug:=false "
                   "detections_topic:=detector/detections click_to_track:=true")
INIT_BY_POINT = ('ros2 service call /rtmdnet_tracker/init rtmdnet_ros/srv/InitTarget '
                 '"{use_point: true, point_x: 320.0, point_y: 240.0}"')
INIT_BY_CLASS = ('ros2 service call /rtmdnet_tracker/init rtmdnet_ros/srv/InitTarget '
                 '"{init_class: person}"')
RESET_TARGET = ('ros2 service call /rtmdnet_tracker/reset_target rtmdnet_ros/srv/ResetTarget '
                '"{track_id: \'1\'}"')
# The lifecycle lines (run by test_node_lifecycle.py against a node of its own).
LAUNCH_MANAGED = "ros2 launch rtmdnet_ros tracker.launch.py autostart:=false"
LIFECYCLE_GET = "ros2 lifecycle get /rtmdnet_tracker"
LIFECYCLE_SET = {transition: f"ros2 lifecycle set /rtmdnet_tracker {transition}"
                 for transition in ("configure", "activate", "deactivate", "cleanup", "shutdown")}
RUN_MANAGED = "ros2 run rtmdnet_ros tracker_node --ros-args -p autostart:=false"
README_COMMANDS = (LAUNCH, CAMERA, INIT, INIT_BY_POINT, INIT_BY_CLASS, RESET_TARGET, RESET,
                   ECHO_STATUS, DESCRIBE, SET_OK, SET_OUT_OF_RANGE, SET_READ_ONLY, GET,
                   LAUNCH_ALL_ARGS, LAUNCH_MANAGED, LIFECYCLE_GET, *LIFECYCLE_SET.values(),
                   RUN_MANAGED)
# README lines starting with ros2 that need what this machine cannot give (rviz2 is no wheel).
NOT_RUNNABLE_HERE = ()

READY = r"listening on "  # the node's last start-up line: subscription, publishers and services
STARTUP_S = 90.0  # torch import and model load on a loaded 2-core machine
CALL_S = 60.0  # one CLI call (Python start, discovery, a first-frame training for ~/init)


def readme_ros2_lines() -> list[list[str]]:
    """Return every ``ros2 ...`` line of the README's code blocks as tokens (comments dropped,
    backslash continuations joined), the way a shell would split them."""
    lines, in_code, pending = [], False, ""
    for raw in README.read_text().splitlines():
        if raw.startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if line.startswith("ros2 "):
            lines.append(shlex.split(line, comments=True))
    return lines


def ros_env() -> dict[str, str]:
    """The test session's domain (test/conftest.py), localhost discovery, unbuffered output."""
    env = dict(os.environ)
    env.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1",
               RCUTILS_COLORIZED_OUTPUT="0", RCUTILS_LOGGING_BUFFERED_STREAM="0")
    env.pop("_ROS_WHEELS_BOOTSTRAP_COMPLETE", None)  # each venv Python sets its own library path
    assert env.get("ROS_DOMAIN_ID"), "test/conftest.py sets a random ROS_DOMAIN_ID"
    return env


def _default_sigint() -> None:
    """In the child: SIGINT back to its default and a process group of its own.

    A shell that starts pytest in the background leaves SIGINT ignored, and an ignored signal
    stays ignored across exec: ``ros2 launch`` would then never stop.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setpgrp()


class Background(CollectedProcess):
    """A long-running ros2 command (launch, run) with its output collected line by line."""

    def __init__(self, command: str, cwd: Path) -> None:
        self.command = command
        argv = [str(require_ros2_tools()), *shlex.split(command)[1:]]
        super().__init__(argv, cwd, env=ros_env(), preexec_fn=_default_sigint)

    def output(self) -> str:
        """Everything the command printed so far."""
        return self.log()

    def wait_for(self, pattern: str, timeout: float = STARTUP_S) -> str:
        """Return the first output line matching ``pattern``; fail with the output otherwise."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = next((line for line in self.lines if regex.search(line)), None)
            if found is not None:
                return found
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{self.command!r}: no line matching {pattern!r} "
                             f"(exit {self.proc.poll()}):\n{self.output()[-4000:]}")

    def interrupt(self, timeout: float = 30.0) -> int:
        """Stop with SIGINT: to ``ros2 launch`` itself, which passes it on to its nodes once,
        and to the whole process group of ``ros2 run``, which does not pass it on (``ros2
        launch`` does not stop its nodes on SIGTERM at all). A command still running after
        ``timeout`` is killed and the output says so.
        """
        if self.proc.poll() is None:
            if shlex.split(self.command)[1] == "launch":
                self.proc.send_signal(signal.SIGINT)
            else:
                os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
                self.lines.append(f"[test] still running {timeout} s after SIGINT: killed")
        self._reader.join(timeout=5)
        return self.proc.returncode


def ros2(command: str, cwd: Path, timeout: float = CALL_S) -> str:
    """Run one ``ros2 ...`` command line to its end; return stdout and stderr, failing on a bad
    exit status.

    ``ros2 param`` calls are idempotent and are tried again once when one hangs: the CLI waits
    for the reply without a deadline, and a reply sent before the server has matched the
    CLI's reply reader is lost (a DDS discovery race; docs/setup.md, "Margins in the tests").
    A second hang fails the test.
    """
    argv = [str(require_ros2_tools()), *shlex.split(command, comments=True)[1:]]
    attempts = 2 if argv[1:2] == ["param"] else 1
    for attempt in range(1, attempts + 1):
        try:
            result = subprocess.run(argv, cwd=cwd, env=ros_env(), capture_output=True,
                                    text=True, timeout=timeout / attempts,
                                    preexec_fn=_default_sigint)
            break
        except subprocess.TimeoutExpired:
            if attempt == attempts:
                raise
    output = result.stdout + result.stderr  # refusals ("Setting parameter failed") go to stderr
    if result.returncode == -signal.SIGSEGV and answered_in_full(argv, result.stdout):
        # The CLI crashed tearing its node down after it printed the node's whole answer: what
        # the test asserts (the answer) came back; the crash is the CLI's (docs/setup.md,
        # "Margins in the tests").
        print(f"[test] {command!r} crashed (SIGSEGV) after printing its answer", file=sys.stderr)
        return output
    assert result.returncode == 0, f"{command}\nexit {result.returncode}\n{output}"
    return output


def answered_in_full(argv: list[str], stdout: str) -> bool:
    """Whether a ``ros2 service call`` printed the whole response it received: the last thing it
    does before it destroys its node and exits."""
    return (argv[1:3] == ["service", "call"]
            and re.search(r"^response:\n\S+_Response\(.*\)\n", stdout, re.MULTILINE) is not None)


def ros2_each(commands: list[str], cwd: Path) -> list[str]:
    """Run independent ``ros2`` command lines side by side (each a Python start of its own);
    return their outputs in order, failing as :func:`ros2` does."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return list(pool.map(lambda command: ros2(command, cwd), commands))


def daemon_workdir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A directory for the commands to run in, and the ros2 daemon the CLI calls share.

    Started here rather than by the first call, which spawns it and goes on without it: the next
    call would then ask a daemon that has not discovered the node yet ("node not found").
    """
    require_ros2_tools()
    path = tmp_path_factory.mktemp(name)
    ros2("ros2 daemon start", path)
    yield path
    subprocess.run([str(require_ros2_tools()), "daemon", "stop"], env=ros_env(),
                   capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The directory the commands of this module run in (see daemon_workdir)."""
    yield from daemon_workdir(tmp_path_factory, "ros2_cli")


@pytest.fixture(scope="module")
def tracker(workdir: Path) -> Iterator[Background]:
    """The README's launch line: the node as /rtmdnet_tracker, input /camera/image_raw."""
    launch = Background(LAUNCH, workdir)
    try:
        launch.wait_for(READY)
        wait_until_listed("/rtmdnet_tracker", workdir)
        yield launch
    finally:
        launch.interrupt()


@pytest.fixture(scope="module")
def camera(workdir: Path, tracker: Background) -> Iterator[Background]:
    """The README's camera stand-in, looping a generated 640x480 clip (clip.mp4 in workdir)."""
    import cv2

    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic_clip import make_clip

    frames, _ = make_clip(n_frames=20, size=(640, 480))
    writer = cv2.VideoWriter(str(workdir / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10,
                             (640, 480))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    publisher = Background(CAMERA, workdir)
    try:
        publisher.wait_for(r"publishing \d+ frames", timeout=60)
        yield publisher
    finally:
        publisher.interrupt()


@pytest.fixture(scope="module")
def cam1(workdir: Path) -> Iterator[Background]:
    """The launch line with every argument set; my_tracker.yaml changes label and threshold."""
    params = yaml.safe_load((REPO_ROOT / "config" / "tracker.yaml").read_text())
    node_params = next(iter(params.values()))["ros__parameters"]
    node_params.update(label="cam1_target", lost_score_threshold=0.25)
    (workdir / "my_tracker.yaml").write_text(yaml.safe_dump(params))
    launch = Background(LAUNCH_ALL_ARGS, workdir)
    try:
        launch.wait_for(READY)
        wait_until_listed("/cam1/rtmdnet_tracker", workdir)
        yield launch
    finally:
        launch.interrupt()


def wait_until_listed(node: str, workdir: Path, timeout: float = 30.0) -> None:
    """Wait until ``ros2 node list`` (through the daemon) shows ``node``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node in ros2("ros2 node list", workdir).split():
            return
        time.sleep(0.2)
    raise AssertionError(f"{node} not in ros2 node list after {timeout} s")


def field(output: str, name: str) -> str:
    """Return ``name: value`` from a YAML-ish CLI printout (first occurrence)."""
    match = re.search(rf"^\s*{name}: (.*)$", output, re.MULTILINE)
    assert match, f"no {name} in:\n{output}"
    return match.group(1).strip().strip("'")


# ----------------------------------------------------------------------------- the README


def test_every_readme_ros2_line_is_tested():
    """Both ways: each command here is a README line, and each README ros2 line is run here."""
    readme = readme_ros2_lines()
    tested = [shlex.split(c) for c in README_COMMANDS]
    for command in tested:
        assert command in readme, f"not in README.md: {shlex.join(command)}"
    untested = [line for line in readme if line not in tested
                and shlex.join(line) not in NOT_RUNNABLE_HERE]
    assert untested == [], f"README ros2 lines no test runs: {untested}"


# ----------------------------------------------------------------------------- default launch


def test_launch_starts_the_node_on_the_remapped_camera_topic(tracker, workdir):
    info, device = ros2_each(["ros2 node info /rtmdnet_tracker",
                              "ros2 param get /rtmdnet_tracker device"], workdir)
    subscribers = info.split("Subscribers:")[1].split("Publishers:")[0]
    assert "/camera/image_raw: sensor_msgs/msg/Image" in subscribers  # image_topic:=
    for topic in ("/rtmdnet_tracker/detections", "/rtmdnet_tracker/status",
                  "/rtmdnet_tracker/debug_image", "/rtmdnet_tracker/init",
                  "/rtmdnet_tracker/reset"):
        assert topic in info
    # device:=auto: the parameter, and the device the node chose for it.
    assert "String value is: auto" in device
    tracker.wait_for(r"on device (cpu|cuda) \(requested auto")


def test_service_call_init_then_status_then_reset(tracker, camera, workdir):
    # A status per processed frame: once one arrives the node has images for ~/init.
    idle = ros2(ECHO_STATUS, workdir)
    assert field(idle, "state") == "0" and field(idle, "device") in ("cpu", "cuda")
    answer = ros2(INIT, workdir)
    assert "success=True" in answer, answer
    assert "track_id='1'" in answer and "tracking started" in answer
    tracker.wait_for(r"track 1 \(object\) started .* at x=280\.0 y=180\.0 w=80\.0 h=120\.0")
    status = ros2(ECHO_STATUS, workdir)
    assert field(status, "track_id") == "1"
    assert field(status, "state") in ("1", "2")  # TRACKING, or LOST on this random texture
    assert int(field(status, "frames_processed")) >= 1
    # The README's camera recipe: 10 Hz, and the shipped Fast DDS profile (the stand-in sets it
    # itself), so the node's own lost-frame warning must not appear.
    camera.wait_for(r"at 10 Hz, frame_id 'camera'; DDS profile \S+/config/fastdds\.xml")
    assert "lost before reaching the node" not in tracker.output(), tracker.output()[-3000:]
    stopped = ros2(RESET_TARGET, workdir)
    assert "success=True" in stopped and "track 1 stopped" in stopped, stopped
    unknown, again = ros2_each([RESET_TARGET.replace("'1'", "'7'"), RESET], workdir)
    assert "success=False" in unknown and "no target has track id '7'" in unknown, unknown
    assert "success=True" in again and "already idle" in again, again


def test_service_call_init_by_point_and_by_class(tracker, camera, workdir):
    """By point without a detector: a click_box_size box on the newest frame; by class: needs
    the detector input, which the README's launch line does not set, and says so."""
    ros2(ECHO_STATUS, workdir)  # a frame has been processed: ~/init has an image
    by_class = ros2(INIT_BY_CLASS, workdir)
    assert "success=False" in by_class and "needs a detector: set the node's detections_topic" \
        in by_class, by_class
    by_point = ros2(INIT_BY_POINT, workdir)
    assert "success=True" in by_point and "a 64 px box around (320, 240)" in by_point, by_point
    tracker.wait_for(r"track \d+ \(object\) started by ~/init on a 64 px box around \(320, 240\)"
                     r" on the (newest|cached) frame \d+\.\d+ at x=288\.0 y=208\.0 w=64\.0 "
                     r"h=64\.0")
    assert "success=True" in ros2(RESET, workdir)


def test_param_describe_shows_the_descriptor(tracker, workdir):
    described, read_only = ros2_each([DESCRIBE, "ros2 param describe /rtmdnet_tracker device"],
                                     workdir)
    assert "Type: double" in described
    assert "RT-MDNet" in field(described, "Description")
    assert field(described, "Min value") == "0.0" and field(described, "Max value") == "1.0"
    assert "Read only: true" in read_only and "auto | cpu | cuda" in read_only


def test_param_set_applies_good_values_and_refuses_bad_ones(tracker, workdir):
    try:
        assert "Set parameter successful" in ros2(SET_OK, workdir)
        assert "Double value is: 0.6" in ros2(GET, workdir)
        tracker.wait_for(r"parameter lost_score_threshold set to 0\.6")
        refused, read_only, wrong_type = ros2_each(
            [SET_OUT_OF_RANGE, SET_READ_ONLY,
             "ros2 param set /rtmdnet_tracker frame_cache_seconds many"], workdir)
        assert "Setting parameter failed" in refused and "out of range" in refused, refused
        assert "Setting parameter failed" in read_only and "read-only" in read_only, read_only
        assert "Setting parameter failed" in wrong_type, wrong_type
        assert "Double value is: 0.6" in ros2(GET, workdir)  # refusals changed nothing
    finally:
        ros2("ros2 param set /rtmdnet_tracker lost_score_threshold 0.5", workdir)


# ----------------------------------------------------------------------------- every argument


def test_every_launch_argument_takes_effect(cam1, workdir):
    # namespace:= (the fixture waited for /cam1/rtmdnet_tracker in ros2 node list)
    info = ros2("ros2 node info /cam1/rtmdnet_tracker", workdir)
    subscribers = info.split("Subscribers:")[1].split("Publishers:")[0]
    # image_topic:=camera/image (relative: inside the namespace) + image_transport:=compressed
    assert "/cam1/camera/image/compressed: sensor_msgs/msg/CompressedImage" in subscribers, info
    # detections_topic:= (relative: in the namespace) and click_to_track:= (the debug image's
    # rqt_image_view click topic)
    assert "/cam1/detector/detections: vision_msgs/msg/Detection2DArray" in subscribers, info
    assert ("/cam1/rtmdnet_tracker/debug_image_mouse_left: geometry_msgs/msg/Point"
            in subscribers), info
    assert "/cam1/rtmdnet_tracker/status" in info and "/cam1/rtmdnet_tracker/init" in info

    # Every parameter in one CLI call (a Python start per ``param get`` costs seconds).
    dumped = yaml.safe_load(ros2("ros2 param dump /cam1/rtmdnet_tracker", workdir))
    values = dumped["/cam1/rtmdnet_tracker"]["ros__parameters"]
    assert values["image_transport"] == "compressed"
    assert values["device"] == "cpu"  # device:=
    cam1.wait_for(r"on device cpu \(requested cpu")
    assert values["publish_debug"] is False  # publish_debug:=
    assert values["label"] == "cam1_target"  # params_file:=
    assert values["lost_score_threshold"] == 0.25
    # No camera on that topic: the node says where it listens (the remapped, namespaced name).
    answer = ros2(INIT.replace("/rtmdnet_tracker/", "/cam1/rtmdnet_tracker/"), workdir)
    assert "success=False" in answer and "/cam1/camera/image/compressed" in answer, answer


BAD_PARAMS = {
    '"many"': "parameter frame_cache_seconds takes a number with a decimal point (default "
              "10.0), not a string ('many')",
    "1000.0": "parameter frame_cache_seconds = 1000.0 is outside [0.5, 60]",
}


@pytest.fixture(scope="module")
def bad_params_launches(workdir: Path) -> Iterator[dict[str, tuple[str, Background]]]:
    """One launch per bad params file, started together (each start is seconds of imports),
    each in a namespace of its own: {value: (namespace, launch)}. The module's README launch (an
    active /rtmdnet_tracker) may still run beside them."""
    launches: dict[str, tuple[str, Background]] = {}
    try:
        for index, value in enumerate(BAD_PARAMS):
            namespace = f"badparams{index}"
            params = workdir / f"bad_params{index}.yaml"
            params.write_text(f"/**/rtmdnet_tracker:\n  ros__parameters:\n"
                              f"    frame_cache_seconds: {value}\n")
            launches[value] = (namespace, Background(
                f"ros2 launch rtmdnet_ros tracker.launch.py params_file:={params} "
                f"namespace:={namespace} device:=cpu", workdir))
        yield launches
    finally:
        for _, launch in launches.values():
            launch.interrupt()


@pytest.mark.parametrize("value", BAD_PARAMS)
def test_launch_stays_up_unconfigured_with_one_line_on_a_bad_params_file(bad_params_launches,
                                                                         workdir, value):
    """One failure policy under `ros2 launch` and `ros2 run`: the node stays up, unconfigured,
    and says in one line which parameter, which value and what it takes; launch prints no
    exception of its own (an exiting node once made it print one, and launch_ros's
    "cannot use Destroyable")."""
    sentence = BAD_PARAMS[value]
    namespace, launch = bad_params_launches[value]
    try:
        line = launch.wait_for(r"configure failed: ")
        assert f"configure failed: {sentence} (from the params file or -p); the node stays " \
               "unconfigured" in line, line
        assert "ros2 param set" in line  # frame_cache_seconds may be fixed at run time
        wait_until_listed(f"/{namespace}/rtmdnet_tracker", workdir)
        state = ros2(f"ros2 lifecycle get /{namespace}/rtmdnet_tracker", workdir).strip()
        assert state == "unconfigured [1]"
        assert launch.proc.poll() is None
    finally:
        code = launch.interrupt()
    output = launch.output()
    assert code == 0, output[-3000:]
    assert len(re.findall(r"configure failed: ", output)) == 1, output
    for noise in ("Caught exception in launch", "Destroyable", "Traceback", "expected '"):
        assert noise not in output, output


def test_launch_stops_cleanly_on_sigint(cam1):
    # autostart (the default): no line claiming "autostart false" (it once said so); the launch
    # file configures the node before the node's own waiting hint is due.
    assert "autostart false" not in cam1.output(), cam1.output()[-3000:]
    assert cam1.interrupt() == 0, cam1.output()[-3000:]
    assert re.search(r"tracker_node-1\]: process has finished cleanly", cam1.output()), \
        cam1.output()[-3000:]


def test_only_a_printed_response_excuses_a_crashed_service_call():
    call = ["ros2", "service", "call", "/rtmdnet_tracker/reset", "std_srvs/srv/Trigger"]
    printed = ("requester: making request: std_srvs.srv.Trigger_Request()\n\nresponse:\n"
               "std_srvs.srv.Trigger_Response(success=True, message='stopped')\n\n")
    assert answered_in_full(call, printed)
    assert not answered_in_full(call, printed.split("\n\n")[0] + "\n")
    assert not answered_in_full(call, printed.replace("')\n\n", "'"))
    assert not answered_in_full(["ros2", "param", "set", "/n", "p", "1"], printed)
