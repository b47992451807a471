# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Bounding-box regressor of reference 8: ridge regression on raw RoI features.

Fitted once on the first frame. The closed form is solved in float64; with fewer samples than
feature dimensions (1000 vs 4608) the dual (kernel) form is used, an N x N system instead of a
D x D one, which is the same solution and several times faster on CPU.
"""

from __future__ import annotations

import numpy as np
import torch

from .geometry import area_ratio, clip_box, iou, xywh_to_cxcywh


def regression_targets(boxes_xywh, gt_xywh) -> np.ndarray:
    """Targets ((g_c - b_c) / b_wh, log(g_wh / b_wh)) on centres, one row per box."""
    b = xywh_to_cxcywh(np.atleast_2d(np.asarray(boxes_xywh, np.float64)))
    g = xywh_to_cxcywh(np.atleast_2d(np.asarray(gt_xywh, np.float64)))
    out = np.empty((len(b), 4))
    out[:, :2] = (g[:, :2] - b[:, :2]) / b[:, 2:]
    out[:, 2:] = np.log(g[:, 2:] / b[:, 2:])
    return out


def apply_deltas(boxes_xywh, deltas) -> np.ndarray:
    """Inverse of :func:`regression_targets`: move and resize boxes by predicted deltas."""
    b = xywh_to_cxcywh(np.atleast_2d(np.asarray(boxes_xywh, np.float64)))
    d = np.atleast_2d(np.asarray(deltas, np.float64))
    c = b[:, :2] + d[:, :2] * b[:, 2:]
    wh = b[:, 2:] * np.exp(d[:, 2:])
    return np.concatenate([c - wh / 2.0, wh], axis=1)


def _as_f64(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64)
    return torch.as_tensor(np.asarray(x), dtype=torch.float64)


class BBoxRegressor:
    """Ridge (alpha, with intercept) from RoI features to box deltas, plus the acceptance rule."""

    def __init__(
        self,
        alpha: float = 1000.0,
        accept_iou: float = 0.6,
        accept_area: tuple[float, float] = (1.0, 2.0),
    ) -> None:
        self.alpha = float(alpha)
        self.accept_iou = float(accept_iou)
        self.accept_area = (float(accept_area[0]), float(accept_area[1]))
        self.weight: torch.Tensor | None = None  # (D, 4) float64
        self.bias: torch.Tensor | None = None  # (4,) float64
        # An offline regressor (fitted across many targets) that a first-frame fit is pulled
        # towards instead of towards zero: ridge on W - W0 rather than on W.
        self.prior: tuple[torch.Tensor, torch.Tensor] | None = None

    def set_prior(self, weight, bias, use_now: bool = True) -> None:
        """Use an offline regressor as the prior of later fits (and, by default, right away)."""
        w, b = _as_f64(weight), _as_f64(bias).reshape(-1)
        if w.ndim != 2 or w.shape[1] != 4 or b.shape != (4,):
            raise ValueError(
                f"prior must be (D, 4) and (4,), got {tuple(w.shape)}, {tuple(b.shape)}"
            )
        self.prior = (w, b)
        if use_now:
            self.weight, self.bias = w.clone(), b.clone()

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run."""
        return self.weight is not None

    def fit_targets(self, features, targets) -> None:
        """Solve min |X W + b - Y|^2 + alpha |W - W0|^2 (intercept not penalised) in closed form.

        W0 is the prior (zero without one, which is reference 8's ridge).
        """
        x = _as_f64(features)
        y = _as_f64(targets)
        if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) == 0:
            raise ValueError(f"bad regression data: features {tuple(x.shape)}, y {tuple(y.shape)}")
        if self.prior is not None:
            w0, b0 = self.prior
            if w0.shape[0] != x.shape[1]:
                raise ValueError(f"prior has {w0.shape[0]} inputs, features have {x.shape[1]}")
            self._ridge(x, y - (x @ w0 + b0))
            self.weight, self.bias = self.weight + w0, self.bias + b0
            return
        self._ridge(x, y)

    def _ridge(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Centred ridge; the dual form when there are fewer samples than dimensions."""
        xm, ym = x.mean(0), y.mean(0)
        xc, yc = x - xm, y - ym
        n, d = xc.shape
        if n < d:
            k = xc @ xc.T
            k.diagonal().add_(self.alpha)
            w = xc.T @ torch.linalg.solve(k, yc)
        else:
            g = xc.T @ xc
            g.diagonal().add_(self.alpha)
            w = torch.linalg.solve(g, xc.T @ yc)
        self.weight = w
        self.bias = ym - xm @ w

    def fit(self, features, boxes_xywh, gt_xywh) -> None:
        """Fit on sample features and their boxes against the ground-truth box."""
        self.fit_targets(features, regression_targets(boxes_xywh, gt_xywh))

    def predict_deltas(self, features) -> np.ndarray:
        """Raw predicted deltas for each feature row."""
        if self.weight is None or self.bias is None:
            raise RuntimeError("BBoxRegressor.predict called before fit")
        return (_as_f64(features) @ self.weight + self.bias).numpy()

    def predict(self, features, boxes_xywh, img_wh: tuple[float, float] | None = None):
        """Regress boxes; predictions failing the acceptance rule keep the input box.

        The rule (reference 8): keep a prediction only if IoU(orig, pred) >= accept_iou and
        area(orig) / area(pred) lies in accept_area. Results are clipped to the image when
        ``img_wh`` is given.
        """
        boxes = np.atleast_2d(np.asarray(boxes_xywh, np.float64))
        pred = apply_deltas(boxes, self.predict_deltas(features))
        out = accept(boxes, pred, self.accept_iou, self.accept_area)
        if img_wh is not None:
            out = clip_box(out, img_wh[0], img_wh[1])
        return out


def accept(orig, pred, min_iou: float, area_range: tuple[float, float]) -> np.ndarray:
    """Apply the authors' acceptance rule per box: the prediction, or the input if it strays."""
    orig = np.atleast_2d(np.asarray(orig, np.float64))
    pred = np.atleast_2d(np.asarray(pred, np.float64))
    ov = iou(orig, pred)
    ar = area_ratio(orig, pred)
    ok = (ov >= min_iou) & (ar >= area_range[0]) & (ar <= area_range[1]) & np.isfinite(ar)
    return np.where(ok[:, None], pred, orig)
