# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Starting tracks from a detector and from clicks, over real DDS, the node in its own process.

This process is the camera and a fake detector: it publishes frames, and real
``vision_msgs/Detection2DArray`` messages stamped with the frame each belongs to, as a detector
node would, plus clicks: ``geometry_msgs/Point`` as rqt_image_view sends them, and stamped
ones. Frames go in lockstep (each waits for its answer), so "within 3 frames" is counted in
frames, not in this machine's speed. What a user pairing the node with a detector relies on:
- auto_init starts on the frame the detection was computed on (by stamp), not the newest one;
- after a loss, a detection of the track's class near the loss that the verifier accepts
  restarts the same track id within 3 frames; one of another class, one far away and one the
  verifier rejects never do, each refusal logged with its reason;
- a click starts a track on the detection containing it, or on a box of click_box_size;
  ``~/init`` by class and by point do the same;
- bad input (a NaN box, a frame that is not cached, a click outside the image, an ambiguous or
  unknown-class ``~/init``) is refused in words and the node goes on answering.
One node process serves the module; tests run in file order (each goes on from the last).
"""

from __future__ import annotations

import re
import time
from typing import Any

import cv2
import numpy as np
import pytest
from node_harness import GraphClient, require_ros, running_graph, stamp_ns

from rtmdnet_ros.geometry import iou

require_ros()

W, H, S = 320, 240, 40  # frame size; the target is an S x S patch
Y = 100  # the target's row
START_X = 60
RADIUS = 3.5  # reinit_radius, target sizes
CLASS = "target"
# Updates, first-frame training and verification inside the frame: the frames' answers do not
# depend on this machine's speed (the frames go in lockstep).
PARAMS = {"torch_threads": 1, "update_mode": "sync", "first_frame": "inline",
          "composite_verify_aside": False, "detections_topic": "detections",
          "click_topic": "click", "click_stamped_topic": "click_stamped", "auto_init": True,
          "init_class": CLASS, "reinit_when_lost": True, "reinit_radius": RADIUS,
          "click_box_size": 48.0}


def _texture(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    coarse = rng.integers(0, 256, size=(h // cell, w // cell, 3)).astype(np.uint8)
    tex = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    tex += rng.normal(0, 12, size=tex.shape)
    return np.clip(tex, 0, 255).astype(np.uint8)


class Scene:
    """A textured background and a patch with a dark cross that can move, vanish, come back."""

    def __init__(self) -> None:
        rng = np.random.default_rng(4)
        self.background = _texture(rng, H, W, 12)
        self.patch = _texture(rng, S, S, 6)
        self.patch[18:22, :] = (20, 20, 160)
        self.patch[:, 18:22] = (20, 20, 160)

    def frame(self, x: int | None) -> np.ndarray:
        """The BGR frame with the target at column ``x`` (None: not in view)."""
        img = self.background.copy()
        if x is not None:
            img[Y:Y + S, x:x + S] = self.patch
        return img


class Rig:
    """The camera and the fake detector of this process, on the test client's node."""

    def __init__(self, client: GraphClient) -> None:
        from geometry_msgs.msg import Point, PointStamped
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from vision_msgs.msg import Detection2DArray

        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.client = client
        self.scene = Scene()
        self.det_pub = client.node.create_publisher(Detection2DArray, "/detections", qos)
        # rqt_image_view's plain Point, and the stamped kind of tools that stamp their clicks.
        self.click_pub = client.node.create_publisher(Point, "/click", qos)
        self.stamped_click_pub = client.node.create_publisher(PointStamped, "/click_stamped", qos)
        self.boxes: dict[int, tuple[float, float, float, float]] = {}  # stamp -> true box
        self._stamp = 1_700_000_000_000_000_000

    def wait_matched(self) -> None:
        self.client.wait_until(lambda: self.det_pub.get_subscription_count() > 0
                               and self.click_pub.get_subscription_count() > 0
                               and self.stamped_click_pub.get_subscription_count() > 0,
                               timeout=30, what="the node's detections and click inputs")

    def step(self, x: int | None) -> tuple[Any, Any]:
        """Publish one frame and wait for its answer: (header, Detection2DArray answer)."""
        self._stamp += 100_000_000  # 10 Hz stamps, whatever the real pace
        header = self.client.publish_bgr(self.scene.frame(x), stamp_ns_value=self._stamp)
        if x is not None:
            self.boxes[self._stamp] = (float(x), float(Y), float(S), float(S))
        return header, self.client.detection_for(header, timeout=60)

    def detect(self, header: Any, *items: tuple[tuple[float, float, float, float], str, float]
               ) -> None:
        """Publish the detector's array for the frame of ``header``: (box, class, score)."""
        from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

        from rtmdnet_ros.ros_io.messages import set_bbox

        msg = Detection2DArray(header=header)
        for box, class_id, score in items:
            det = Detection2D(header=header)
            set_bbox(det.bbox, box)
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id, hyp.hypothesis.score = class_id, score
            det.results.append(hyp)
            msg.detections.append(det)
        self.det_pub.publish(msg)

    def stored(self, header: Any) -> None:
        """Wait until the node holds a detector array for the frame of ``header``.

        Arrays and requests travel on different topics, in no guaranteed order: asked for a
        class no detector reports, the node says "no detection of class" once the array is in.
        """
        probe = self.client.InitTarget.Request()
        probe.init_class, probe.stamp = "no-such-class", header.stamp

        def answered() -> bool:
            reply = self.client.call(self.client.init_client, probe, 30)
            assert not reply.success, reply.message
            return "no detection of class 'no-such-class'" in reply.message

        deadline = time.monotonic() + 30.0
        while not answered():
            assert time.monotonic() < deadline, "the node never stored the detector's array"

    def click(self, x: float, y: float, stamp: Any = None) -> None:
        """A stamped click on that frame, or (no stamp) rqt_image_view's plain Point."""
        from geometry_msgs.msg import Point, PointStamped

        if stamp is None:
            self.click_pub.publish(Point(x=float(x), y=float(y)))
            return
        msg = PointStamped()
        msg.header.frame_id = "camera"
        msg.header.stamp = stamp
        msg.point.x, msg.point.y = float(x), float(y)
        self.stamped_click_pub.publish(msg)


