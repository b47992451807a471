# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Which detection, box and frame a detector's array, a class or a pixel starts a track on.

ROS-free: the rules shared by the node and ``rtmdnet-bag`` (rtmdnet_ros/ros_io/detections.py)
and the node's frame matching (rtmdnet_ros/node/target_choice.py) on a real FrameCache, with
messages built field by field as rosbags' dataclasses and rclpy's classes both look.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from rtmdnet_ros.node.frame_cache import FrameCache
from rtmdnet_ros.node.target_choice import DetectionStore, TargetChoice
from rtmdnet_ros.ros_io.detections import (
    Candidate,
    best_of_class,
    box_around,
    containing,
    distance_in_sizes,
    near_lost,
    point_problem,
    read_detections,
)


def stamp(ns: int) -> SimpleNamespace:
    return SimpleNamespace(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def detection(box, hyps, det_id="", stamp_ns=0):
    x, y, w, h = box
    bbox = SimpleNamespace(center=SimpleNamespace(position=SimpleNamespace(x=x + w / 2,
                                                                           y=y + h / 2),
                                                  theta=0.0), size_x=w, size_y=h)
    results = [SimpleNamespace(hypothesis=SimpleNamespace(class_id=c, score=s)) for c, s in hyps]
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp(stamp_ns)), bbox=bbox,
                           results=results, id=det_id)


def array(stamp_ns, *detections):
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp(stamp_ns)),
                           detections=list(detections))


def test_reading_keeps_good_boxes_and_says_why_bad_ones_are_refused():
    msg = array(5_000, detection((10, 20, 30, 40), [("person", 0.9), ("dog", 0.2)], "7"),
                detection((float("nan"), 0, 10, 10), [("person", 0.99)]),
                detection((0, 0, 0, 10), [("person", 0.99)]),
                detection((50, 50, 10, 10), []))
    found = read_detections(msg)
    assert found.stamp_ns == 5_000
    assert [(c.class_id, c.score, c.index) for c in found.candidates] == [
        ("person", 0.9, 0), ("dog", 0.2, 0), ("", 0.0, 3)]
    assert found.candidates[0].box == (10.0, 20.0, 30.0, 40.0)
    assert found.candidates[0].detection_id == "7"
    assert found.problems == ("detection 1: box has a non-finite value: x=nan y=0.0 w=10.0 "
                              "h=10.0", "detection 2: box size must be positive, got 0 x 10 px")
    # Some detectors stamp only the detections, not the array.
    assert read_detections(array(0, detection((1, 1, 5, 5), [], stamp_ns=42))).stamp_ns == 42


def test_class_point_and_loss_rules():
    person = Candidate((100, 100, 40, 80), "person", 0.8, 0)
    small = Candidate((110, 110, 10, 10), "person", 0.6, 1)
    dog = Candidate((300, 100, 40, 40), "dog", 0.95, 2)
    far = Candidate((500, 100, 40, 80), "person", 0.99, 3)
    cands = [person, small, dog, far]
    assert best_of_class(cands, "person") is far
    assert best_of_class(cands, None) is far
    assert best_of_class(cands, "cat") is None
    assert best_of_class(cands, "dog", min_score=0.96) is None
    # Nested boxes: the smallest containing the pixel; outside every box: none.
    assert containing(cands, 115, 115) is small
    assert containing(cands, 105, 170) is person
    assert containing(cands, 5, 5) is None
    assert containing(cands, 115, 115, min_score=0.7) is person
    # Near the loss: the tracked class only, within the radius in target sizes, nearest first.
    lost = (120, 100, 40, 80)  # mean side 60
    assert distance_in_sizes(person.box, lost) == 20 / 60
    assert near_lost(cands, "person", lost, 2.0) == [person, small]
    assert near_lost(cands, "person", lost, 0.1) == []
    assert near_lost(cands, "dog", lost, 2.0) == []  # 180 px = 3 sizes away
    assert near_lost(cands, "dog", lost, 3.5) == [dog]


def test_points_and_click_boxes():
    assert point_problem(10, 10, 320, 240) == ""
    assert point_problem(320, 10, 320, 240) == "point (x=320.0, y=10.0) lies outside the " \
                                               "320x240 image"
    assert point_problem(-1, 10, 320, 240).startswith("point (x=-1.0")
    assert "non-finite" in point_problem(math.nan, 1, 320, 240)
    assert box_around(100, 100, 64, 320, 240) == (68.0, 68.0, 64.0, 64.0)
    assert box_around(10, 230, 64, 320, 240) == (0.0, 198.0, 42.0, 42.0)  # clipped


def image(width=320, height=240):
    return SimpleNamespace(width=width, height=height, data=np.zeros(width * height * 3,
                                                                      np.uint8))


def test_detections_are_matched_to_their_frame_by_stamp_never_the_newest():
    clock = [0.0]
    cache = FrameCache(10.0, clock=lambda: clock[0])
    for i in range(1, 6):
        clock[0] = i * 0.1
        cache.put(i * 1000, SimpleNamespace(stamp=stamp(i * 1000)), image())
    store = DetectionStore()
    choice = TargetChoice(cache, store)
    assert choice.frame_of(2000).stamp_ns == 2000
    assert "is not in the frame cache (5 frames" in choice.frame_of(99)
    assert choice.frame_of(2500) == ("its frame 0.000002500 never reached this node (lost "
                                     "before it, or not from its camera): the 5 cached frames "
                                     "from 0.000001000 to 0.000005000 do not include it")
    assert "no stamp" in choice.frame_of(0)
    store.put(read_detections(array(2000, detection((10, 10, 30, 30), [("person", 0.7)]))))
    store.put(read_detections(array(3000, detection((50, 10, 30, 30), [("dog", 0.9)]))))
    # By class with a stamp: that frame's detections; with zero: the newest frame having some.
    picked = choice.by_class("person", 2000, "/image", 2.0, 0.0)
    assert (picked.frame.stamp_ns, picked.box, picked.class_id) == (2000, (10, 10, 30, 30),
                                                                    "person")
    assert "no detection of class 'person'" in choice.by_class("person", 0, "/image", 2.0, 0.0)
    assert choice.by_class("dog", 0, "/image", 2.0, 0.0).frame.stamp_ns == 3000
    assert "no detections arrived for the frame" in choice.by_class("dog", 4000, "/i", 2, 0.0)
    # By point: the detection containing it on that frame, else a box of the given side.
    hit = choice.by_point(20, 20, 2000, "/image", 2.0, 48.0, 0.0)
    assert (hit.box, hit.class_id) == ((10, 10, 30, 30), "person")
    miss = choice.by_point(200, 100, 2000, "/image", 2.0, 48.0, 0.0)
    assert (miss.frame.stamp_ns, miss.box, miss.class_id) == (2000, (176, 76, 48, 48), None)
    assert "outside the 320x240 image" in choice.by_point(400, 10, 2000, "/image", 2.0, 48, 0)
    # A viewer's click stamped between frames: the frame on screen then (at or before it).
    assert choice.by_point(20, 20, 3500, "/i", 2.0, 48, 0, exact=False).frame.stamp_ns == 3000
    assert "not in the frame cache" in choice.by_point(20, 20, 3500, "/i", 2.0, 48, 0)
