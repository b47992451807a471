# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What /diagnostics says, on real numbers: the figures and levels of rtmdnet_ros.node.health.

A camera is played second by second through the counters the node keeps (frames arrived,
answered, dropped; each answer's stamp and publish time), with a clock the test sets, so every
figure has an exact expected value. The JPEG builder of ~/debug_image/compressed and the
message constants need ROS types (skipped without them, failing under CI=true).
"""

from __future__ import annotations

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
