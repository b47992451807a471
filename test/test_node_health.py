# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What /diagnostics says, on real numbers: the figures and levels of rtmdnet_ros.node.health.

A camera is played second by second through the counters the node keeps (frames arrived,
answered, dropped; each answer's stamp and publish time), with a clock the test sets, so every
figure has an exact expected value. The JPEG builder of ~/debug_image/compressed and the
message constants need ROS types (skipped without them, failing under CI=true).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from node_harness import require_ros

from rtmdnet_ros.node.health import (
    ERROR,
    MIN_FRAMES_FOR_SHARE,
    OK,
    WARN,
    AnswerLog,
    HealthWindow,
    Limits,
    assess,
    percentile,
)
from rtmdnet_ros.track_session import IDLE, LOST, TRACKING

STAMP0 = 1_764_000_000_000_000_000  # ns: the camera's first stamp


class Graph:
    """The node's counters as a camera at ``rate`` Hz and a tracker answering some frames fill
    them; ``tick`` samples them into the window as the diagnostics timer does once a second."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.now = 1000.0  # monotonic s
        self.arrived = 0
        self.dropped = 0
        self.log = AnswerLog()
        self.window = HealthWindow(window_s)
        self.last_image = None

    def second(self, rate: int, answered: int, latency_ms: float, state: int = TRACKING) -> None:
        """One second of camera: ``rate`` frames arrive, ``answered`` of them are answered
        ``latency_ms`` after their stamp, the rest are dropped."""
        for i in range(rate):
            t = self.now + i / rate
            self.arrived += 1
            self.last_image = t
            if i < answered:
                stamp = STAMP0 + int(t * 1e9)
                self.log.record(t, stamp, stamp + int(latency_ms * 1e6), state)
            else:
                self.dropped += 1
        self.now += 1.0

    def tick(self, state: int = TRACKING):
        age = -1.0 if self.last_image is None else self.now - self.last_image
        return self.window.update(self.now, self.arrived, self.dropped, self.log.snapshot(),
                                  age, state)


def test_a_steady_camera_gives_its_rate_share_latency_and_drops():
    graph = Graph()
    graph.tick()
    for second in range(12):
        graph.second(30, 27, latency_ms=20.0 + second)  # 90 % answered
        figures = graph.tick()
    # The window is the last 10 s: ten seconds of 30 frames, 27 answered, 3 dropped each.
    assert figures.span_s == pytest.approx(10.0)
    assert (figures.arrived, figures.answered, figures.dropped) == (300, 270, 30)
    assert figures.input_hz == pytest.approx(30.0)
    assert figures.answered_share == pytest.approx(0.9)
    assert figures.dropped_total == 36
    # Latencies of the last 10 s: 27 answers a second at 22..31 ms (seconds 2..11).
    inside = [20.0 + s for s in range(2, 12) for _ in range(27)]
    assert figures.latency_p95_ms == pytest.approx(np.percentile(inside, 95), abs=1.0)
    assert figures.latency_p50_ms == pytest.approx(np.percentile(inside, 50), abs=1.0)
    assert figures.lost_for_s is None
    assert assess(figures, Limits(), "/image") == (OK, [])


def test_the_window_follows_a_change_of_rate():
    graph = Graph(window_s=5.0)
    graph.tick()
    for _ in range(20):
        graph.second(30, 30, 10.0)
        graph.tick()
    for _ in range(5):
        graph.second(10, 10, 10.0)
        figures = graph.tick()
    assert figures.input_hz == pytest.approx(10.0)
    assert figures.answered_share == pytest.approx(1.0)


def test_too_few_answers_warn_with_the_figures():
    graph = Graph()
    graph.tick()
    for _ in range(10):
        graph.second(30, 15, 40.0)
    level, reasons = assess(graph.tick(), Limits(min_answered=0.8), "/image")
    assert level == WARN
    assert reasons == ["50% of the frames answered in the last 10 s (150 of 300; "
                       "diagnostics_min_answered 80%)"]
    # The same figures pass a lower limit.
    graph.second(30, 15, 40.0)
    assert assess(graph.tick(), Limits(min_answered=0.5), "/image")[0] == OK


def test_a_camera_that_stops_warns_and_one_never_started_too():
    graph = Graph()
    figures = graph.tick()
    assert figures.image_age_s == -1.0 and figures.input_hz is None
    assert assess(figures, Limits(), "/image") == (WARN, ["no image received yet on /image"])
    for _ in range(3):
        graph.second(10, 10, 30.0)
        graph.tick()
    graph.now += 4.0  # the camera stops: no frame for 4.1 s
    level, reasons = assess(graph.tick(), Limits(max_image_age_s=2.0), "/cam/image")
    assert level == WARN
    assert reasons == ["no image for 4 s on /cam/image (diagnostics_max_image_age 2 s)"]
    assert assess(graph.tick(), Limits(max_image_age_s=5.0), "/cam/image")[0] == OK


def test_a_long_loss_warns_and_a_recovery_or_reset_ends_it():
    graph = Graph()
    graph.tick()
    graph.second(10, 10, 30.0, TRACKING)
    loss_starts = graph.now
    for _ in range(7):
        graph.second(10, 10, 30.0, LOST)
        figures = graph.tick(LOST)
    assert figures.lost_for_s == pytest.approx(graph.now - loss_starts)
    level, reasons = assess(figures, Limits(max_lost_s=5.0), "/image")
    assert level == WARN and reasons == ["target lost for 7 s (diagnostics_max_lost 5 s)"]
    assert assess(figures, Limits(max_lost_s=10.0), "/image")[0] == OK
    # ~/reset: IDLE at once, before any answer says so.
    assert graph.tick(IDLE).lost_for_s is None
    # Found again: a TRACKING answer ends the loss; the next one starts from its own frame.
    graph.second(10, 10, 30.0, TRACKING)
    assert graph.tick(TRACKING).lost_for_s is None
    graph.second(10, 10, 30.0, LOST)
    assert graph.tick(LOST).lost_for_s == pytest.approx(1.0)


def test_a_share_needs_a_few_frames():
    graph = Graph()
    graph.tick()
    graph.arrived += MIN_FRAMES_FOR_SHARE - 1  # arrived, none answered yet (a slow init)
    graph.last_image = graph.now
    graph.now += 0.5
    figures = graph.tick()
    assert figures.answered_share is None
    assert assess(figures, Limits(), "/image")[0] == OK


def test_percentile_is_numpy_linear():
    values = list(np.random.default_rng(1).gamma(2.0, 20.0, size=97))
    for q in (0, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    assert percentile([7.0], 95) == 7.0


def test_levels_and_lost_state_are_the_message_constants():
    require_ros()
    from diagnostic_msgs.msg import DiagnosticStatus
    from rtmdnet_ros.msg import TrackerStatus

    assert [DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR] == [
        bytes([OK]), bytes([WARN]), bytes([ERROR])]
    assert TrackerStatus.LOST == LOST


def test_compressed_debug_image_is_a_decodable_jpeg_of_the_quality_asked():
    require_ros()
    import cv2
    from std_msgs.msg import Header

    from rtmdnet_ros.ros_io.image_conversion import compressed_msg_to_rgb
    from rtmdnet_ros.ros_io.messages import build_compressed_image

    rng = np.random.default_rng(5)
    bgr = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (7, 7), 0)
    header = Header(frame_id="cam")
    sizes, errors = {}, {}
    for quality in (30, 90):
        msg = build_compressed_image(bgr, header, quality)
        assert msg.format == "jpeg" and msg.header.frame_id == "cam"
        data = bytes(msg.data)
        assert data[:2] == b"\xff\xd8"  # JPEG start-of-image
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == bgr.shape
        # The node's own decoder reads it as OpenCV does.
        assert np.array_equal(compressed_msg_to_rgb(msg), decoded[:, :, ::-1])
        sizes[quality] = len(data)
        errors[quality] = np.abs(decoded.astype(int) - bgr).mean()
    # The quality asked is the quality given: larger and closer to the image at 90 than at 30.
    assert sizes[30] < sizes[90] and errors[90] < errors[30] < 20, (sizes, errors)


def test_diagnostics_array_in_each_lifecycle_state():
    """The messages NodeDiagnostics builds, on a real rclpy node with the node's parameters:
    unconfigured (OK, or ERROR with the configure's reason), inactive, active with a camera."""
    require_ros()
    from types import SimpleNamespace

    import rclpy
    from diagnostic_msgs.msg import DiagnosticStatus
    from rclpy.context import Context
    from rclpy.node import Node
    from std_msgs.msg import Header

    from rtmdnet_ros.node.diagnostics import NodeDiagnostics, NodeParts
    from rtmdnet_ros.node.frame_cache import FrameCache
    from rtmdnet_ros.node.outputs import NodeOutputs
    from rtmdnet_ros.node.parameters import declare_all
    from rtmdnet_ros.track_session import FrameOutcome, SessionStatus, TrackSession

    class TrackerLike(Node):
        device = ""
        frames_dropped = 0

    context = Context()
    rclpy.init(context=context)
    node = TrackerLike("rtmdnet_tracker", namespace="cam1", context=context)
    try:
        assert declare_all(node) == []
        parts = NodeParts(None, None, None, None)
        diagnostics = NodeDiagnostics(node, lambda: parts)

        def only(now: float = 0.0) -> DiagnosticStatus:
            (status,) = diagnostics.build(now).status
            assert status.name == "cam1/rtmdnet_tracker: target"
            return status

        status = only()
        assert (status.level, status.hardware_id) == (DiagnosticStatus.OK, "auto")
        assert status.message == "unconfigured: waiting for the configure transition"
        diagnostics.problem = "configure failed: model_path '/x.pt' does not exist"
        status = only()
        assert (status.level, status.message) == (DiagnosticStatus.ERROR, diagnostics.problem)

        diagnostics.problem, node.device = "", "cpu"
        clock = SimpleNamespace(now=50.0)
        cache = FrameCache(10.0, clock=lambda: clock.now)
        session = TrackSession(tracker=None)
        parts = NodeParts(session, cache, SimpleNamespace(lost=2, topic_name="/cam1/image"), None)
        status = only()
        assert (status.level, status.hardware_id) == (DiagnosticStatus.OK, "cpu")
        assert status.message == "inactive: model loaded, not subscribed"

        outputs = NodeOutputs(node, "cpu", lambda: 0, lambda: 0.0)  # not opened: no publishing
        parts = NodeParts(session, cache, parts.input, outputs)
        assert only(100.0).message == "no image received yet on /cam1/image"
        answer = FrameOutcome(None)  # IDLE answers, as the node gives before an init
        for i in range(40):  # 4 s of a 10 Hz camera, every other frame answered
            clock.now = 100.0 + i / 10
            stamp = 1_000_000_000 * (i + 1)
            cache.put(stamp, None, None)
            if i % 10 == 0:
                parts.input.lost += 1  # a frame lost before reaching the node
            if i % 2 == 0:
                h = Header()
                h.stamp.sec = i + 1
                outputs.answer(h, answer, SessionStatus(IDLE, 0.0, "", 1.0, i))
        clock.now = 104.0
        status = only(104.0)
        values = {kv.key: kv.value for kv in status.values}
        assert status.level == DiagnosticStatus.WARN
        # 20 answered of 40 received + 4 lost on the way (2 lost before the window).
        assert status.message == ("45% of the frames answered in the last 4 s (20 of 44; "
                                  "diagnostics_min_answered 80%)")
        assert values["state"] == "IDLE" and values["answers published"] == "20"
        assert values["input rate (Hz)"] == "11.0" and values["device"] == "cpu"
        assert values["debug JPEGs encoded"] == "0" and values["seconds since image"] == "0.1"
        # diagnostics_rate set at run time: the next tick restarts the timer at the new rate.
        from rclpy.parameter import Parameter

        first = diagnostics._timer
        assert first.timer_period_ns == 1_000_000_000
        node.set_parameters([Parameter("diagnostics_rate", value=4.0)])
        diagnostics._tick()
        assert diagnostics._timer.timer_period_ns == 250_000_000 and first.is_canceled()
        diagnostics._tick()
        assert first not in node.timers and diagnostics._timer in node.timers
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_each_targets_status_counts_the_frames_it_left_unanswered():
    """Frames no target saw are every target's drops; frames handed to one target and never
    answered (voided, skipped) are that target's alone: two targets' statuses on one frame,
    received over DDS, differ by exactly those."""
    require_ros()
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rtmdnet_ros.msg import TrackerStatus
    from std_msgs.msg import Header

    from rtmdnet_ros.node.outputs import OUTPUT_QOS, NodeOutputs
    from rtmdnet_ros.track_session import FrameOutcome, SessionStatus

    context = Context()
    rclpy.init(context=context)
    node = Node("rtmdnet_tracker", context=context)
    listener = Node("listener", context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        received: list[TrackerStatus] = []
        listener.create_subscription(TrackerStatus, "/rtmdnet_tracker/status", received.append,
                                     OUTPUT_QOS)
        outputs = NodeOutputs(node, "cpu", lambda: 5, lambda: 0.0, publish_debug=False)
        outputs.open()
        executor.add_node(listener)
        header = Header()
        header.stamp.sec = 1
        answers = [(0, FrameOutcome(None, TRACKING, TRACKING, 0.9, 2.0, np.ones(4), "1"),
                    SessionStatus(TRACKING, 2.0, "1", 10.0, 40, 0.9, 0)),
                   (1, FrameOutcome(None, LOST, LOST, 0.2, -1.0, np.ones(4), "2"),
                    SessionStatus(LOST, -1.0, "2", 10.0, 30, 0.2, 3))]
        deadline = time.monotonic() + 30.0
        while node.count_subscribers("/rtmdnet_tracker/status") < 1:
            assert time.monotonic() < deadline, "the listener never matched"
            executor.spin_once(timeout_sec=0.1)
        assert outputs.answer_targets(header, answers)
        while len(received) < 2:
            assert time.monotonic() < deadline, f"{len(received)} of 2 statuses arrived"
            executor.spin_once(timeout_sec=0.1)
        dropped = {status.track_id: status.frames_dropped for status in received}
        assert dropped == {"1": 5, "2": 8}
        outputs.status(answers[1][2])  # the heartbeat's status alone counts the same way
        while len(received) < 3:
            assert time.monotonic() < deadline, "the heartbeat's status never arrived"
            executor.spin_once(timeout_sec=0.1)
        assert (received[2].track_id, received[2].frames_dropped) == ("2", 8)
        outputs.close()
    finally:
        executor.shutdown()
        listener.destroy_node()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
