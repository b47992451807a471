# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
import numpy as np
import pytest
import torch

from rtmdnet_ros.bbox_regression import (
    BBoxRegressor,
    accept,
    apply_deltas,
    regression_targets,
)


def test_targets_hand_computed_and_inverse():
    b = np.array([[10.0, 20.0, 40.0, 20.0]])  # centre (30, 30)
    gt = np.array([14.0, 18.0, 80.0, 10.0])  # centre (54, 23)
    t = regression_targets(b, gt)
    np.testing.assert_allclose(t[0], [24 / 40, -7 / 20, np.log(2), np.log(0.5)])
    np.testing.assert_allclose(apply_deltas(b, t)[0], gt)


def test_ridge_recovers_known_linear_map():
    rng = np.random.default_rng(0)
    n, d = 400, 50
    x = rng.normal(size=(n, d)) * 10
    w = rng.normal(size=(d, 4))
    bias = np.array([0.5, -1.0, 2.0, 0.0])
    y = x @ w + bias
    reg = BBoxRegressor(alpha=1e-3)
    reg.fit_targets(x, y)
    np.testing.assert_allclose(reg.weight.numpy(), w, atol=1e-4)
    np.testing.assert_allclose(reg.bias.numpy(), bias, atol=1e-3)


def test_ridge_dual_equals_primal_with_alpha_1000():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 200)) * 5 + 3
    y = rng.normal(size=(60, 4))
    reg = BBoxRegressor(alpha=1000.0)
    reg.fit_targets(x, y)  # n < d: dual form
    xc, yc = x - x.mean(0), y - y.mean(0)
    w = np.linalg.solve(xc.T @ xc + 1000 * np.eye(200), xc.T @ yc)
    np.testing.assert_allclose(reg.weight.numpy(), w, atol=1e-9)
    np.testing.assert_allclose(reg.bias.numpy(), y.mean(0) - x.mean(0) @ w, atol=1e-9)


def test_acceptance_rule():
    orig = np.array([[0, 0, 20, 20]] * 4, dtype=float)
    pred = np.array(
        [
            [1, 1, 18, 18],  # IoU 0.81, ratio 1.23: kept
            [0, 0, 22, 22],  # larger than orig: ratio < 1, rejected
            [8, 8, 18, 18],  # IoU too low, rejected
            [5, 5, 10, 10],  # ratio 4, rejected
        ]
    )
    out = accept(orig, pred, 0.6, (1.0, 2.0))
    np.testing.assert_allclose(out, [pred[0], orig[1], orig[2], orig[3]])


def test_predict_clips_to_image_and_needs_fit():
    reg = BBoxRegressor()
    with pytest.raises(RuntimeError):
        reg.predict(np.zeros((1, 3)), [[0, 0, 10, 10]])
    reg.weight = torch.zeros(3, 4, dtype=torch.float64)
    reg.bias = torch.tensor([0.0, 0.0, -0.1, -0.1], dtype=torch.float64)
    out = reg.predict(np.zeros((1, 3)), [[95, 0, 10, 10]], img_wh=(100, 100))
    # shrunk about the centre (100, 5) by exp(-0.1), then clipped at x = 100
    w = 10 * np.exp(-0.1)
    np.testing.assert_allclose(out[0], [100 - w / 2, 5 - w / 2, w / 2, w], atol=1e-9)


def test_prior_pulls_the_fit_towards_an_offline_regressor():
    """ridge on W - W0: with few samples and a strong alpha the fit stays at the prior, with
    plenty of exact data it reaches the truth either way."""
    rng = np.random.default_rng(1)
    d = 20
    w_true = rng.normal(size=(d, 4))
    w_prior = w_true + 0.1 * rng.normal(size=(d, 4))
    bias = np.array([0.1, -0.2, 0.05, 0.0])
    x_few = rng.normal(size=(5, d))
    y_few = x_few @ w_true + bias
    with_prior = BBoxRegressor(alpha=1e6)
    with_prior.set_prior(w_prior, bias)
    assert with_prior.fitted  # usable before any first-frame fit
    np.testing.assert_allclose(with_prior.weight.numpy(), w_prior)
    with_prior.fit_targets(x_few, y_few)
    np.testing.assert_allclose(with_prior.weight.numpy(), w_prior, atol=1e-3)
    plain = BBoxRegressor(alpha=1e6)
    plain.fit_targets(x_few, y_few)
    assert np.abs(plain.weight.numpy()).max() < 1e-3  # reference ridge: pulled to zero
    x = rng.normal(size=(500, d)) * 10
    exact = BBoxRegressor(alpha=1e-6)
    exact.set_prior(w_prior, bias)
    exact.fit_targets(x, x @ w_true + bias)
    np.testing.assert_allclose(exact.weight.numpy(), w_true, atol=1e-6)
    with pytest.raises(ValueError, match="prior must be"):
        BBoxRegressor().set_prior(np.zeros((d, 3)), np.zeros(4))
