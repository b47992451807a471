# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""RoI pooling against slow, literal transcriptions of the formulas (reference section 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rtmdnet_ros.roi_align import roi_features, roi_grid

OUT = 7


def c_round(x: float) -> float:
    """C roundf: half away from zero."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def literal_adaptive(fmap: np.ndarray, roi, scale: float) -> np.ndarray:
    """Adaptive RoIAlign, one output value at a time, exactly as the reference words it."""
    b = int(roi[0])
    x1, y1, x2, y2 = (float(v) * scale for v in roi[1:])
    _, c, hh, ww = fmap.shape
    roi_w = max(x2 - x1 + 1.0, 0.0)
    roi_h = max(y2 - y1 + 1.0, 0.0)
    bin_w, bin_h = roi_w / OUT, roi_h / OUT
    stride_w = max(1.0, c_round(bin_w))
    stride_h = max(1.0, c_round(bin_h))
    out = np.zeros((c, OUT, OUT))
    for ch in range(c):
        for ph in range(OUT):
            for pw in range(OUT):
                h = ph * bin_h + y1
                w = pw * bin_w + x1
                if h < 0 or h >= hh or w < 0 or w >= ww:
                    continue
                hs = min(math.floor(h), hh - 2)
                ws = min(math.floor(w), ww - 2)
                total = 0.0
                for dh in (0.0, stride_h):
                    for dw in (0.0, stride_w):
                        y, x = int(hs + dh), int(ws + dw)
                        if y < 0 or y >= hh or x < 0 or x >= ww:
                            continue
                        wt = (1 - abs(h - hs - dh) / stride_h) * (1 - abs(w - ws - dw) / stride_w)
                        total += wt * fmap[b, ch, y, x]
                out[ch, ph, pw] = total
    return out


def literal_align(fmap: np.ndarray, roi, scale: float) -> np.ndarray:
    """Plain RoIAlign: one bilinear sample per bin centre, Mask R-CNN border rule."""
    b = int(roi[0])
    x1, y1, x2, y2 = (float(v) * scale for v in roi[1:])
    _, c, hh, ww = fmap.shape
    bin_w = max(x2 - x1 + 1.0, 0.0) / OUT
    bin_h = max(y2 - y1 + 1.0, 0.0) / OUT
    out = np.zeros((c, OUT, OUT))
    for ph in range(OUT):
        for pw in range(OUT):
            y = y1 + (ph + 0.5) * bin_h
            x = x1 + (pw + 0.5) * bin_w
            if y < -1 or y > hh or x < -1 or x > ww:
                continue
            y = min(max(y, 0.0), hh - 1.0)
            x = min(max(x, 0.0), ww - 1.0)
            y0, x0 = math.floor(y), math.floor(x)
            y1_, x1_ = min(y0 + 1, hh - 1), min(x0 + 1, ww - 1)
            fy, fx = y - y0, x - x0
            out[:, ph, pw] = (
                (1 - fy) * (1 - fx) * fmap[b, :, y0, x0]
                + (1 - fy) * fx * fmap[b, :, y0, x1_]
                + fy * (1 - fx) * fmap[b, :, y1_, x0]
                + fy * fx * fmap[b, :, y1_, x1_]
            )
    return out


def literal_pool(fmap: np.ndarray, roi, scale: float) -> np.ndarray:
    """Fast R-CNN RoIPool: max over integer bins; empty bins 0."""
    b = int(roi[0])
    x1, y1, x2, y2 = (c_round(float(v) * scale) for v in roi[1:])
    _, c, hh, ww = fmap.shape
    bin_w = max(x2 - x1 + 1, 1) / OUT
    bin_h = max(y2 - y1 + 1, 1) / OUT
    out = np.zeros((c, OUT, OUT))
    for ph in range(OUT):
        hs = int(min(max(math.floor(ph * bin_h) + y1, 0), hh))
        he = int(min(max(math.ceil((ph + 1) * bin_h) + y1, 0), hh))
        for pw in range(OUT):
            ws = int(min(max(math.floor(pw * bin_w) + x1, 0), ww))
            we = int(min(max(math.ceil((pw + 1) * bin_w) + x1, 0), ww))
            if he <= hs or we <= ws:
                continue
            out[:, ph, pw] = fmap[b, :, hs:he, ws:we].max(axis=(1, 2))
    return out


LITERAL = {"adaptive": literal_adaptive, "align": literal_align, "pool": literal_pool}


def random_rois(gen: np.random.Generator, n: int, batch: int, size_px: float) -> np.ndarray:
    """Boxes of every kind: inside, partly outside, tiny (< 1 cell), huge, inverted, far away."""
    rows = []
    for i in range(n):
        kind = i % 6
        if kind == 0:  # ordinary
            x1, y1 = gen.uniform(0, size_px * 0.7, 2)
            w, h = gen.uniform(8, size_px * 0.5, 2)
        elif kind == 1:  # partly outside, negative corner
            x1, y1 = gen.uniform(-size_px * 0.4, size_px * 0.2, 2)
            w, h = gen.uniform(20, size_px * 0.8, 2)
        elif kind == 2:  # partly outside the far side
            x1, y1 = gen.uniform(size_px * 0.6, size_px * 1.05, 2)
            w, h = gen.uniform(20, size_px * 0.8, 2)
        elif kind == 3:  # tiny
            x1, y1 = gen.uniform(-4, size_px, 2)
            w, h = gen.uniform(0, 6, 2)
        elif kind == 4:  # huge
            x1, y1 = gen.uniform(-size_px, 0, 2)
            w, h = gen.uniform(size_px * 1.5, size_px * 3, 2)
        else:  # inverted / zero-size (x2 < x1 - 1 gives roi_w = 0)
            x1, y1 = gen.uniform(0, size_px, 2)
            w, h = gen.uniform(-30, 0, 2)
        rows.append([gen.integers(0, batch), x1, y1, x1 + w, y1 + h])
    return np.asarray(rows, dtype=np.float64)


@pytest.mark.parametrize("mode", ["adaptive", "align", "pool"])
@pytest.mark.parametrize("hw", [(23, 23), (13, 31), (2, 9)])
def test_matches_literal_formula(mode: str, hw: tuple[int, int]) -> None:
    gen = np.random.default_rng([ord(mode[0]), *hw])
    h, w = hw
    fmap = gen.standard_normal((2, 5, h, w)).astype(np.float32)
    scale = 1 / 8
    rois = random_rois(gen, 60, 2, size_px=max(h, w) * 8)
    got = roi_grid(torch.from_numpy(fmap), torch.from_numpy(rois), scale, mode).numpy()
    assert got.shape == (60, 5, OUT, OUT)
    want = np.stack([LITERAL[mode](fmap.astype(np.float64), r, scale) for r in rois])
    err = np.abs(got - want).max()
    assert err <= 1e-5, f"{mode}: max abs error {err}"
    # The random boxes must exercise both zeroed and non-zero outputs.
    assert (want == 0).any() and (want != 0).mean() > 0.05


def test_adaptive_hand_computed_small_case() -> None:
    # Map value = 10*y + x on a 4x6 map; RoI in cells (scale 1) from (0.5, 1.0) to (7.5, 2.75):
    # roi_w = 8 -> bin_w = 8/7, stride_w = round(1.14) = 1; roi_h = 2.75 -> bin_h 0.393, stride 1.
    fmap = (10 * torch.arange(4.0)[:, None] + torch.arange(6.0)[None, :])[None, None]
    rois = torch.tensor([[0.0, 0.5, 1.0, 7.5, 2.75]])
    grid = roi_grid(fmap, rois, 1.0, "adaptive")[0, 0]
    # Cell (0, 0): sample (h=1, w=0.5): plain bilinear on a linear map -> 10*1 + 0.5.
    assert grid[0, 0].item() == pytest.approx(10.5, abs=1e-6)
    # Cell (0, 4): w = 0.5 + 4*8/7 = 5.071 < W = 6 but ws = min(5, W-2) = 4: taps x=4 (weight
    # 1 - 1.071 < 0) and x=5; y taps: y=1 (weight 1), y=2 (weight 0). Weights are not renormalised,
    # so value = sum_x wx * (10*1 + x).
    w = 0.5 + 4 * 8 / 7
    wx = (1 - (w - 4), 1 - abs(w - 5))
    assert grid[0, 4].item() == pytest.approx(wx[0] * 14 + wx[1] * 15, abs=1e-5)
    # Cell (0, 5): w = 6.21 >= 6 -> outside the map -> 0.
    assert grid[0, 5].item() == 0.0
    # Row 6: h = 1 + 6*2.75/7 = 3.357: hs = min(3, 2) = 2, taps y=2 (weight 1-1.357 < 0), y=3;
    # column 0 (w = 0.5): taps x=0, x=1 with 0.5 each.
    h = 1 + 6 * 2.75 / 7
    wy = (1 - (h - 2), 1 - abs(h - 3))
    want = sum(wyi * 0.5 * (10 * y + x) for wyi, y in zip(wy, (2, 3), strict=True) for x in (0, 1))
    assert grid[6, 0].item() == pytest.approx(want, abs=1e-5)


def test_adaptive_tap_spacing_follows_bin_size() -> None:
    # Only columns x=4 (value 1) and x=7 (value 10) are non-zero. A 21-cell-wide RoI has bin 3,
    # so taps are floor(x) and floor(x) + 3.
    fmap = torch.zeros(1, 1, 4, 30)
    fmap[0, 0, :, 4] = 1.0
    fmap[0, 0, :, 7] = 10.0
    rois = torch.tensor([[0.0, 4.0, 0.0, 24.0, 3.0], [0.0, 4.5, 0.0, 24.5, 3.0]])
    grid = roi_grid(fmap, rois, 1.0, "adaptive")
    assert grid[0, 0, 0, 0].item() == pytest.approx(1.0)  # x=4: taps 4 (w 1) and 7 (w 0)
    assert grid[0, 0, 0, 1].item() == pytest.approx(10.0)  # x=7: taps 7 (w 1) and 10 (w 0)
    # x=4.5: taps 4 (w 1 - 0.5/3) and 7 (w 1 - 2.5/3).
    assert grid[1, 0, 0, 0].item() == pytest.approx(1.0 * (5 / 6) + 10.0 * (1 / 6), abs=1e-6)
    # Plain RoIAlign (spacing 1) sampling the same x=4.5 (bin centre of a RoI starting at 3)
    # reads x=4 and x=5 only.
    plain = roi_grid(fmap, torch.tensor([[0.0, 3.0, 0.0, 23.0, 3.0]]), 1.0, "align")
    assert plain[0, 0, 0, 0].item() == pytest.approx(0.5)


def test_spatial_scale_equals_prescaled_rois() -> None:
    gen = torch.Generator().manual_seed(3)
    fmap = torch.randn(1, 4, 20, 20, generator=gen)
    rois_px = torch.tensor([[0.0, 13.0, 21.0, 97.0, 120.0], [0.0, -30.0, 5.0, 60.0, 200.0]])
    rois_cells = rois_px.clone()
    rois_cells[:, 1:] /= 8
    a = roi_grid(fmap, rois_px, 1 / 8)
    b = roi_grid(fmap, rois_cells, 1.0)
    assert torch.allclose(a, b, atol=1e-6)


def test_features_are_3x3_max_of_grid_channel_major() -> None:
    gen = torch.Generator().manual_seed(4)
    fmap = torch.randn(1, 6, 15, 15, generator=gen)
    rois = torch.tensor([[0.0, 10.0, 12.0, 90.0, 70.0]])
    feats = roi_features(fmap, rois, 1 / 8)
    assert feats.shape == (1, 6 * 9)
    grid = roi_grid(fmap, rois, 1 / 8)[0]
    # Channel 2, pooled cell (1, 2) = max over grid rows 2..4, cols 4..6.
    assert feats[0, 2 * 9 + 1 * 3 + 2].item() == pytest.approx(grid[2, 2:5, 4:7].max().item())
    assert torch.equal(feats, F.max_pool2d(grid[None], 3, 2).reshape(1, -1))


def test_gradient_flows_to_feature_map_and_empty_rois() -> None:
    fmap = torch.randn(1, 3, 10, 10, requires_grad=True)
    rois = torch.tensor([[0.0, 8.0, 8.0, 60.0, 50.0]])
    roi_features(fmap, rois, 1 / 8).sum().backward()
    assert fmap.grad is not None and fmap.grad.abs().sum() > 0
    empty = roi_features(fmap.detach(), torch.zeros(0, 5), 1 / 8)
    assert empty.shape == (0, 27)


def test_bad_input_is_refused() -> None:
    fmap = torch.zeros(1, 2, 5, 5)
    with pytest.raises(ValueError, match="rois"):
        roi_grid(fmap, torch.zeros(3, 4))
    with pytest.raises(ValueError, match="batch index"):
        roi_grid(fmap, torch.tensor([[1.0, 0, 0, 3, 3]]))
    with pytest.raises(ValueError, match="mode"):
        roi_grid(fmap, torch.tensor([[0.0, 0, 0, 3, 3]]), mode="bogus")  # type: ignore[arg-type]
