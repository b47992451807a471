# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's building blocks on their own: frame cache, score map, messages, device choice."""

from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from node_harness import require_ros

from rtmdnet_ros.node.frame_cache import MAX_FRAMES, Footprint, FrameCache
from rtmdnet_ros.score_scale import logit, probability

# ------------------------------------------------------------------ frame cache (no ROS needed)


def test_frame_cache_hands_out_only_the_newest_and_counts_drops():
    cache = FrameCache(5)
    assert cache.take_newest(timeout=0.01) is None
    for i in range(1, 5):
        cache.put(i * 100, f"h{i}", f"m{i}")
    frame = cache.take_newest(timeout=0.01)
    assert frame.stamp_ns == 400 and frame.msg == "m4"
    assert cache.dropped == 3 and cache.received == 4
    assert cache.take_newest(timeout=0.01) is None  # handed out once
    cache.put(500, "h5", "m5")
    assert cache.take_newest(timeout=0.01).stamp_ns == 500
    assert cache.dropped == 3


class Clock:
    """A settable clock: the cache's window is arrival time, checked without waiting."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_frame_cache_keeps_seconds_of_frames_by_arrival_time():
    clock = Clock()
    cache = FrameCache(3.0, clock=clock)
    for i in range(1, 6):  # one frame a second: 1..5 arrive at 101..105
        clock.now += 1.0
        cache.put(i, None, SimpleNamespace(data=bytes(100)))
    # At 105 the last 3 s hold the frames of 102..105 (3 s old and newer).
    assert cache.find(1) is None and cache.find(2).stamp_ns == 2
    assert [f.stamp_ns for f in cache.after(cache.find(3))] == [4, 5]
    assert cache.stamp_range() == (4, 2, 5)
    assert cache.footprint() == Footprint(4, 400, 3.0)
    assert cache.age(cache.newest()) == 0.0
    cache.resize(1.5)
    assert cache.stamp_range() == (2, 4, 5) and cache.seconds == 1.5
    # A stopped camera: time passes, the newest frame stays (its age says how old it is).
    clock.now += 60.0
    assert cache.stamp_range() == (1, 5, 5) and cache.age(cache.newest()) == 60.0
    with pytest.raises(ValueError, match="> 0 s"):
        FrameCache(0)
    cache.discard_pending_up_to(cache.find(5).sequence)
    assert cache.take_newest(timeout=0.01) is None


def test_frame_cache_memory_is_bounded_under_a_flood():
    cache = FrameCache(60.0)  # all arrive within the window: the frame cap bounds it
    for i in range(10_000):
        cache.put(i, None, bytearray(10))
    assert cache.stamp_range()[0] == MAX_FRAMES and cache.dropped == 9_999


def test_frame_cache_wakes_a_waiting_worker():
    cache = FrameCache(2)
    got = []
    worker = threading.Thread(target=lambda: got.append(cache.take_newest(timeout=5)))
    worker.start()
    cache.put(7, None, "x")
    worker.join(timeout=5)
    assert got and got[0].stamp_ns == 7


# ------------------------------------------------------------------ messages (need ROS types)


@pytest.fixture(scope="module")
def messages():
    require_ros()
    from rtmdnet_ros.ros_io import messages as module

    return module


def test_score_map_is_monotone_and_matches_the_reference_rule():
    raw = np.linspace(-50, 50, 1001)
    mapped = [probability(float(r)) for r in raw]
    assert all(0.0 <= m <= 1.0 for m in mapped)
    assert all(b >= a for a, b in zip(mapped, mapped[1:], strict=False))
    assert probability(0.0) == 0.5  # RT-MDNet success: raw > 0
    assert probability(2.0) == pytest.approx(1 / (1 + math.exp(-2)))
    assert probability(-1000.0) == 0.0
    assert probability(math.nan) == 0.0
    assert logit(probability(1.7)) == pytest.approx(1.7)


def test_detections_copy_the_header_and_use_pixel_centre(messages):
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header

    header = Header(stamp=Time(sec=12, nanosec=345), frame_id="cam")
    array = messages.build_detections(header, (10.0, 20.0, 30.0, 40.0), 0.8, "car", "7")
    assert array.header.stamp.sec == 12 and array.header.frame_id == "cam"
    (det,) = array.detections
    assert det.header.stamp.nanosec == 345 and det.header.frame_id == "cam"
    assert (det.bbox.center.position.x, det.bbox.center.position.y) == (25.0, 40.0)
    assert (det.bbox.size_x, det.bbox.size_y, det.bbox.center.theta) == (30.0, 40.0, 0.0)
    assert det.results[0].hypothesis.class_id == "car"
    assert det.results[0].hypothesis.score == pytest.approx(0.8)
    assert det.id == "7"
    assert messages.bbox_to_xywh(det.bbox) == (10.0, 20.0, 30.0, 40.0)
    empty = messages.build_detections(header, None, 0.0, "car", "7")
    assert empty.detections == [] and empty.header.frame_id == "cam"


def test_status_and_debug_image(messages):
    from rtmdnet_ros.msg import TrackerStatus
    from std_msgs.msg import Header

    from rtmdnet_ros.ros_io.image_conversion import image_msg_to_bgr

    header = Header(frame_id="cam")
    status = messages.build_status(header, TrackerStatus.LOST, -1.5, "3", 12.5, 10, 4, "cpu")
    # One scale with the detections (a probability); the logit in its own field.
    assert (status.state, status.track_id) == (TrackerStatus.LOST, "3")
    assert status.score == pytest.approx(probability(-1.5)) and status.raw_score == -1.5
    assert (status.frames_processed, status.frames_dropped, status.device) == (10, 4, "cpu")
    assert (status.seconds_since_image, status.message) == (-1.0, "")
    idle = messages.build_status(header, TrackerStatus.IDLE, 3.0, "", 0.0, 0, 0, "cpu",
                                 seconds_since_image=4.5, message="no image for 4 s on /image")
    assert (idle.score, idle.raw_score, idle.seconds_since_image) == (0.0, 0.0, 4.5)
    assert idle.message == "no image for 4 s on /image"
    bgr = np.zeros((120, 160, 3), np.uint8)
    drawn = messages.draw_debug(bgr.copy(), TrackerStatus.TRACKING, (40, 30, 50, 40), 0.9, "3",
                                "car")
    assert drawn[30, 60].tolist() == [0, 220, 0]  # top edge of the box, green while tracking
    lost = messages.draw_debug(bgr.copy(), TrackerStatus.LOST, (40, 30, 50, 40), 0.2, "3", "car")
    assert lost[30, 60].tolist() == [0, 0, 255]  # red when lost
    image = messages.build_image(drawn, header)
    assert image.encoding == "bgr8" and image.header.frame_id == "cam"
    assert np.array_equal(image_msg_to_bgr(image), drawn)


def test_device_choice_is_never_a_silent_fallback(messages):
    import torch

    from rtmdnet_ros.node.tracker_factory import NodeSetupError, resolve_device

    device, sentence = resolve_device("cpu", True)
    assert device == "cpu" and "cpu" in sentence
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the fallback paths cannot be exercised here")
    device, sentence = resolve_device("auto", False)
    assert device == "cpu" and "CUDA is not available" in sentence
    device, sentence = resolve_device("cuda", True)
    assert device == "cpu" and "falling back" in sentence
    with pytest.raises(NodeSetupError, match="cuda_fallback"):
        resolve_device("cuda", False)
    with pytest.raises(NodeSetupError, match="auto, cpu or cuda"):
        resolve_device("tpu", True)


def test_init_request_box_reads_back(messages):
    require_ros()
    from rtmdnet_ros.srv import InitTarget

    request = InitTarget.Request()
    messages.set_bbox(request.box, (5, 6, 7, 8))
    assert messages.bbox_to_xywh(request.box) == (5.0, 6.0, 7.0, 8.0)
    foxy_style = SimpleNamespace(center=SimpleNamespace(x=0.0, y=0.0, theta=1.0), size_x=0.0,
                                 size_y=0.0)
    messages.set_bbox(foxy_style, (5, 6, 7, 8))
    assert (foxy_style.center.x, foxy_style.center.theta) == (8.5, 0.0)


# ------------------------------------------------------------------ parameter table (rclpy types)


def test_parameter_table_rules():
    """Every run-time change is either accepted or refused with a sentence; types are checked."""
    require_ros()
    from rclpy.parameter import Parameter

    from rtmdnet_ros.node import parameters as table

    assert len(set(table.PARAMETER_NAMES)) == len(table.SPECS) == 41
    assert set(table.TRACKER_OPTION_PARAMETERS) <= set(table.PARAMETER_NAMES)
    for spec in table.SPECS:
        desc = spec.descriptor()
        assert desc.description and desc.read_only == spec.read_only
        if spec.int_range:
            assert (desc.integer_range[0].from_value, desc.integer_range[0].to_value) == \
                spec.int_range
        if spec.float_range:
            low, high = spec.float_range
            assert (desc.floating_point_range[0].from_value,
                    desc.floating_point_range[0].to_value) == (low, high)
            assert low <= spec.default <= high

    def why(name, value):
        return table.refusal(Parameter(name, value=value))

    assert why("model_path", "/x.pt") == "model_path is fixed at start; restart the node"
    assert why("label", "person") is None
    assert why("label", "  ") == "label must be a non-empty string"
    assert why("label", 3) == "label must be a non-empty string"
    assert why("init_class", "") is None  # empty = any class
    assert why("detections_topic", "/yolo") == ("detections_topic is fixed at start; restart "
                                                "the node")
    assert why("publish_debug", False) is None
    assert why("publish_debug", 1) == "publish_debug must be true or false"
    assert why("lost_score_threshold", 0.7) is None and why("lost_score_threshold", 1) is None
    assert why("lost_score_threshold", 1.5) == "lost_score_threshold must be in [0, 1]"
    assert why("lost_score_threshold", "high") == "lost_score_threshold must be in [0, 1]"
    assert why("n_candidates", 512) is None
    assert why("n_candidates", 5.5) == "n_candidates must be an integer"
    assert why("debug_image_jpeg_quality", 95) is None
    assert why("debug_image_jpeg_quality", 95.0) == "debug_image_jpeg_quality must be an integer"
    assert why("diagnostics_min_answered", 1.2) == "diagnostics_min_answered must be in [0, 1]"
    overrides = table.tracker_option_overrides({"n_candidates": 0, "long_term_interval": 7})
    assert overrides == {"long_term_interval": 7}
    assert table.tracker_option_overrides(
        {"n_candidates": 0, "long_term_interval": 0, "update_mode": "sync", "box_refiner": "none"}
    ) == {"update_mode": "sync", "box_refiner": "none"}
    assert table.tracker_option_overrides(
        {"composite_verify_aside": False, "release_backbone_memory": True}) == {
        "composite_verify_aside": False, "release_backbone_memory": True}


def test_parameter_choices_are_the_options_own():
    """Constraints come from the options' tuples, and the options' check is the node's check."""
    require_ros()
    from rtmdnet_ros.node import parameters as table
    from rtmdnet_ros.options import BOX_REFINERS, MODES, UPDATE_MODES

    spec = {s.name: s for s in table.SPECS}
    for name, allowed in (("update_mode", UPDATE_MODES), ("mode", MODES),
                          ("box_refiner", BOX_REFINERS)):
        assert spec[name].constraints == " | ".join(allowed)
        for value in allowed:
            table.check_tracker_parameters({name: value})
        with pytest.raises(ValueError, match=f"parameter {name} must be .* not 'fancy'"):
            table.check_tracker_parameters({name: "fancy"})


