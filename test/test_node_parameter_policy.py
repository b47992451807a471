# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One failure policy for bad parameters: the node stays up, unconfigured, with one line.

The node is started as ``ros2 run`` starts it (autostart, its own process); the same policy
under ``ros2 launch`` is checked in test_ros2_cli.py (it needs the ROS 2 tools). The line names
the parameter, the value and what it takes, and how to fix it: a run-time parameter can be set
and the node configured without a restart, which this test does over the lifecycle services.
"""

from __future__ import annotations

import time

import pytest
from node_harness import GraphClient, NodeProcess, require_ros

require_ros()

CASES = [
    ({"frame_cache_seconds": 999.0},
     "parameter frame_cache_seconds = 999.0 is outside [0.5, 60] (from the params file or -p)",
     "set frame_cache_seconds (ros2 param set) and configure it"),
    ({"seed": "abc"},
     "parameter seed takes an integer (default 0), not a string ('abc') (from the params file "
     "or -p)", "seed is fixed at start: start the node again with a corrected value"),
    ({"model_path": "/nonexistent.pt"}, "model_path '/nonexistent.pt' does not exist",
     "model_path is fixed at start: start the node again with a corrected value"),
]


def lifecycle(client: GraphClient, transition: int | None = None) -> str:
    """The node's state label after ``transition`` (None: just read it), over its services."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    if transition is not None:
        change = client.node.create_client(ChangeState, "/rtmdnet_tracker/change_state")
        assert change.wait_for_service(timeout_sec=30)
        client.call(change, ChangeState.Request(transition=Transition(id=transition)), 120)
    get = client.node.create_client(GetState, "/rtmdnet_tracker/get_state")
    assert get.wait_for_service(timeout_sec=30)
    return client.call(get, GetState.Request(), 30).current_state.label


@pytest.mark.parametrize("params,sentence,hint", CASES,
                         ids=["out-of-range", "wrong-type", "missing-model"])
def test_a_bad_parameter_leaves_the_node_up_unconfigured_with_one_line(params, sentence, hint):
    from lifecycle_msgs.msg import Transition
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    node = NodeProcess(params)
    client = GraphClient()
    diagnostics = client.subscribe_diagnostics()
    try:
        line = node.wait_for_log(r"configure failed: ", timeout=120)
        assert f"configure failed: {sentence}; the node stays unconfigured" in line, line
        assert hint in line, line
        assert lifecycle(client) == "unconfigured" and node.alive()
        # A robot monitor sees it: /diagnostics is ERROR with the reason.
        (_, array) = client.wait_until(lambda: diagnostics and diagnostics[-1], 30,
                                       "/diagnostics")
        (status,) = array.status
        assert status.name == "rtmdnet_tracker: target" and status.level == status.ERROR
        assert status.message == f"configure failed: {sentence}", status.message
        assert node.log_count(r"configure failed: ") == 1
        assert "Traceback" not in node.log() and "error: cannot start" not in node.log()
        if "frame_cache_seconds" in params:  # a run-time parameter: fixed without a restart
            setter = client.node.create_client(SetParameters, "/rtmdnet_tracker/set_parameters")
            assert setter.wait_for_service(timeout_sec=30)
            value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=5.0)
            request = SetParameters.Request(
                parameters=[Parameter(name="frame_cache_seconds", value=value)])
            assert client.call(setter, request, 30).results[0].successful
            assert lifecycle(client, Transition.TRANSITION_CONFIGURE) == "inactive"
            assert lifecycle(client, Transition.TRANSITION_ACTIVATE) == "active"
            node.wait_for_log(r"listening on /image")
            since = time.time()  # configured and active: no longer ERROR, waiting for images
            status = client.wait_until(
                lambda: next((m.status[0] for t, m in diagnostics
                              if t > since and m.status[0].level != m.status[0].OK), None),
                30, "/diagnostics after activate")
            assert (status.level, status.message) == (status.WARN,
                                                      "no image received yet on /image")
    finally:
        client.close()
        code = node.stop()
    assert code in (0, -2), node.log()[-3000:]
