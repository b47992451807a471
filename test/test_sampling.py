# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest

from rtmdnet_ros.geometry import area_ratio, iou, xywh_to_cxcywh
from rtmdnet_ros.sampling import SampleGenerator, gen_samples

BOX = np.array([100.0, 80.0, 40.0, 60.0])  # centre (120, 110), mean side 50


def test_gaussian_spread_and_clip():
    gen = SampleGenerator("gaussian", (640, 480), 0.6, 1.05)
    s = gen(BOX, 20000, np.random.default_rng(0))
    c = xywh_to_cxcywh(s)
    dx = (c[:, 0] - 120) / (0.6 * 50)
    assert np.abs(dx).max() <= 1 + 1e-9
    # clip(0.5 N, -1, 1): std of the clipped normal = 0.5 * 0.9785 ~ 0.489
    assert np.std(dx) == pytest.approx(0.489, abs=0.01)
    logs = np.log(c[:, 2] / 40) / np.log(1.05)
    assert np.abs(logs).max() <= 1 + 1e-9
    # one scale factor for both sides
    np.testing.assert_allclose(c[:, 2] / 40, c[:, 3] / 60)


def test_uniform_spread_and_aspect():
    gen = SampleGenerator("uniform", (640, 480), 1.0, 2.0, aspect=1.1)
    s = gen(BOX, 20000, np.random.default_rng(1))
    c = xywh_to_cxcywh(s)
    dy = (c[:, 1] - 110) / 50
    assert dy.min() >= -1 and dy.max() <= 1
    assert np.std(dy) == pytest.approx(1 / np.sqrt(3), abs=0.01)
    ratio = (c[:, 2] / c[:, 3]) / (40 / 60)  # = 1.1^(2r)
    assert ratio.min() >= 1.1**-2 - 1e-9 and ratio.max() <= 1.1**2 + 1e-9
    assert ratio.min() < 1.1**-1.9 and ratio.max() > 1.1**1.9


def test_size_clip_and_valid():
    gen = SampleGenerator("uniform", (100, 80), 1.0, 10.0, valid=True)
    s = gen([40, 30, 30, 30], 5000, np.random.default_rng(2))
    assert s[:, 2].min() >= 5 and s[:, 2].max() <= 95
    assert s[:, 3].max() <= 75
    assert s[:, 0].min() >= -1e-9 and (s[:, 0] + s[:, 2]).max() <= 100 + 1e-9
    assert s[:, 1].min() >= -1e-9 and (s[:, 1] + s[:, 3]).max() <= 80 + 1e-9


def test_gen_samples_filters():
    rng = np.random.default_rng(3)
    pos = gen_samples(SampleGenerator("gaussian", (640, 480), 0.1, 1.2), BOX, 500, rng, (0.7, 1))
    assert len(pos) == 500 and iou(pos, BOX).min() >= 0.7
    neg = gen_samples(
        SampleGenerator("uniform", (640, 480), 1, 2, 1.1), BOX, 5000, rng, (0, 0.5)
    )
    assert len(neg) == 5000 and iou(neg, BOX).max() <= 0.5
    bb = gen_samples(
        SampleGenerator("uniform", (640, 480), 0.3, 1.5, 1.1), BOX, 1000, rng, (0.6, 1), (1, 2)
    )
    ar = area_ratio(bb, BOX)
    assert len(bb) == 1000 and iou(bb, BOX).min() >= 0.6 and ar.min() >= 1 and ar.max() <= 2


def test_gen_samples_may_return_fewer():
    # Box filling the image: positives with IoU >= 0.99 are very rare.
    gen = SampleGenerator("uniform", (50, 50), 1.0, 2.0)
    out = gen_samples(gen, [0, 0, 50, 50], 100, np.random.default_rng(4), (0.99, 1.0))
    assert len(out) < 100
    assert np.all(iou(out, [0, 0, 50, 50]) >= 0.99)


def test_seeded_generators_repeat():
    gen = SampleGenerator("gaussian", (640, 480), 0.6, 1.05, valid=True)
    a = gen(BOX, 50, np.random.default_rng(7))
    b = gen(BOX, 50, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