def test_frame_cache_uncounts_a_dropped_frame_caught_up_later():
    """A frame replaced in the newest slot counts as dropped until an init's catch-up tracks
    it: frames_dropped counts frames never tracked, nothing twice."""
    cache = FrameCache(10.0)
    for i in range(1, 5):
        cache.put(i, None, i)
    assert cache.dropped == 3
    cache.tracked_late(cache.find(2))
    cache.tracked_late(cache.find(2))  # once only
    cache.tracked_late(cache.find(4))  # still pending, never counted
    assert cache.dropped == 2


def test_frame_cache_cap_in_megabytes_keeps_the_newest_frames_that_fit():
    clock = Clock()
    cache = FrameCache(60.0, max_mb=2.5, clock=clock)
    for i in range(1, 6):  # five 1 MB frames, a second apart: within the 60 s window
        clock.now += 1.0
        cache.put(i, None, SimpleNamespace(data=bytes(1_000_000)))
    assert cache.stamp_range() == (2, 4, 5) and cache.footprint().bytes == 2_000_000
    cache.resize(max_mb=0.0)  # no cap: the seconds decide again
    for i in range(6, 9):
        clock.now += 1.0
        cache.put(i, None, SimpleNamespace(data=bytes(1_000_000)))
    assert cache.stamp_range() == (5, 4, 8) and cache.seconds == 60.0
    cache.resize(max_mb=0.5)  # a cap below one frame still keeps the newest
    assert cache.stamp_range() == (1, 8, 8) and cache.footprint().bytes == 1_000_000
    cache.resize(seconds=0.5, max_mb=3.0)
    assert cache.max_mb == 3.0 and cache.seconds == 0.5
    with pytest.raises(ValueError, match=">= 0 MB"):
        FrameCache(10.0, max_mb=-1.0)