@pytest.fixture(scope="module")
def graph() -> Any:
    with running_graph(PARAMS) as (node, client):
        rig = Rig(client)
        rig.wait_matched()
        # Frames go one by one from here: the first must not be lost to the input's set-up.
        # Stamped before every frame of the tests (their frames are newer).
        client.first_answer(rig.scene.frame(None), stamp_ns_value=1_600_000_000_000_000_000)
        yield node, client, rig


def answer_box(msg: Any) -> tuple[float, float, float, float]:
    det = msg.detections[0]
    return (det.bbox.center.position.x - det.bbox.size_x / 2,
            det.bbox.center.position.y - det.bbox.size_y / 2, det.bbox.size_x, det.bbox.size_y)


def test_bad_detections_clicks_and_inits_are_refused_and_the_node_answers(graph):
    node, client, rig = graph
    before = node.line_count()
    header, answer = rig.step(START_X)
    assert answer.detections == []  # IDLE
    rig.detect(header, ((float("nan"), 10.0, 20.0, 20.0), CLASS, 0.9))
    node.wait_for_log(r"detection refused \(frame [\d.]+\): detection 0: box has a non-finite "
                      r"value: x=nan", after=before)
    missing = client.header(stamp_ns_value=5_000_000_123)
    rig.detect(missing, ((10.0, 10.0, 20.0, 20.0), CLASS, 0.9))
    node.wait_for_log(r"detections refused: its frame 5\.000000123 is not in the frame cache "
                      r"\(\d+ frames from", after=before)
    rig.click(W + 5, 10, header.stamp)
    node.wait_for_log(rf"click refused: point \(x={W + 5}\.0, y=10\.0\) lies outside the "
                      rf"{W}x{H} image", after=before)
    # A detection of another class is kept for its frame but starts nothing (init_class).
    rig.detect(header, ((float(START_X), float(Y), float(S), float(S)), "dog", 0.8))
    rig.stored(header)
    request = client.InitTarget.Request()
    request.init_class, request.stamp = "cat", header.stamp
    refused = client.call(client.init_client, request, 30)
    assert not refused.success and refused.track_id == ""
    assert refused.message == (f"no detection of class 'cat' scoring at least 0 on the frame "
                               f"{header.stamp.sec}.{header.stamp.nanosec:09d} (classes there: "
                               "'dog')")
    request.box.size_x = request.box.size_y = 20.0
    ambiguous = client.call(client.init_client, request, 30)
    assert not ambiguous.success
    assert ambiguous.message == ("ambiguous request: it gives box and init_class; give one of "
                                 "box, init_class or use_point (with point_x, point_y)")
    point = client.InitTarget.Request()
    point.use_point, point.point_x, point.point_y, point.stamp = True, -3.0, 50.0, header.stamp
    outside = client.call(client.init_client, point, 30)
    assert not outside.success
    assert outside.message == f"point (x=-3.0, y=50.0) lies outside the {W}x{H} image"
    _, answer = rig.step(START_X)
    assert answer.detections == [] and node.alive()
    log = "\n".join(node.log().splitlines()[before:])
    assert "Traceback" not in log and not re.search(r"track \d+ .*started", log), log[-3000:]


