# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Every bad input against the running node: a clear answer, the node stays up.

One node process (started with config/tracker.yaml, as users start it) goes through the cases in
order; after each, a valid frame must still be answered. Tests run in file order on purpose: the
first one needs a node that has never seen a frame.
"""

from __future__ import annotations

import math
import subprocess
import sys

import cv2
import numpy as np
import pytest
from node_harness import (
    REPO_ROOT,
    GraphClient,
    NodeProcess,
    require_ros,
    ros_env,
    running_graph,
    stamp_ns,
)

from rtmdnet_ros.ros_io.image_conversion import image_msg_to_bgr

require_ros()

W, H = 96, 72


def scene(seed: int = 0) -> np.ndarray:
    """A small colourful BGR frame with a distinct square to track."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (9, 12, 3), dtype=np.uint8), (W, H),
                     interpolation=cv2.INTER_NEAREST)
    img[20:44, 30:54] = (20, 200, 240)
    return img


@pytest.fixture(scope="module")
def graph():
    with running_graph({"torch_threads": 1, "frame_cache_seconds": 10.0}, debug=True) as pair:
        yield pair


def still_answers(client: GraphClient) -> None:
    """A valid frame after the bad one is still processed (nothing else lost)."""
    header = client.publish_bgr(scene())
    client.detection_for(header, timeout=20)
    client.status_for(header, timeout=20)


def test_init_before_any_frame_is_refused(graph):
    node, client = graph
    response = client.init((10, 10, 20, 20))
    assert not response.success
    assert "no image received yet" in response.message
    assert response.track_id == ""
    assert node.alive()


def test_reset_while_idle_says_so(graph):
    _, client = graph
    response = client.reset()
    assert response.success
    assert "already idle" in response.message
    # The same through the shell tool (this runtime has no `ros2 service call`).
    result = subprocess.run([sys.executable, "-m", "rtmdnet_ros.node.init_client", "--reset"],
                            cwd=REPO_ROOT, env=ros_env(), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ok: already idle" in result.stdout


def test_idle_frame_gets_empty_detections_and_status(graph):
    _, client = graph
    header = client.publish_bgr(scene(), frame_id="cam_left")
    detections = client.detection_for(header)
    assert detections.detections == []
    assert detections.header.frame_id == "cam_left"
    status = client.status_for(header)
    assert status.state == status.IDLE and status.header.frame_id == "cam_left"
    assert status.device.startswith("cpu")


@pytest.mark.parametrize("kind,pattern", [
    ("unknown_encoding", r"unrecognized encoding 'hsv8'"),
    ("short_step", r"wrongly formed: step 10 < width\*bytes_per_pixel 288"),
    ("short_data", r"wrongly formed: height\*step"),
    ("zero_size", r"zero-size image"),
    ("odd_yuv", r"needs an even width"),
])
def test_malformed_image_is_logged_and_skipped(graph, kind, pattern):
    node, client = graph
    before = node.line_count()
    good = scene().tobytes()
    if kind == "unknown_encoding":
        header = client.publish_raw(height=H, width=W, encoding="hsv8", step=W * 3, data=good)
    elif kind == "short_step":
        header = client.publish_raw(height=H, width=W, encoding="bgr8", step=10, data=good)
    elif kind == "short_data":
        header = client.publish_raw(height=H, width=W, encoding="bgr8", step=W * 3,
                                    data=good[:-7])
    elif kind == "zero_size":
        header = client.publish_raw(height=0, width=0, encoding="bgr8", step=0, data=b"")
    else:
        header = client.publish_raw(height=2, width=3, encoding="yuv422", step=6, data=bytes(12))
    line = node.wait_for_log(pattern, after=before, timeout=20)
    assert "dropping frame" in line and str(header.stamp.sec) in line
    still_answers(client)
    with client.lock:
        assert not any(stamp_ns(m.header.stamp) == stamp_ns(header.stamp)
                       for _, m in client.detections), "a malformed frame produced an output"
    assert node.alive()


def _expected_region(bgr: np.ndarray) -> np.ndarray:
    return bgr[H // 2:, :].astype(int)  # away from the state text drawn at the top


def _encode(bgr: np.ndarray, encoding: str) -> tuple[bytes, int, int]:
    """Return (data, step, is_bigendian) of a frame in ``encoding`` (with 3 bytes of padding)."""
    rgb = bgr[:, :, ::-1]
    big = 0
    if encoding == "mono8":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[:, :, None]
    elif encoding == "mono16":
        pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[:, :, None].astype(np.uint16) * 257
    elif encoding == "bgra8":
        pixels = np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)])
    elif encoding == "rgba8":
        pixels = np.dstack([rgb, np.full(bgr.shape[:2], 128, np.uint8)])
    elif encoding in ("rgb16", "rgb16_be"):
        pixels = rgb.astype(np.uint16) * 257
        big = int(encoding.endswith("_be"))
    elif encoding == "bgr16":
        pixels = bgr.astype(np.uint16) * 257
    elif encoding == "rgba16":
        pixels = np.dstack([rgb, np.zeros(bgr.shape[:2], np.uint8)]).astype(np.uint16) * 257
    elif encoding == "bgra16":
        pixels = np.dstack([bgr, np.zeros(bgr.shape[:2], np.uint8)]).astype(np.uint16) * 257
    elif encoding == "yuv422":
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_UYVY)
    elif encoding == "yuv422_yuy2":
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_YUY2)
    elif encoding.startswith("bayer_"):
        pattern = encoding[6:10]
        index = {"r": 0, "g": 1, "b": 2}
        mosaic = np.empty(bgr.shape[:2], np.uint8)
        for dy in range(2):
            for dx in range(2):
                mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, index[pattern[2 * dy + dx]]]
        pixels = mosaic[:, :, None]
        if encoding.endswith("16"):
            pixels = pixels.astype(np.uint16) * 257
    elif encoding == "8UC3":
        pixels = bgr
    else:  # pragma: no cover
        raise AssertionError(encoding)
    order = ">" if big else "<"
    rows = pixels.astype(pixels.dtype.newbyteorder(order)).reshape(H, -1).view(np.uint8)
    padded = np.zeros((H, rows.shape[1] + 3), np.uint8)
    padded[:, :rows.shape[1]] = rows
    return padded.tobytes(), padded.shape[1], big


