# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Starting a track on a live camera, over real DDS, the node in its own process.

A camera stand-in in this process publishes a synthetic clip (320x240, the target moving
1.5 px a frame) at a fixed rate with real-time stamps, as a driver would. What a user of a live
camera must be able to rely on:
- a box drawn on a frame 5 s ago starts the track on that frame, the node catches up over the
  frames since, and the track is on the target afterwards, without a LOST on the way; at 10 and
  30 Hz; every answer, before and after the init, comes in stamp order;
- a refused init (box too large, too small, outside, stamp not cached, frame too old) leaves a
  running track as it was, same state and track id, and says why in the user's words;
- with the camera stopped, ``~/status`` still arrives at least once a second, saying for how
  long no image came; an init without a stamp on the stale newest frame is refused with its age.
- a cap on the frame cache's memory set at run time bounds how far back an init reaches, and
  the log says how far.
One node process serves the module (the checks share its start-up).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import numpy as np
import pytest
from node_harness import GraphClient, require_ros, running_graph, stamp_ns
from synthetic_clip import make_clip

from rtmdnet_ros.geometry import iou
from rtmdnet_ros.score_scale import probability

require_ros()

CLIP_FRAMES = 300  # one loop of the clip's motion: played over and over
MAX_FRAME_AGE_S = 1.0  # the node's max_init_frame_age in this module
HEARTBEAT_GAP_S = 1.25  # "at least once a second" (1 Hz), with the executor's timer jitter


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], np.ndarray]:
    frames, boxes = make_clip(CLIP_FRAMES, size=(320, 240), seed=3)
    return [np.ascontiguousarray(f[:, :, ::-1]) for f in frames], boxes  # BGR, as published


@pytest.fixture(scope="module")
def graph() -> Any:
    with running_graph({"torch_threads": 1, "max_init_frame_age": MAX_FRAME_AGE_S}) as pair:
        yield pair


