# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Several targets in one node (``max_targets: 2``), over real DDS, the node in its own process.

This process is the camera: two textured patches cross a textured scene (one moves right, the
other left, on different rows). Frames go in lockstep (each waits for its answer), so what is
checked does not depend on this machine's speed. What a user of several targets relies on:
- ``~/init`` without a track id adds a target with a new id; a third is refused while two run;
  an id no target has is refused; the refusals say what to do, and the node goes on;
- every frame is answered by one ``Detection2DArray`` with one detection per target (``id`` =
  its track id, each box on its own target through the crossing) and a ``~/status`` per target,
  and the debug image shows every target's box;
- ``/diagnostics`` has one entry per target;
- ``~/init`` with a running target's id re-initialises it, keeping its id;
- ``~/reset_target`` with an id stops that target alone; the other goes on with its id;
- a click adds a target (as ``~/init`` without an id).
One node process serves the module; tests run in file order (each goes on from the last).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from node_harness import GraphClient, require_ros, running_graph, stamp_ns
from synthetic_clip import Crossing

from rtmdnet_ros.geometry import iou

require_ros()

# Updates, first-frame training and verification inside the frame: the answers do not depend on
# this machine's speed (the frames go in lockstep).
PARAMS = {"torch_threads": 1, "update_mode": "sync", "first_frame": "inline",
          "composite_verify_aside": False, "max_targets": 2, "click_topic": "click",
          "click_box_size": 40.0}
TRACKING_BGR = (0, 220, 0)  # the debug image's colour of a TRACKING box