@pytest.mark.parametrize("encoding,tolerance", [
    ("mono8", None), ("mono16", None), ("bgra8", 0), ("rgba8", 0), ("rgb16", 0),
    ("rgb16_be", 0), ("bgr16", 0), ("rgba16", 0), ("bgra16", 0), ("8UC3", 0),
    ("yuv422", 12), ("yuv422_yuy2", 12), ("bayer_rggb8", 40), ("bayer_gbrg16", 40),
])
def test_other_encodings_are_converted(graph, encoding, tolerance):
    """The debug image (BGR, colours checked) shows the frame: conversion and colour order."""
    node, client = graph
    # Flat colour blocks keep demosaicing and chroma subsampling exact away from the edges.
    bgr = np.zeros((H, W, 3), np.uint8)
    bgr[:, : W // 2] = (30, 80, 220)  # orange-red in BGR
    bgr[:, W // 2:] = (200, 120, 20)  # blue in BGR
    data, step, big = _encode(bgr, encoding)
    errors_before = node.log_count(r"dropping frame|failed")
    ros_encoding = encoding.replace("_be", "")
    header = client.publish_raw(height=H, width=W, encoding=ros_encoding, step=step, data=data,
                                is_bigendian=big)
    debug = client.debug_for(header, timeout=20)
    assert debug.encoding == "bgr8" and debug.header.frame_id == "camera"
    assert stamp_ns(debug.header.stamp) == stamp_ns(header.stamp)
    shown = image_msg_to_bgr(debug)
    region = (slice(H // 2 + 2, H - 2), slice(2, W // 2 - 2))
    other = (slice(H // 2 + 2, H - 2), slice(W // 2 + 2, W - 2))
    if tolerance is None:  # grey: equal channels, the grey level of the source colour
        expected = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[region]
        assert np.abs(shown[region][..., 0].astype(int) - expected).max() <= 1
    else:
        assert np.abs(shown[region].astype(int) - bgr[region]).max() <= tolerance
        assert np.abs(shown[other].astype(int) - bgr[other]).max() <= tolerance
    assert node.log_count(r"dropping frame|failed") == errors_before, node.log()[-2000:]
    assert node.alive()


@pytest.mark.parametrize("box,needle", [
    ((10, 10, 0, 20), "size must be positive"),
    ((10, 10, -5, 20), "size must be positive"),
    ((10, 10, math.nan, 20), "non-finite"),
    ((10, math.inf, 10, 20), "non-finite"),
    ((500, 400, 20, 20), "lies outside"),
    ((-50, -50, 20, 20), "lies outside"),
    ((0, 0, 96, 72), "box too large for the image: 96 x 72 px of a 96x72 image"),
    ((10, 10, 3, 20), "box too small: 3.0 x 20.0 px"),
])
def test_bad_init_box_is_refused(graph, box, needle):
    node, client = graph
    client.publish_bgr(scene())
    client.wait_until(lambda: client.statuses, what="a processed frame")
    response = client.init(box)
    assert not response.success
    assert needle in response.message, response.message
    assert response.track_id == ""
    still_answers(client)
    assert node.alive()


def test_stamp_not_in_cache_is_refused(graph):
    _, client = graph
    client.publish_bgr(scene())
    old = client.header(stamp_ns_value=12_000_000_123)
    response = client.init((30, 20, 24, 24), stamp=old.stamp)
    assert not response.success
    assert "stamp 12.000000123 is not in the frame cache" in response.message
    result = subprocess.run([sys.executable, "-m", "rtmdnet_ros.node.init_client", "--box",
                             "30,20,24,24", "--stamp", "12.000000123"], cwd=REPO_ROOT,
                            env=ros_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "refused: stamp 12.000000123 is not in the frame cache" in result.stdout


def test_init_with_cached_stamp_then_size_change_then_reset(graph):
    """Init starts on the requested cached frame and catches up; a resized frame is skipped.

    The frames after the chosen one were answered (idle) before the init: the init frame and
    the catch-up are tracked but not published, since answers never go back in stamp order.
    """
    node, client = graph
    headers = []
    for i in range(6):  # frames with the square moving right by 2 px per frame
        img = scene()
        img[20:44, 30:54] = img[20:44, 0:24]
        img[20:44, 30 + 2 * i:54 + 2 * i] = (20, 200, 240)
        headers.append(client.publish_bgr(img))
        client.detection_for(headers[-1])
    client.clear()
    chosen = headers[2]
    response = client.init((34, 20, 24, 24), stamp=chosen.stamp)
    assert response.success, response.message
    assert response.track_id
    assert f"{chosen.stamp.sec}." in response.message and "cached frame" in response.message
    node.wait_for_log(r"caught up over 3 cached frame\(s\)")
    img = scene()
    img[20:44, 30:54] = img[20:44, 0:24]
    img[20:44, 42:66] = (20, 200, 240)  # the square moved on, 2 px per frame
    live = client.publish_bgr(img)
    det = client.detection_for(live).detections[0]
    assert det.id == response.track_id
    assert det.bbox.center.position.x == pytest.approx(54.0, abs=3.0)
    with client.lock:
        order = [stamp_ns(m.header.stamp) for _, m in client.detections]
    # Nothing older than what was answered before the init: at most the newest frame again
    # (answered idle before, now with the track), then the live frame.
    assert order[-1] == stamp_ns(live.stamp) and order == sorted(order)
    assert set(order) <= {stamp_ns(headers[-1].stamp), stamp_ns(live.stamp)}

    # A frame of another size mid-track: skipped with a clear log line.
    before = node.line_count()
    small = cv2.resize(scene(), (W // 2, H // 2))
    odd = client.publish_bgr(small)
    node.wait_for_log(r"is 48x36 but track \S+ started on 96x72: frame skipped", after=before)
    header = client.publish_bgr(scene())
    det = client.detection_for(header, timeout=60)
    status = client.status_for(header)
    assert status.state in (status.TRACKING, status.LOST)
    assert status.track_id == response.track_id
    with client.lock:
        assert not any(stamp_ns(m.header.stamp) == stamp_ns(odd.stamp)
                       for _, m in client.detections)
    del det

    response = client.reset()
    assert response.success and "stopped" in response.message
    header = client.publish_bgr(scene())
    assert client.detection_for(header).detections == []
    assert client.status_for(header).state == 0  # IDLE
    assert node.alive()


def test_parameters_applied_or_refused(graph):
    """Run-time parameter changes: applied, or refused with a reason (never ignored)."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    node, client = graph
    set_client = client.node.create_client(SetParameters, "/rtmdnet_tracker/set_parameters")
    assert set_client.wait_for_service(timeout_sec=20)

    def set_param(name: str, value: ParameterValue):
        request = SetParameters.Request(parameters=[Parameter(name=name, value=value)])
        return client.call(set_client, request, 20).results[0]

    ok = set_param("label", ParameterValue(type=ParameterType.PARAMETER_STRING,
                                           string_value="face"))
    assert ok.successful
    ro = set_param("device", ParameterValue(type=ParameterType.PARAMETER_STRING,
                                            string_value="cuda"))
    assert not ro.successful and ro.reason
    out_of_range = set_param("lost_score_threshold",
                             ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                            double_value=1.5))
    assert not out_of_range.successful and out_of_range.reason
    later = set_param("n_candidates", ParameterValue(type=ParameterType.PARAMETER_INTEGER,
                                                     integer_value=128))
    assert later.successful
    node.wait_for_log(r"parameter n_candidates set to 128 \(applies from the next ~/init\)")
    node.wait_for_log(r"parameter label set to 'face'")
    client.status_for(client.publish_bgr(scene()))
    response = client.init((30, 20, 24, 24))
    assert response.success
    node.wait_for_log(r"128 candidates")  # the init built the next tracker with the change
    header = client.publish_bgr(scene())
    det = client.detection_for(header, timeout=60)
    if det.detections:
        assert det.detections[0].results[0].hypothesis.class_id == "face"
    client.reset()

    # publish_debug off: no debug image even with a subscriber; everything else continues.
    off = set_param("publish_debug", ParameterValue(type=ParameterType.PARAMETER_BOOL,
                                                    bool_value=False))
    assert off.successful
    header = client.publish_bgr(scene())
    client.status_for(header)
    import time

    time.sleep(0.5)
    with client.lock:
        assert not any(stamp_ns(m.header.stamp) == stamp_ns(header.stamp)
                       for _, m in client.debug_images)
    set_param("publish_debug", ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=True))
    header = client.publish_bgr(scene())
    client.debug_for(header)
    assert node.alive()


def test_compressed_input_and_corrupt_data(tmp_path):
    # image_transport comes from a params file: config/tracker.yaml's key must reach a node
    # in a namespace (a bare node-name key would not).
    transport = tmp_path / "transport.yaml"
    transport.write_text((REPO_ROOT / "config" / "tracker.yaml").read_text().replace(
        "image_transport: raw", "image_transport: compressed"))
    node = NodeProcess({"torch_threads": 1}, namespace="/cam2",
                       extra_args=["--params-file", str(transport)])
    client = GraphClient(tracker="/cam2/rtmdnet_tracker", image_topic="/cam2/image")
    try:
        node.wait_for_log(r"listening on /cam2/image/compressed", timeout=120)
        client.wait_connected(compressed=True)
        # Nothing arrives on the compressed topic while a raw publisher exists: the node says
        # what it listens to and what to change (the "nothing received, no hint" complaint).
        node.wait_for_log(r"no image received on /cam2/image/compressed after \d+ s: 1 "
                          r"publisher\(s\) on it; 1 publisher\(s\) on /cam2/image: set "
                          r"image_transport:=raw to read that one", timeout=20)
        ok, jpeg = cv2.imencode(".jpg", scene())
        header = client.publish_compressed(jpeg.tobytes())
        assert client.detection_for(header).header.frame_id == "camera"
        before = node.line_count()
        bad = client.publish_compressed(b"\xff\xd8 this is not a jpeg")
        node.wait_for_log(r"corrupt compressed image", after=before)
        truncated = client.publish_compressed(jpeg.tobytes()[:40])
        header = client.publish_compressed(jpeg.tobytes())
        client.detection_for(header)
        with client.lock:
            stamps = {stamp_ns(m.header.stamp) for _, m in client.detections}
        assert stamp_ns(bad.stamp) not in stamps and stamp_ns(truncated.stamp) not in stamps
        assert node.alive()
    finally:
        client.close()
        node.stop()


def test_input_qos_is_overridable_from_a_params_file(tmp_path):
    """QoSOverridingOptions: a YAML override turns the best-effort input into a reliable one."""
    override = tmp_path / "qos.yaml"
    override.write_text("/**/rtmdnet_tracker:\n  ros__parameters:\n    qos_overrides:\n"
                        "      /cam3/image:\n        subscription:\n"
                        "          reliability: reliable\n")
    node = NodeProcess({"torch_threads": 1}, namespace="/cam3",
                       extra_args=["--params-file", str(override)])
    client = GraphClient(tracker="/cam3/rtmdnet_tracker", image_topic="/cam3/image")
    try:
        node.wait_for_log(r"listening on /cam3/image", timeout=120)
        client.wait_connected()
        from rclpy.qos import ReliabilityPolicy

        infos = client.node.get_subscriptions_info_by_topic("/cam3/image")
        assert [i.qos_profile.reliability for i in infos] == [ReliabilityPolicy.RELIABLE]
        header = client.publish_bgr(scene())
        assert client.detection_for(header).detections == []
    finally:
        client.close()
        node.stop()
