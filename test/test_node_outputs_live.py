# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""/diagnostics and ~/debug_image/compressed over real DDS, the node in its own process.

A camera stand-in in this process publishes a synthetic clip (320x240) at 5 Hz; a subscriber
in this process reads what a robot monitor and a remote viewer read:
- ``/diagnostics`` says OK while the target is tracked (with the figures of the run), and WARN
  naming the topic once the camera stops;
- ``~/debug_image/compressed`` carries a JPEG of the frame's size that decodes to the drawn
  frame, and nothing is drawn or encoded while nobody subscribes (the node's counters, read
  from its own ``/diagnostics``).
ERROR after a failed configure is checked where the node already fails one
(test_node_parameter_policy.py). One node process serves the module.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from node_harness import GraphClient, require_ros, running_graph, stamp_ns
from synthetic_clip import make_clip

require_ros()

RATE_HZ = 5.0
SIZE = (320, 240)
NAME = "rtmdnet_tracker: target"
PARAMS = {"torch_threads": 1, "diagnostics_rate": 4.0, "diagnostics_window": 4.0,
          "diagnostics_max_image_age": 1.5,
          # The answered share is judged in test_node_health.py; on a loaded CI machine a
          # tracker can fall behind 5 Hz for a while, which is not what this module checks.
          "diagnostics_min_answered": 0.2}


@pytest.fixture(scope="module")
def graph() -> Any:
    with running_graph(PARAMS) as (node, client):
        client.subscribe_diagnostics()
        yield node, client


class Camera:
    """Publishes the clip at RATE_HZ from a thread (BGR frames, real-time stamps)."""

    def __init__(self, client: GraphClient) -> None:
        frames, self.boxes = make_clip(50, size=SIZE, seed=4)
        self._frames = [np.ascontiguousarray(f[:, :, ::-1]) for f in frames]
        self._client = client
        self.headers: dict[int, int] = {}  # stamp -> clip index
        self.newest: tuple[Any, int] | None = None  # (header, clip index)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i, start = 0, time.monotonic()
        while not self._stop.is_set():
            index = i % len(self._frames)
            header = self._client.publish_bgr(self._frames[index], frame_id="cam")
            with self._lock:
                self.headers[stamp_ns(header.stamp)] = index
                self.newest = (header, index)
            i += 1
            self._stop.wait(max(0.0, start + i / RATE_HZ - time.monotonic()))

    def frame(self, stamp: int) -> np.ndarray | None:
        with self._lock:
            index = self.headers.get(stamp)
        return None if index is None else self._frames[index]

    def count(self) -> int:
        with self._lock:
            return len(self.headers)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def values(status: Any) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def ours(client: GraphClient, since: float) -> list[Any]:
    """This node's target statuses received from ``since`` on (the lock is held)."""
    return [s for t, array in client.diagnostics if t >= since
            for s in array.status if s.name == NAME]


def wait_status(client: GraphClient, predicate: Any, what: str, timeout: float = 90.0) -> Any:
    """The first status from now on that satisfies ``predicate`` (event-driven)."""
    since = time.time()

    def find() -> Any:
        return next((s for s in ours(client, since) if predicate(s)), None)

    return client.wait_until(find, timeout, what)


def test_diagnostics_ok_while_tracking_jpeg_only_when_subscribed_warn_when_camera_stops(graph):
    import cv2
    from diagnostic_msgs.msg import DiagnosticStatus
    from sensor_msgs.msg import CompressedImage

    node, client = graph
    camera = Camera(client)
    try:
        client.wait_until(lambda: client.detections and camera.count() >= 3, 60,
                          "a first answer")
        header, index = camera.newest
        response = client.init(tuple(camera.boxes[index]), stamp=header.stamp, timeout=120)
        assert response.success, response.message
        track = response.track_id
        # OK while tracking, with the run's figures; nobody subscribes to either debug topic.
        ok = wait_status(client, lambda s: s.level == DiagnosticStatus.OK
                         and values(s)["state"] == "TRACKING"
                         and int(values(s)["answers published"]) >= 10,
                         "OK while TRACKING after 10 answers")
        figures = values(ok)
        assert ok.hardware_id == "cpu" and figures["device"] == "cpu"
        assert figures["track id"] == track and figures["input topic"] == "/image"
        assert 2.5 <= float(figures["input rate (Hz)"]) <= 7.5, figures
        assert float(figures["answered share"]) >= PARAMS["diagnostics_min_answered"]
        p50 = float(figures["stamp to detection p50 (ms)"])
        p95 = float(figures["stamp to detection p95 (ms)"])
        assert 0.0 < p50 <= p95 < 10_000.0, figures
        assert ok.message.startswith("TRACKING, "), ok.message
        assert (figures["debug images drawn"], figures["debug JPEGs encoded"]) == ("0", "0")

        # A remote viewer subscribes to the compressed debug image: a JPEG of the frame's size.
        jpegs: list[Any] = []
        sub = client.node.create_subscription(
            CompressedImage, "/rtmdnet_tracker/debug_image/compressed",
            lambda m: client._store(jpegs, m), 10)
        _, jpeg = client.wait_until(lambda: jpegs and jpegs[-1], 60, "a compressed debug image")
        assert jpeg.format == "jpeg" and jpeg.header.frame_id == "cam"
        decoded = cv2.imdecode(np.frombuffer(bytes(jpeg.data), np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None and decoded.shape == (SIZE[1], SIZE[0], 3)
        sent = camera.frame(stamp_ns(jpeg.header.stamp))
        assert sent is not None, "the JPEG's stamp is not one the camera sent"
        # The camera frame with the box and text drawn over it: mostly the same pixels.
        close = np.abs(decoded.astype(int) - sent).max(axis=2) < 40
        assert 0.8 < close.mean() < 1.0, close.mean()
        counted = wait_status(client, lambda s: int(values(s)["debug JPEGs encoded"]) > 0,
                              "the encoded JPEGs counted")
        assert int(values(counted)["debug images drawn"]) >= int(
            values(counted)["debug JPEGs encoded"])

        # Unsubscribed again: frames are still answered, no JPEG is encoded for nobody.
        client.node.destroy_subscription(sub)
        first = wait_status(client, lambda s: True, "a status after unsubscribing")
        settled = wait_status(
            client, lambda s: int(values(s)["answers published"])
            >= int(values(first)["answers published"]) + 10, "10 more answers")
        later = wait_status(
            client, lambda s: int(values(s)["answers published"])
            >= int(values(settled)["answers published"]) + 5, "5 more answers again")
        assert values(later)["debug JPEGs encoded"] == values(settled)["debug JPEGs encoded"]
    finally:
        camera.stop()
    # The camera stopped: WARN, naming the topic; the track is kept.
    warn = wait_status(client, lambda s: s.level == DiagnosticStatus.WARN
                       and "no image for" in s.message, "WARN for the stopped camera", timeout=30)
    assert "s on /image (diagnostics_max_image_age 1.5 s)" in warn.message, warn.message
    assert values(warn)["track id"] == track
    assert float(values(warn)["seconds since image"]) >= 1.5  # shown to 0.1 s
    assert client.reset().success
    assert node.alive()