def test_auto_init_starts_on_the_detections_stamped_frame_then_catches_up(graph):
    node, client, rig = graph
    before = node.line_count()
    steps = [rig.step(START_X + 2 * i) for i in range(6)]  # IDLE answers, cached frames
    first = steps[1][0]  # the detector answers a frame four frames old
    rig.detect(first, (rig.boxes[stamp_ns(first.stamp)], CLASS, 0.9))
    stamp = f"{first.stamp.sec}.{first.stamp.nanosec:09d}"
    line = node.wait_for_log(r"track \d+ \(target\) started by auto_init on the 'target' "
                             r"detection \(score 0\.90\) on the cached frame", after=before)
    assert f"cached frame {stamp} at x={START_X + 2:.1f} y={Y:.1f}" in line, line
    node.wait_for_log(r"caught up over 4 cached frame", after=before)
    track = re.search(r"track (\d+)", line).group(1)
    for i in range(6, 12):
        header, answer = rig.step(START_X + 2 * i)
        assert len(answer.detections) == 1 and answer.detections[0].id == track
        assert answer.detections[0].results[0].hypothesis.class_id == CLASS
        assert iou(answer_box(answer), rig.boxes[stamp_ns(header.stamp)]) > 0.6
    graph[1].track = track  # the next test goes on with this track


