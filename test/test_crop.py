# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

from rtmdnet_ros.crop import crop_scene, crop_scene_literal, jitter_scene_boxes, to_tensor
from rtmdnet_ros.options import REFERENCE_JITTER


@pytest.mark.parametrize(
    "box,out",
    [
        ((10.3, 7.7, 30.0, 20.0), (41, 23)),  # inside, upscaled, anisotropic
        ((-12.5, -6.2, 60.0, 50.0), (25, 31)),  # past the top-left corner
        ((40.0, 30.0, 30.0, 30.0), (17, 17)),  # past the bottom-right corner
        ((-100.0, -100.0, 20.0, 20.0), (5, 5)),  # entirely outside: zeros
    ],
)
def test_crop_matches_literal_formula(box, out):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    fast = crop_scene(img, box, out)
    slow = crop_scene_literal(img, box, out)
    assert fast.shape == (out[1], out[0], 3) and fast.dtype == np.float32
    np.testing.assert_allclose(fast, slow, atol=1e-3)


def test_crop_sample_positions_hand_computed():
    # A horizontal ramp img[:, x] = x: output j must equal x1 + j*(w+1)/(out_w-1).
    img = np.tile(np.arange(100, dtype=np.uint8)[None, :, None], (10, 1, 3))
    out = crop_scene(img, (10.0, 2.0, 19.0, 3.0), (11, 3))
    np.testing.assert_allclose(out[0, :, 0], 10 + np.arange(11) * 2.0, atol=1e-4)
    assert np.all(crop_scene(img, (-100, 2, 10, 3), (4, 3)) == 0)


def test_to_tensor_and_jitter():
    crop = np.zeros((5, 7, 3), np.float32)
    crop[..., 0] = 1
    t = to_tensor([crop, crop])
    assert tuple(t.shape) == (2, 3, 5, 7) and t[:, 0].min() == 1 and t[:, 1:].max() == 0
    boxes = jitter_scene_boxes([10, 20, 30, 40], REFERENCE_JITTER)
    assert len(boxes) == 7
    np.testing.assert_allclose(boxes[1][0], [6, 20, 30, 40])
    np.testing.assert_allclose(boxes[2][0], [10, 16, 30, 40])
    assert [round(s, 4) for _, s in boxes] == [1, 1, 1, 0.9091, 1.1, 0.8264, 1.21]
