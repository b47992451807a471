# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The managed (lifecycle) node through ``ros2 lifecycle``, as a robot's operator drives it.

Real processes only: the node started by ``ros2 launch ... autostart:=false`` (or ``ros2 run``
for the failure paths), and each transition a ``ros2 lifecycle set`` process; what a transition
did is read back from outside: ``ros2 lifecycle get`` and service calls through the CLI, the
node's log, and, for the many looks in between, the node's own ``get_state`` service and the
DDS graph seen from this test process (the data ``ros2 lifecycle get`` and ``ros2 topic info``
print, without a Python start per look). The command lines are the README's
(test_ros2_cli.py ties them to it).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from data_paths import require_ros2_tools
from node_harness import GraphClient
from test_ros2_cli import (
    INIT,
    LAUNCH_MANAGED,
    LIFECYCLE_GET,
    LIFECYCLE_SET,
    READY,
    RESET,
    RUN_MANAGED,
    Background,
    daemon_workdir,
    ros2,
    ros_env,
    wait_until_listed,
)

STATUS = "/rtmdnet_tracker/status"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory):
    """The directory the commands run in, with its ros2 daemon (test_ros2_cli.daemon_workdir)."""
    yield from daemon_workdir(tmp_path_factory, "lifecycle")


def state_of(workdir: Path, node: str = "/rtmdnet_tracker") -> str:
    """The node's lifecycle state as ``ros2 lifecycle get`` prints it (e.g. ``inactive [2]``)."""
    return ros2(LIFECYCLE_GET.replace("/rtmdnet_tracker", node), workdir).strip()


