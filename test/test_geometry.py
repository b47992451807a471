# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

from rtmdnet_ros import geometry as g
from rtmdnet_ros.options import TrackerOptions


def test_conversions_round_trip():
    b = np.array([[10.0, 20.0, 30.0, 40.0], [0.5, 1.5, 2.0, 3.0]])
    np.testing.assert_allclose(g.xywh_to_x1y1x2y2(b), [[10, 20, 40, 60], [0.5, 1.5, 2.5, 4.5]])
    np.testing.assert_allclose(g.xywh_to_cxcywh(b[0]), [25, 40, 30, 40])
    np.testing.assert_allclose(g.cxcywh_to_xywh(g.xywh_to_cxcywh(b)), b)
    np.testing.assert_allclose(g.x1y1x2y2_to_xywh(g.xywh_to_x1y1x2y2(b)), b)


def test_iou_hand_values():
    a = np.array([0.0, 0.0, 10.0, 10.0])
    assert g.iou(a, a) == pytest.approx(1.0)
    # Half overlap along x: inter 50, union 150.
    assert g.iou(a, [5.0, 0.0, 10.0, 10.0]) == pytest.approx(50 / 150)
    assert g.iou(a, [10.0, 0.0, 10.0, 10.0]) == 0.0
    assert g.iou(a, [0.0, 0.0, 0.0, 0.0]) == 0.0
    many = np.array([[0, 0, 10, 10], [5, 5, 10, 10], [2, 2, 4, 4]], dtype=float)
    np.testing.assert_allclose(g.iou(many, a), [1.0, 25 / 175, 16 / 100])
    np.testing.assert_allclose(g.iou(many, many), [1.0, 1.0, 1.0])


def test_clip_and_area_ratio():
    np.testing.assert_allclose(g.clip_box([-5, -5, 20, 10], 10, 8), [0, 0, 10, 5])
    np.testing.assert_allclose(g.area_ratio([0, 0, 4, 4], [0, 0, 2, 2]), 4.0)


def test_validate_box():
    np.testing.assert_allclose(g.validate_box([-10, 5, 30, 10], 100, 50), [0, 5, 20, 10])
    for bad in ([0, 0, 0, 5], [0, 0, -3, 5], [np.nan, 0, 5, 5], [200, 0, 5, 5], [0, 0, 5]):
        with pytest.raises(ValueError):
            g.validate_box(bad, 100, 50)


def test_scene_box_is_union_of_padded_samples():
    s = np.array([[10.0, 10.0, 20.0, 10.0], [40.0, 0.0, 10.0, 30.0]])
    # padded: [8, 9, 24, 12] -> x1y1x2y2 8,9,32,21 ; [39, -3, 12, 36] -> 39,-3,51,33
    np.testing.assert_allclose(g.scene_box(s, 1.2), [8, -3, 43, 36])


def test_samples_to_rois_hand_computed():
    # Target 50x20 -> r = (107/50, 107/20). Sample equals target at (100, 60) in image, scene
    # corner (90, 55): crop coords (10, 5, 50, 20); padded: (5, 3, 60, 24) -> x2 = 65, y2 = 27.
    rois = g.samples_to_rois([[100, 60, 50, 20]], (90, 55), (50, 20), 107, 1.2, 75)
    rx, ry = 107 / 50, 107 / 20
    np.testing.assert_allclose(rois[0], [5 * rx, 3 * ry, 65 * rx - 75, 27 * ry - 75])


def test_samples_to_rois_tiny_box_keeps_one_pixel():
    rois = g.samples_to_rois([[0, 0, 5, 5]], (0, 0), (100, 100), 107, 1.2, 75)
    assert rois[0, 2] == pytest.approx(rois[0, 0] + 1)
    assert rois[0, 3] == pytest.approx(rois[0, 1] + 1)


def test_target_maps_to_107_and_crop_size():
    img_size = TrackerOptions().network.img_size
    target = np.array([30.0, 40.0, 64.0, 32.0])
    rois = g.samples_to_rois(target[None], target[:2], target[2:], img_size, 1.0, 0.0)
    np.testing.assert_allclose(rois[0, 2:] - rois[0, :2], [107, 107])
    assert g.crop_size((128, 64), (64, 32), 107) == (214, 214)
    assert g.crop_size((128, 64), (64, 32), 107, 1.1) == (235, 235)