class Rig:
    """The camera of this process and the ~/reset_target client, on the test client's node."""

    def __init__(self, client: GraphClient) -> None:
        from rtmdnet_ros.srv import ResetTarget

        self.client = client
        self.scene = Crossing()
        self.ResetTarget = ResetTarget
        self.reset_client = client.node.create_client(ResetTarget,
                                                      "/rtmdnet_tracker/reset_target")
        from geometry_msgs.msg import Point
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.click_pub = client.node.create_publisher(
            Point, "/click", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
        self.Point = Point
        self._stamp = 1_700_000_000_000_000_000
        self.t = 0

    def step(self, targets: int = 1) -> tuple[Any, Any, list[tuple[str, int]]]:
        """Publish the next frame, wait for its answer and the statuses of ``targets`` targets.

        Returns (header, array, the distinct (track id, state) of the statuses of its stamp):
        the heartbeat may repeat a status on the last answer's header.
        """
        self._stamp += 100_000_000
        header = self.client.publish_bgr(self.scene.frame(self.t), stamp_ns_value=self._stamp)
        self.header = header
        self.t += 1
        answer = self.client.detection_for(header, timeout=90)
        key = stamp_ns(header.stamp)

        def statuses() -> list[tuple[str, int]]:
            got = sorted({(m.track_id, m.state) for _, m in self.client.statuses
                          if stamp_ns(m.header.stamp) == key})
            return got if len(got) >= targets else []

        return header, answer, self.client.wait_until(statuses, 30, "the frame's statuses")

    def init(self, box: Any, track_id: str = "") -> Any:
        """Call ~/init on the last frame published (its stamp: the frame is cached)."""
        from rtmdnet_ros.ros_io.messages import set_bbox

        request = self.client.InitTarget.Request()
        set_bbox(request.box, box)
        request.stamp = self.header.stamp
        request.track_id = track_id
        return self.client.call(self.client.init_client, request, 180)

    def reset_target(self, track_id: str) -> Any:
        return self.client.call(self.reset_client, self.ResetTarget.Request(track_id=track_id),
                                30)


@pytest.fixture(scope="module")
def rig():
    with running_graph(PARAMS, debug=True) as (node, client):
        rig = Rig(client)
        client.wait_until(lambda: rig.reset_client.service_is_ready(), timeout=30,
                          what="~/reset_target")
        rig.node = node
        rig.diagnostics = client.subscribe_diagnostics()
        yield rig


def boxes_by_id(array: Any) -> dict[str, tuple[float, float, float, float]]:
    from rtmdnet_ros.ros_io.messages import bbox_to_xywh

    return {d.id: bbox_to_xywh(d.bbox) for d in array.detections}


def test_two_targets_added_and_the_refusals(rig):
    _, idle, statuses = rig.step()  # frame 0: nothing tracked yet
    assert idle.detections == [] and statuses == [("", 0)]
    box_a, box_b = rig.scene.boxes(0)
    first, second = rig.init(box_a), rig.init(box_b)  # both on the newest frame (frame 0)
    assert (first.success, first.track_id) == (True, "1"), first.message
    assert (second.success, second.track_id) == (True, "2"), second.message
    third = rig.init((150.0, 100.0, 40.0, 40.0))
    assert not third.success and third.track_id == ""
    assert third.message == ("max_targets (2) targets are running (track ids 1, 2): stop one "
                             "(~/reset_target with its id) or start the node with a larger "
                             "max_targets")
    unknown = rig.init(box_a, track_id="9")
    assert not unknown.success
    assert unknown.message == ("no target has track id '9' (running: 1, 2); give the id of a "
                               "running target, or leave track_id empty")
    rig.node.wait_for_log(r"~/init refused: no target has track id '9'", timeout=10)


def test_both_targets_tracked_through_the_crossing_with_their_ids(rig):
    for _ in range(24):  # A and B swap columns around frame 17
        header, answer, statuses = rig.step(targets=2)
        truth_a, truth_b = rig.scene.boxes(rig.t - 1)
        boxes = boxes_by_id(answer)
        assert set(boxes) == {"1", "2"}, (rig.t, boxes)
        assert iou(boxes["1"], truth_a) > 0.5 and iou(boxes["2"], truth_b) > 0.5, (rig.t, boxes)
        assert statuses == [("1", 1), ("2", 1)]  # a status per target, each with its id
        assert all(d.header.stamp == header.stamp for d in answer.detections)
    debug = rig.client.debug_for(header, timeout=30)
    image = np.frombuffer(bytes(debug.data), np.uint8).reshape(debug.height, debug.width, 3)
    for x, y, w, _ in boxes.values():  # each target's box edge, in the TRACKING colour
        assert tuple(image[round(y), round(x + w / 2)]) == TRACKING_BGR, (x, y)


def test_diagnostics_has_an_entry_per_target(rig):
    def per_target() -> dict[str, str]:
        for _, array in reversed(rig.diagnostics):
            ids = {s.name: {v.key: v.value for v in s.values}.get("track id")
                   for s in array.status}
            # Both started: an array published while the second one trains has its place
            # without an id yet.
            if len(ids) == 2 and all(ids.values()):
                return ids
        return {}

    got = rig.client.wait_until(per_target, 30, "/diagnostics with two targets")
    assert got == {"rtmdnet_tracker: target": "1", "rtmdnet_tracker: target 2": "2"}


def test_a_named_target_is_reinitialised_with_its_id(rig):
    _, truth_b = rig.scene.boxes(rig.t - 1)
    again = rig.init(truth_b, track_id="2")
    assert again.success and again.track_id == "2", again.message
    assert again.message.startswith("tracking restarted on the newest frame")
    _, answer, statuses = rig.step(targets=2)
    assert set(boxes_by_id(answer)) == {"1", "2"} and statuses == [("1", 1), ("2", 1)]


def test_reset_of_one_id_leaves_the_other(rig):
    done = rig.reset_target("1")
    assert done.success and done.message == "track 1 stopped (TRACKING -> IDLE)"
    again = rig.reset_target("1")
    assert not again.success
    assert again.message == ("no target has track id '1' (running: 2); give the id of a "
                             "running target, or leave track_id empty")
    for _ in range(3):  # the node goes on: target 2 alone, with its id
        _, answer, statuses = rig.step()
        _, truth_b = rig.scene.boxes(rig.t - 1)
        boxes = boxes_by_id(answer)
        assert list(boxes) == ["2"] and iou(boxes["2"], truth_b) > 0.5
        assert statuses == [("2", 1)]
    readd = rig.init(rig.scene.boxes(rig.t - 1)[0])  # the freed place takes a new target
    assert readd.success and readd.track_id == "3", readd.message
    everything = rig.client.reset()  # ~/reset: every target
    assert everything.success
    assert set(everything.message.split("; ")) == {"track 3 stopped (TRACKING -> IDLE)",
                                                   "track 2 stopped (TRACKING -> IDLE)"}
    _, answer, statuses = rig.step()
    assert answer.detections == [] and statuses == [("", 0)]
    assert rig.node.alive()


def test_a_click_adds_a_target(rig):
    rig.client.wait_until(lambda: rig.click_pub.get_subscription_count() > 0, 30,
                          "the node's click input")
    _, answer, _ = rig.step()  # a fresh newest frame: a click has no stamp
    truth_a, _ = rig.scene.boxes(rig.t - 1)
    x, y, w, h = truth_a
    mark = rig.node.line_count()
    rig.click_pub.publish(rig.Point(x=x + w / 2, y=y + h / 2, z=0.0))
    rig.node.wait_for_log(r"track 4 \(object\) started by click", timeout=120, after=mark)
    _, answer, statuses = rig.step()
    boxes = boxes_by_id(answer)
    truth_a, _ = rig.scene.boxes(rig.t - 1)
    assert list(boxes) == ["4"] and iou(boxes["4"], truth_a) > 0.5, boxes
    assert statuses == [("4", 1)]