def wait_for_state(workdir: Path, node: str, expected: str, timeout: float = 30.0) -> str | None:
    """Poll ``ros2 lifecycle get`` until it prints ``expected``: right after a launch, the CLI
    (its daemon's graph cache) may not see the node yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got: str | None = state_of(workdir, node)
        except AssertionError:  # the CLI could not reach the node yet
            got = None
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(1.0)


def transition(command: str, workdir: Path) -> str:
    """Run ``ros2 lifecycle set``; return its output whatever its exit status (a refused
    transition exits non-zero on some ros2cli versions)."""
    argv = [str(require_ros2_tools()), *command.split()[1:]]
    result = subprocess.run(argv, cwd=workdir, env=ros_env(), capture_output=True, text=True,
                            timeout=120)
    return result.stdout + result.stderr


def publishers_on(topic: str, observer: GraphClient, expected: int,
                  timeout: float = 30.0) -> int:
    """Publisher count of ``topic`` in the DDS graph, polled until it is ``expected`` (the
    graph lags a transition by a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        count = observer.node.count_publishers(topic)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def change_state(observer: GraphClient, transition: str,
                 node: str = "/rtmdnet_tracker") -> bool:
    """Trigger a transition through the node's ``change_state`` service, as ``ros2 lifecycle
    set`` does; for the repeats of a transition whose README line already ran once."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    client = observer.node.create_client(ChangeState, f"{node}/change_state")
    try:
        assert client.wait_for_service(timeout_sec=30), f"{node}/change_state not found"
        request = ChangeState.Request()
        request.transition.id = getattr(Transition, f"TRANSITION_{transition.upper()}")
        return bool(observer.call(client, request, 120).success)
    finally:
        observer.node.destroy_client(client)


def state_seen(observer: GraphClient, node: str = "/rtmdnet_tracker") -> str:
    """The node's state as ``ros2 lifecycle get`` prints it, from its ``get_state`` service."""
    from lifecycle_msgs.srv import GetState

    client = observer.node.create_client(GetState, f"{node}/get_state")
    try:
        assert client.wait_for_service(timeout_sec=30), f"{node}/get_state not found"
        state = observer.call(client, GetState.Request(), 30).current_state
    finally:
        observer.node.destroy_client(client)
    return f"{state.label} [{state.id}]"


@pytest.fixture(scope="module")
def managed(workdir: Path):
    """The README's managed launch: the node waits, unconfigured, for its transitions."""
    launch = Background(LAUNCH_MANAGED, workdir)
    try:
        launch.wait_for(r"unconfigured: waiting for the configure and activate")
        wait_until_listed("/rtmdnet_tracker", workdir)
        yield launch
    finally:
        launch.interrupt()


@pytest.fixture(scope="module")
def observer(managed) -> Iterator[GraphClient]:
    """A DDS participant in this test process that looks at the node between transitions."""
    client = GraphClient()
    try:
        yield client
    finally:
        client.close()


def model_loads(managed: Background, wait_for: int = 0, timeout: float = 60.0) -> int:
    """How many times the node has logged a model load, once ``wait_for`` of them are in (or
    ``timeout`` has passed)."""
    deadline = time.monotonic() + timeout
    while True:
        count = len(re.findall(r"model: .* loaded in", managed.output()))
        if count >= wait_for or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def test_every_transition_through_ros2_lifecycle(managed, observer, workdir):
    assert state_of(workdir) == "unconfigured [1]"
    # Parameters are there before configure; nothing is loaded, nothing advertised.
    assert "Boolean value is: False" in ros2("ros2 param get /rtmdnet_tracker autostart",
                                             workdir)
    assert "model:" not in managed.output()

    assert "Transitioning successful" in transition(LIFECYCLE_SET["configure"], workdir)
    assert state_seen(observer) == "inactive [2]"
    managed.wait_for(r"model: .* loaded in")
    managed.wait_for(r"configured: model loaded")
    assert publishers_on(STATUS, observer, 0) == 0  # inactive: no outputs
    refused = ros2(INIT, workdir)  # the services exist, and say why they cannot start a track
    assert "success=False" in refused and "not active" in refused, refused
    idle = ros2(RESET, workdir)
    assert "success=True" in idle and "already idle" in idle, idle

    assert "Transitioning successful" in transition(LIFECYCLE_SET["activate"], workdir)
    assert state_seen(observer) == "active [3]"
    managed.wait_for(READY)
    assert publishers_on(STATUS, observer, 1) == 1
    no_image = ros2(INIT, workdir)  # active: now the answer is about the missing camera
    assert "success=False" in no_image and "no image received yet" in no_image, no_image

    assert "Transitioning successful" in transition(LIFECYCLE_SET["deactivate"], workdir)
    assert state_seen(observer) == "inactive [2]"
    managed.wait_for(r"deactivated: not subscribed, not publishing; model kept")
    assert publishers_on(STATUS, observer, 0) == 0
    # Re-activation reuses the loaded model: no second load. (Repeats of a transition go
    # through the service the CLI calls: its README line ran above.)
    assert change_state(observer, "activate")
    assert state_seen(observer) == "active [3]"
    assert model_loads(managed) == 1
    assert change_state(observer, "deactivate")

    assert "Transitioning successful" in transition(LIFECYCLE_SET["cleanup"], workdir)
    assert state_seen(observer) == "unconfigured [1]"
    managed.wait_for(r"cleaned up: model and device memory freed")
    # Configure again loads the model again (it was freed).
    assert change_state(observer, "configure")
    assert state_seen(observer) == "inactive [2]"
    # The log line comes through ros2 launch's pipe, after the transition's answer at times.
    assert model_loads(managed, wait_for=2) == 2

    assert "Transitioning successful" in transition(LIFECYCLE_SET["shutdown"], workdir)
    managed.wait_for(r"shut down \(finalized\)")
    managed.wait_for(r"tracker_node-1\]: process has finished cleanly", timeout=60)


@pytest.mark.parametrize("params,reason", [
    ({"model_path": "/nonexistent.pt"}, r"model_path '/nonexistent\.pt' does not exist"),
    ({"device": "cuda", "cuda_fallback": False}, r"set device:=cpu or cuda_fallback:=true"),
], ids=["bad-model-path", "cuda-without-fallback"])
def test_failed_configure_leaves_the_node_up_and_unconfigured(params, reason, workdir):
    import torch

    if "device" in params and torch.cuda.is_available():
        pytest.skip("CUDA present: the refusal cannot happen here")
    name = "rtmdnet_failing"
    command = f"{RUN_MANAGED} -r __node:={name}"
    for key, value in params.items():
        command += f" -p {key}:={str(value).lower()}"
    node = Background(command, workdir)
    try:
        node.wait_for(r"unconfigured: waiting for the configure and activate")
        wait_until_listed(f"/{name}", workdir)
        answer = transition(LIFECYCLE_SET["configure"].replace("rtmdnet_tracker", name),
                            workdir)
        assert "Transitioning successful" not in answer, answer
        line = node.wait_for(r"configure failed: ")
        assert re.search(reason, line) and "stays unconfigured" in line, line
        assert state_of(workdir, f"/{name}") == "unconfigured [1]"
        assert node.proc.poll() is None  # still up, parameters still answer
        assert "String value is" in ros2(f"ros2 param get /{name} model_path", workdir)
    finally:
        assert node.interrupt() == 0, node.output()[-3000:]


def test_launch_autostart_default_goes_active_and_a_bad_model_stays_up(workdir):
    """The default launch emits configure and activate; a failing configure keeps it up."""
    params = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" /
                             "tracker.yaml").read_text())
    next(iter(params.values()))["ros__parameters"]["model_path"] = "/nonexistent.pt"
    (workdir / "bad_model.yaml").write_text(yaml.safe_dump(params))
    launch = Background("ros2 launch rtmdnet_ros tracker.launch.py namespace:=bad "
                        "params_file:=bad_model.yaml", workdir)
    try:
        launch.wait_for(r"configure failed: model_path '/nonexistent\.pt' does not exist")
        state = wait_for_state(workdir, "/bad/rtmdnet_tracker", "unconfigured [1]")
        assert state == "unconfigured [1]", state
        assert launch.proc.poll() is None
    finally:
        assert launch.interrupt() == 0, launch.output()[-3000:]