class Camera:
    """Publishes the clip at ``rate`` Hz from a thread; remembers which frame each stamp was."""

    def __init__(self, client: GraphClient, clip: tuple[list[np.ndarray], np.ndarray],
                 rate: float) -> None:
        self._client = client
        self._frames, self._boxes = clip
        self._period = 1.0 / rate
        self.rate = rate
        self.published: list[tuple[float, Any, int]] = []  # (time, header, clip index)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Camera:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _run(self) -> None:
        start = time.monotonic()
        i = 0
        while not self._stop.is_set():
            index = i % CLIP_FRAMES
            header = self._client.publish_bgr(self._frames[index], frame_id="cam")
            with self._lock:
                self.published.append((time.monotonic(), header, index))
            i += 1
            self._stop.wait(max(0.0, start + i * self._period - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def count(self) -> int:
        with self._lock:
            return len(self.published)

    def wait_frames(self, n: int, timeout: float = 120.0) -> None:
        """Wait until ``n`` more frames are published (event-driven: counts, never sleeps)."""
        target = self.count() + n
        deadline = time.monotonic() + timeout
        while self.count() < target:
            assert time.monotonic() < deadline, f"camera published {self.count()} < {target}"
            time.sleep(0.02)

    def frame_ago(self, seconds: float) -> tuple[Any, int]:
        """The published frame closest to ``seconds`` ago: (header, clip index)."""
        with self._lock:
            when = time.monotonic() - seconds
            _, header, index = min(self.published, key=lambda p: abs(p[0] - when))
        return header, index

    def box_of(self, stamp: int) -> np.ndarray:
        with self._lock:
            index = next(i for _, h, i in self.published if stamp_ns(h.stamp) == stamp)
        return self._boxes[index]

    def last(self) -> Any:
        with self._lock:
            return self.published[-1][1]


def statuses_since(client: GraphClient, since: float) -> list[tuple[float, Any]]:
    """The statuses received from ``since`` on (in a wait_until predicate: the lock is held)."""
    return [(t, m) for t, m in client.statuses if t >= since]


def max_gap(times: list[float]) -> float:
    return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


def test_status_heartbeat_before_any_image(graph):
    """Nothing published yet: a monitor still hears the node, and reads why it is quiet."""
    _, client = graph
    since = time.time()
    client.wait_until(lambda: len([t for t, _ in client.statuses if t >= since]) >= 4,
                      timeout=30, what="four heartbeat statuses")
    with client.lock:
        beats = statuses_since(client, since)
    assert max_gap([t for t, _ in beats]) <= HEARTBEAT_GAP_S
    for _, status in beats:
        assert status.state == status.IDLE and status.track_id == ""
        assert status.message == "no image received yet on /image", status.message
        assert status.seconds_since_image == -1.0 and status.score == 0.0


@pytest.mark.parametrize("rate", [10.0, 30.0], ids=["10Hz", "30Hz"])
def test_stamped_init_5s_back_catches_up_on_target_in_stamp_order(graph, clip, rate):
    node, client = graph
    before = node.line_count()
    with Camera(client, clip, rate) as camera:
        camera.wait_frames(int(rate * 5.5))
        header, index = camera.frame_ago(5.0)
        response = client.init(tuple(clip[1][index]), stamp=header.stamp, timeout=120)
        assert response.success, response.message
        assert "cached frame" in response.message, response.message
        track = response.track_id
        node.wait_for_log(rf"track {track}: caught up over \d+ cached frame", timeout=180,
                          after=before)
        live_from = time.time() + 0.5  # answers arriving from here are live frames
        camera.wait_frames(int(rate * 2.5))
    last = camera.last()
    client.detection_for(last, timeout=60)
    with client.lock:
        detections = list(client.detections)
        statuses = list(client.statuses)
    stamps = [stamp_ns(m.header.stamp) for _, m in detections]
    assert stamps == sorted(stamps), "an answer came after a newer one"
    live = [m for t, m in detections if t >= live_from]
    assert len(live) >= 5, f"only {len(live)} live answers after the catch-up"
    for msg in live:
        assert len(msg.detections) == 1, "the track was lost after the catch-up"
        det = msg.detections[0]
        assert det.id == track
        x = det.bbox.center.position.x - det.bbox.size_x / 2
        y = det.bbox.center.position.y - det.bbox.size_y / 2
        box = (x, y, det.bbox.size_x, det.bbox.size_y)
        assert iou(box, camera.box_of(stamp_ns(msg.header.stamp))) > 0.5
    log = "\n".join(node.log().splitlines()[before:])
    assert f"track {track}: TRACKING -> LOST" not in log, log[-3000:]
    # One score scale: the status's score is the detection's probability, the logit beside it.
    last_status = next(m for t, m in reversed(statuses) if m.track_id == track)
    assert last_status.state == last_status.TRACKING
    assert 0.0 <= last_status.score <= 1.0
    assert last_status.score == pytest.approx(probability(last_status.raw_score), abs=1e-5)
    assert client.reset().success


def answered_after(client: GraphClient, camera: Camera) -> Any:
    """The status of the first frame published from now on that the node answers.

    Not of one chosen frame: a busy node answers the newest frame and counts the ones it
    replaced as dropped, so any given frame may go unanswered.
    """
    camera.wait_frames(1)
    after = stamp_ns(camera.last().stamp)

    def answered() -> Any:
        return next((m for _, m in client.statuses if stamp_ns(m.header.stamp) >= after), None)

    return client.wait_until(answered, timeout=60, what="an answer to a new frame")


def test_refused_inits_keep_the_running_track_and_a_stopped_camera_is_heard(graph, clip):
    node, client = graph
    with Camera(client, clip, 10.0) as camera:
        camera.wait_frames(5)
        # A frame the node has (as a user picks one from what the node answered): a frame
        # just published may still be on its way, or replaced unanswered.
        seen = answered_after(client, camera).header.stamp
        started = client.init(tuple(camera.box_of(stamp_ns(seen))), stamp=seen)
        assert started.success, started.message
        track = started.track_id
        status = answered_after(client, camera)
        assert (status.state, status.track_id) == (status.TRACKING, track)
        old = client.header(stamp_ns_value=12_000_000_123)
        for box, stamp, words in (
                ((0.0, 0.0, 320.0, 240.0), None, "box too large for the image"),
                ((100.0, 100.0, 2.0, 30.0), None, "box too small"),
                ((400.0, 300.0, 20.0, 20.0), None, "lies outside the 320x240 image"),
                ((100.0, 100.0, 30.0, 30.0), old.stamp, "is not in the frame cache")):
            refused = client.init(box, stamp=stamp)
            assert not refused.success and words in refused.message, refused.message
            assert refused.track_id == ""
            assert not re.search(r"Error|Exception|features \(|\bshape\b", refused.message)
            status = answered_after(client, camera)
            assert (status.state, status.track_id) == (status.TRACKING, track), words
    # The camera stopped: the heartbeat goes on, on the last answer's header (never newer).
    stopped = time.time()
    last_stamp = stamp_ns(camera.last().stamp)
    client.wait_until(lambda: sum(t >= stopped and m.message.startswith("no image for")
                                  for t, m in client.statuses) >= 3,
                      timeout=30, what="three 'no image' statuses")
    with client.lock:
        beats = statuses_since(client, stopped)
    assert max_gap([t for t, _ in beats]) <= HEARTBEAT_GAP_S
    quiet = [m for _, m in beats if m.message.startswith("no image for")]
    for status in quiet:
        assert re.fullmatch(r"no image for \d+ s on /image", status.message), status.message
        assert (status.state, status.track_id) == (status.TRACKING, track)
        assert stamp_ns(status.header.stamp) <= last_stamp
        assert status.seconds_since_image >= 0.75
    # An init without a stamp would start on that stale frame: refused, with its age.
    client.wait_until(lambda: statuses_since(client, stopped)[-1][1].seconds_since_image
                      > MAX_FRAME_AGE_S, timeout=30, what="the newest frame to age")
    stale = client.init((100.0, 100.0, 30.0, 30.0))
    assert not stale.success
    match = re.search(r"the newest frame is too old: it arrived (\d+\.\d) s ago on /image "
                      r"\(max_init_frame_age 1 s\)", stale.message)
    assert match and float(match.group(1)) > MAX_FRAME_AGE_S, stale.message
    since = time.time()
    status = client.wait_until(lambda: statuses_since(client, since), timeout=10,
                               what="a status")[-1][1]
    assert (status.state, status.track_id) == (status.TRACKING, track)
    assert client.reset().success


def set_parameter(client: GraphClient, name: str, value: float) -> None:
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    setter = client.node.create_client(SetParameters, "/rtmdnet_tracker/set_parameters")
    try:
        assert setter.wait_for_service(timeout_sec=30)
        request = SetParameters.Request(parameters=[Parameter(
            name=name, value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                            double_value=value))])
        result = client.call(setter, request, 30).results[0]
        assert result.successful, result.reason
    finally:
        client.node.destroy_client(setter)


def test_a_frame_cache_cap_in_megabytes_bounds_how_far_back_an_init_reaches(graph, clip):
    """``frame_cache_max_mb`` set at run time: 4 MB hold about 17 of the clip's 230 kB frames
    (1.7 s at 10 Hz) although ``frame_cache_seconds`` asks for 10 s; the log says so, an init on
    a frame 3 s back is refused as not cached, one on a frame half a second back starts."""
    node, client = graph
    with Camera(client, clip, 10.0) as camera:
        camera.wait_frames(40)
        said = node.log_count(r"frame cache: ")
        set_parameter(client, "frame_cache_max_mb", 4.0)
        try:
            line = node.wait_for_log(r"frame cache: .*capped at 4 MB \(frame_cache_max_mb\): "
                                     r"an init reaches \d+\.\d s back", timeout=30)
            assert node.log_count(r"frame cache: ") == said + 1, line
            reach = float(re.search(r"reaches (\d+\.\d) s back", line).group(1))
            assert 1.0 <= reach <= 2.5, line
            header, index = camera.frame_ago(3.0)
            refused = client.init(tuple(clip[1][index]), stamp=header.stamp)
            assert not refused.success and "is not in the frame cache" in refused.message
            header, index = camera.frame_ago(0.5)
            started = client.init(tuple(clip[1][index]), stamp=header.stamp, timeout=120)
            assert started.success, started.message
        finally:
            set_parameter(client, "frame_cache_max_mb", 1024.0)
        assert client.reset().success
