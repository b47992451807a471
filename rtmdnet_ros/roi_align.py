# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""RoI feature extraction from one shared feature map: adaptive RoIAlign, RoIAlign, RoIPool.

The authors shipped adaptive RoIAlign as a custom CUDA extension that users could not build and
that had no CPU path. Here every mode is plain, gather-based PyTorch, so the same code runs on CPU
and CUDA and is differentiable with respect to the feature map.

RoIs are ``(N, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` in *input (crop) pixels*; they are
multiplied by ``spatial_scale`` (1 / backbone stride) inside, as in reference section 2. Pass
``spatial_scale=1`` to give them in feature-map cells directly. Coordinates are handled in float64
so that floor/round decisions do not depend on the feature dtype or device.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from .options import ROI_MODES

RoiMode = Literal["adaptive", "align", "pool"]  # ROI_MODES as a type (a Literal must be literal)
OUTPUT_SIZE = 7  # RoI grid before the 3x3/2 max pool (reference section 2)


def _round_half_away(x: torch.Tensor) -> torch.Tensor:
    """Round half away from zero (C ``roundf``, the reference's round); torch rounds to even."""
    return torch.sign(x) * torch.floor(torch.abs(x) + 0.5)


def _scaled_rois(rois: torch.Tensor, spatial_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    if rois.ndim != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (N, 5) [batch, x1, y1, x2, y2], got {tuple(rois.shape)}")
    r = rois.detach().to(torch.float64)
    return r[:, 0].long(), r[:, 1:] * spatial_scale


def _adaptive_axis(
    start: torch.Tensor, end: torch.Tensor, size: int, out: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tap indices and weights along one axis for adaptive RoIAlign; both (N, out, 2).

    Sample p sits on the bin corner start + p * bin. Its two taps are hs and hs + step with
    hs = min(floor(pos), size - 2) and step = max(1, round(bin)), weighted
    1 - |pos - tap| / step. Samples outside [0, size) and taps outside the map weigh 0; the
    remaining weights are not renormalised (reference section 2).
    """
    length = torch.clamp(end - start + 1.0, min=0.0)
    bin_size = length / out
    step = torch.clamp(_round_half_away(bin_size), min=1.0)  # (N,)
    p = torch.arange(out, dtype=torch.float64, device=start.device)
    pos = start[:, None] + p[None, :] * bin_size[:, None]  # (N, out)
    inside = (pos >= 0) & (pos < size)
    base = torch.clamp(torch.floor(pos), max=float(size - 2))
    offsets = torch.stack([torch.zeros_like(step), step], dim=-1)  # (N, 2)
    taps = base[:, :, None] + offsets[:, None, :]  # (N, out, 2)
    weight = 1.0 - torch.abs(pos[:, :, None] - taps) / step[:, None, None]
    valid = inside[:, :, None] & (taps >= 0) & (taps < size)
    weight = torch.where(valid, weight, torch.zeros_like(weight))
    taps = torch.where(valid, taps, torch.zeros_like(taps))
    return taps.long(), weight


def _align_axis(
    start: torch.Tensor, end: torch.Tensor, size: int, out: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tap indices and weights for plain RoIAlign: one bilinear sample at each bin centre.

    Same RoI extent as the adaptive mode (x2' - x1' + 1) so the ablation changes only the
    sampling. Border rule as in Mask R-CNN: a sample beyond [-1, size] is 0, otherwise it is
    clamped into [0, size - 1] and interpolated between its two neighbours (tap spacing 1).
    """
    length = torch.clamp(end - start + 1.0, min=0.0)
    bin_size = length / out
    p = torch.arange(out, dtype=torch.float64, device=start.device)
    pos = start[:, None] + (p[None, :] + 0.5) * bin_size[:, None]
    inside = (pos >= -1.0) & (pos <= size)
    pos = torch.clamp(pos, 0.0, float(size - 1))
    low = torch.floor(pos)
    high = torch.clamp(low + 1.0, max=float(size - 1))
    frac = pos - low
    taps = torch.stack([low, high], dim=-1)
    weight = torch.stack([1.0 - frac, frac], dim=-1)
    weight = torch.where(inside[:, :, None], weight, torch.zeros_like(weight))
    return taps.long(), weight


def _bilinear_gather(
    fmap: torch.Tensor,
    batch: torch.Tensor,
    ty: torch.Tensor,
    wy: torch.Tensor,
    tx: torch.Tensor,
    wx: torch.Tensor,
) -> torch.Tensor:
    """Sum of 2x2 weighted taps per output cell, by one gather; returns (N, C, out, out)."""
    b, c, h, w = fmap.shape
    n, out = ty.shape[0], ty.shape[1]
    # Channel-last rows (a free view when fmap is channels_last); embedding_bag then gathers the
    # 4 taps of every cell and sums them with their weights in one fused op: measured 10-15x
    # faster on CPU than index_select + a weighted sum, and differentiable w.r.t. the map.
    rows = fmap.permute(0, 2, 3, 1).reshape(b * h * w, c)
    index = (
        batch[:, None, None, None, None] * (h * w)
        + ty[:, :, None, :, None] * w
        + tx[:, None, :, None, :]
    )  # (N, out, out, 2, 2)
    weight = (wy[:, :, None, :, None] * wx[:, None, :, None, :]).to(fmap.dtype)
    cells = F.embedding_bag(
        index.reshape(n * out * out, 4), rows, per_sample_weights=weight.reshape(-1, 4), mode="sum"
    )
    return cells.view(n, out, out, c).permute(0, 3, 1, 2)


def _floor_log2(length: torch.Tensor, levels: int) -> torch.Tensor:
    """floor(log2(length)) for integer lengths >= 1, by counting powers of two (exact)."""
    k = torch.zeros_like(length, dtype=torch.long)
    for j in range(1, levels):
        k += (length >= 2**j).long()
    return k


def _max_table(fmap: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """2-D sparse table: level (k, l) holds the max over 2^k x 2^l blocks, channel-last rows.

    Any rectangle of the map is the union of four (overlapping) such blocks, so RoIPool becomes
    a fixed 4-row gather per bin instead of a loop over variable-size windows.
    """
    b, c, h, w = fmap.shape
    ky = max(1, h.bit_length())
    kx = max(1, w.bit_length())
    neg = torch.finfo(fmap.dtype).min
    base = fmap.permute(0, 2, 3, 1)  # (B, H, W, C)
    col_levels = [base]
    for k in range(1, ky):
        prev, half = col_levels[-1], 2 ** (k - 1)
        shifted = F.pad(prev[:, half:], (0, 0, 0, 0, 0, half), value=neg)
        col_levels.append(torch.maximum(prev, shifted))
    table = []
    for level in col_levels:
        row = [level]
        for k in range(1, kx):
            prev, half = row[-1], 2 ** (k - 1)
            shifted = F.pad(prev[:, :, half:], (0, 0, 0, half), value=neg)
            row.append(torch.maximum(prev, shifted))
        table.append(torch.stack(row))
    return torch.stack(table).reshape(-1, c), ky, kx  # rows indexed (ky, kx, B, H, W)


def _roi_pool(
    fmap: torch.Tensor, batch: torch.Tensor, box: torch.Tensor, out: int
) -> torch.Tensor:
    """Fast R-CNN RoIPool: max over integer bins, empty bins give 0; returns (N, C, out, out).

    RoI corners are rounded to cells; roi_w = max(x2 - x1 + 1, 1); bin q spans
    [floor(q * bin) + x1, ceil((q + 1) * bin) + x1) clipped to the map.
    """
    b, c, h, w = fmap.shape
    n = box.shape[0]
    x1, y1, x2, y2 = (_round_half_away(box[:, i]) for i in range(4))
    p = torch.arange(out, dtype=torch.float64, device=fmap.device)

    def bins(start: torch.Tensor, stop: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
        bin_size = torch.clamp(stop - start + 1.0, min=1.0) / out
        lo = torch.clamp(torch.floor(p[None] * bin_size[:, None]) + start[:, None], 0, size)
        hi = torch.clamp(torch.ceil((p[None] + 1) * bin_size[:, None]) + start[:, None], 0, size)
        return lo.long(), hi.long()

    table, ky, kx = _max_table(fmap)
    ylo, yhi = bins(y1, y2, h)  # (N, out)
    xlo, xhi = bins(x1, x2, w)
    ylen = torch.clamp(yhi - ylo, min=1)
    xlen = torch.clamp(xhi - xlo, min=1)
    ly = _floor_log2(ylen, ky)
    lx = _floor_log2(xlen, kx)
    ys = torch.stack([ylo, ylo + ylen - 2**ly], dim=-1)  # (N, out, 2) block starts
    xs = torch.stack([xlo, xlo + xlen - 2**lx], dim=-1)
    level = (ly[:, :, None] * kx + lx[:, None, :]) * b + batch[:, None, None]  # (N, out, out)
    index = (
        level[:, :, :, None, None] * (h * w)
        + ys[:, :, None, :, None] * w
        + xs[:, None, :, None, :]
    )  # (N, out, out, 2, 2)
    cells = F.embedding_bag(index.reshape(n * out * out, 4), table, mode="max")
    cells = cells.view(n, out, out, c)
    empty = (yhi <= ylo)[:, :, None] | (xhi <= xlo)[:, None, :]
    cells = cells.masked_fill(empty[..., None], 0.0)
    return cells.permute(0, 3, 1, 2)


def roi_grid(
    fmap: torch.Tensor,
    rois: torch.Tensor,
    spatial_scale: float = 1.0,
    mode: RoiMode = "adaptive",
    output_size: int = OUTPUT_SIZE,
) -> torch.Tensor:
    """Pool every RoI to an (output_size x output_size) grid; returns (N, C, out, out)."""
    if fmap.ndim != 4:
        raise ValueError(f"feature map must be (B, C, H, W), got {tuple(fmap.shape)}")
    batch, box = _scaled_rois(rois.to(fmap.device), spatial_scale)
    h, w = fmap.shape[2], fmap.shape[3]
    if box.shape[0] == 0:
        return fmap.new_zeros((0, fmap.shape[1], output_size, output_size))
    if batch.min() < 0 or batch.max() >= fmap.shape[0]:
        raise ValueError(f"RoI batch index out of range for a batch of {fmap.shape[0]}")
    if mode == "pool":
        return _roi_pool(fmap, batch, box, output_size)
    if mode == "adaptive":
        axis = _adaptive_axis
    elif mode == "align":
        axis = _align_axis
    else:
        raise ValueError(f"unknown RoI mode {mode!r}; use one of {ROI_MODES}")
    tx, wx = axis(box[:, 0], box[:, 2], w, output_size)
    ty, wy = axis(box[:, 1], box[:, 3], h, output_size)
    return _bilinear_gather(fmap, batch, ty, wy, tx, wx)


def roi_features(
    fmap: torch.Tensor,
    rois: torch.Tensor,
    spatial_scale: float = 1.0,
    mode: RoiMode = "adaptive",
) -> torch.Tensor:
    """RoI grid 7x7 -> max_pool2d(3, stride 2) -> 3x3 -> flattened (N, C * 9), as fc4 expects."""
    grid = roi_grid(fmap, rois, spatial_scale, mode)
    pooled = F.max_pool2d(grid, kernel_size=3, stride=2)
    return pooled.reshape(pooled.shape[0], pooled.shape[1] * 9)