def test_a_lost_track_restarts_only_on_an_accepted_near_detection_of_its_class(graph):
    node, client, rig = graph
    track = client.track
    before = node.line_count()
    lost_x = START_X + 2 * 11
    for _ in range(10):  # the target leaves the view: LOST within a few frames
        header, answer = rig.step(None)
        if not answer.detections:
            break
    assert not answer.detections, "the tracker never reported the loss"
    status = client.status_for(header)
    assert (status.state, status.track_id) == (status.LOST, track)
    # Three detections that must not restart it, on the LOST frame: each refusal says why.
    near = (float(lost_x + S), float(Y), float(S), float(S))  # background, one size away
    far = (250.0, 180.0, float(S), float(S))  # about 5 target sizes away
    rig.detect(header, (near, "dog", 0.99))
    node.wait_for_log(rf"track {track} LOST: no detection of its class 'target' on the frame "
                      r"[\d.]+ \(classes there: 'dog'\); not restarted", after=before)
    rig.detect(header, (far, CLASS, 0.99))
    line = node.wait_for_log(rf"track {track} LOST: the nearest 'target' detection on the frame "
                             r"[\d.]+ is \d+\.\d target sizes from where it was lost "
                             rf"\(reinit_radius {RADIUS:g}\); not restarted", after=before)
    assert float(re.search(r"is (\d+\.\d) target sizes", line).group(1)) > RADIUS
    rig.detect(header, (near, CLASS, 0.99))
    node.wait_for_log(rf"track {track} LOST: the verifier rejects the 'target' detection\(s\) "
                      r"near the loss", after=before)
    # The target comes back three sizes away, outside the tracker's own search: still LOST.
    back_x = lost_x + 3 * S
    header, answer = rig.step(back_x)
    assert not answer.detections, "the tracker found the target itself: scene too easy"
    rig.detect(header, (rig.boxes[stamp_ns(header.stamp)], CLASS, 0.9))
    line = node.wait_for_log(rf"track {track} \(target\) restarted by re-initialisation on the "
                             r"'target' detection \d\.\d target sizes from the loss \(verifier "
                             r"\+\d+\.\d+ > \+0\.00\) on the newest frame", after=before)
    assert f"x={back_x:.1f} y={Y:.1f}" in line, line
    answers = [rig.step(back_x) for _ in range(3)]
    tracked = [i for i, (_, a) in enumerate(answers) if a.detections
               and a.detections[0].id == track]
    assert tracked and tracked[0] <= 2, "not restarted within 3 frames of the detection"
    for header, answer in answers[tracked[0]:]:
        assert answer.detections[0].id == track
        assert iou(answer_box(answer), rig.boxes[stamp_ns(header.stamp)]) > 0.6
    log = "\n".join(node.log().splitlines()[before:])
    assert log.count("restarted by re-initialisation") == 1, log[-3000:]
    assert client.reset().success


def test_clicks_and_inits_by_class_and_point_start_tracks(graph):
    node, client, rig = graph
    x = START_X + 40
    before = node.line_count()
    header, _ = rig.step(x)
    rig.detect(header, (rig.boxes[stamp_ns(header.stamp)], CLASS, 0.7))
    # auto_init started once already: this detection starts nothing; a click on it does.
    rig.stored(header)
    rig.click(x + 10, Y + 30, header.stamp)
    line = node.wait_for_log(r"track (\d+) \(target\) started by click on the 'target' detection "
                             rf"containing \({x + 10}, {Y + 30}\)", after=before)
    assert f"at x={x:.1f} y={Y:.1f} w={S:.1f} h={S:.1f}" in line, line
    clicked = re.search(r"track (\d+)", line).group(1)
    header, answer = rig.step(x)
    assert answer.detections and answer.detections[0].id == clicked
    # rqt_image_view's Point where no detection is (the newest frame): a click_box_size box.
    mark = node.line_count()
    rig.click(30, 40)
    line = node.wait_for_log(r"track (\d+) \(object\) started by click on a 48 px box around "
                             r"\(30, 40\)", after=mark)
    assert "at x=6.0 y=16.0 w=48.0 h=48.0" in line, line
    # ~/init by class on a stamped frame, and by point on the detection containing it.
    header, _ = rig.step(x)
    rig.detect(header, (rig.boxes[stamp_ns(header.stamp)], CLASS, 0.8))
    rig.stored(header)
    request = client.InitTarget.Request()
    request.init_class, request.stamp = CLASS, header.stamp
    by_class = client.call(client.init_client, request, 60)
    assert by_class.success, by_class.message
    assert "the 'target' detection (score 0.80)" in by_class.message, by_class.message
    point = client.InitTarget.Request()
    point.use_point, point.point_x, point.point_y, point.stamp = True, x + 5.0, Y + 5.0, \
        header.stamp
    by_point = client.call(client.init_client, point, 60)
    assert by_point.success, by_point.message
    assert f"the 'target' detection containing ({x + 5}, {Y + 5})" in by_point.message
    assert int(by_point.track_id) == int(by_class.track_id) + 1
    header, answer = rig.step(x)
    assert answer.detections and answer.detections[0].id == by_point.track_id
    assert node.alive()

