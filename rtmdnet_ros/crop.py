# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Scene crops (reference 3): bilinear resampling with zeros outside the image.

Output pixel ``j`` samples the image at ``x1 + j * (box_w + 1) / (out_w - 1)`` (same for rows).
The image is treated as zero outside its pixels and interpolated bilinearly over that extension,
so a crop reaching past the border fades to 0 (= -128 after the network's mean subtraction).
The interpolation is separable and done as two gathers, which is exact in float32 (OpenCV's
remap quantises positions to 1/32 px) and fast enough for the ~300 px crops the tracker uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _axis_taps(start: float, box_len: float, out_len: int, size: int):
    """Return indices and weights of the two taps per output position along one axis."""
    step = (box_len + 1.0) / (out_len - 1.0)
    pos = start + np.arange(out_len, dtype=np.float64) * step
    i0 = np.floor(pos)
    f = pos - i0
    i0 = i0.astype(np.int64)
    i1 = i0 + 1
    w0 = np.where((i0 >= 0) & (i0 < size), 1.0 - f, 0.0).astype(np.float32)
    w1 = np.where((i1 >= 0) & (i1 < size), f, 0.0).astype(np.float32)
    return np.clip(i0, 0, size - 1), np.clip(i1, 0, size - 1), w0, w1


def crop_scene(image: np.ndarray, box_xywh, out_wh: tuple[int, int]) -> np.ndarray:
    """Resample ``box_xywh`` of an HxWxC image to ``out_wh`` = (out_w, out_h), float32 HxWxC."""
    out_w, out_h = int(out_wh[0]), int(out_wh[1])
    if out_w < 2 or out_h < 2:
        raise ValueError(f"crop output must be at least 2x2, got {out_w}x{out_h}")
    h, w = image.shape[:2]
    x, y, bw, bh = (float(v) for v in box_xywh)
    ya, yb, wya, wyb = _axis_taps(y, bh, out_h, h)
    xa, xb, wxa, wxb = _axis_taps(x, bw, out_w, w)
    # Only the columns that are actually sampled take part in the row pass.
    c0 = int(min(xa.min(), xb.min()))
    c1 = int(max(xa.max(), xb.max())) + 1
    src = image[:, c0:c1].astype(np.float32, copy=False)
    rows = src[ya] * wya[:, None, None] + src[yb] * wyb[:, None, None]
    xa, xb = xa - c0, xb - c0
    return rows[:, xa] * wxa[None, :, None] + rows[:, xb] * wxb[None, :, None]


def crop_scene_literal(image: np.ndarray, box_xywh, out_wh: tuple[int, int]) -> np.ndarray:
    """Pixel-by-pixel version of :func:`crop_scene`, for tests only (slow)."""
    out_w, out_h = int(out_wh[0]), int(out_wh[1])
    h, w = image.shape[:2]
    x, y, bw, bh = (float(v) for v in box_xywh)
    img = image.astype(np.float64)

    def pix(r: int, c: int) -> np.ndarray:
        if 0 <= r < h and 0 <= c < w:
            return img[r, c]
        return np.zeros(img.shape[2])

    out = np.zeros((out_h, out_w, img.shape[2]))
    for i in range(out_h):
        sy = y + i * (bh + 1.0) / (out_h - 1.0)
        for j in range(out_w):
            sx = x + j * (bw + 1.0) / (out_w - 1.0)
            r0, c0 = int(np.floor(sy)), int(np.floor(sx))
            fy, fx = sy - r0, sx - c0
            out[i, j] = (
                pix(r0, c0) * (1 - fy) * (1 - fx)
                + pix(r0, c0 + 1) * (1 - fy) * fx
                + pix(r0 + 1, c0) * fy * (1 - fx)
                + pix(r0 + 1, c0 + 1) * fy * fx
            )
    return out


def to_tensor(crops: Sequence[np.ndarray] | np.ndarray, device: torch.device | str = "cpu"):
    """Stack HxWx3 float crops (same size) into a float32 NCHW tensor on ``device``."""
    arr = np.stack(list(crops), axis=0) if not isinstance(crops, np.ndarray) else crops
    if arr.ndim == 3:
        arr = arr[None]
    t = torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2), dtype=np.float32))
    return t.to(device)


def jitter_scene_boxes(scene_xywh, jitter) -> list[tuple[np.ndarray, float]]:
    """First-frame jitter (reference 3): shifted scene boxes, each with its output scale.

    A shift moves the scene box's corner by (dx, dy) px; a scale keeps the scene box and renders
    it ``scale`` times larger, so the same samples are seen at another resolution.
    """
    base = np.asarray(scene_xywh, dtype=np.float64)
    out = []
    for dx, dy, scale in jitter:
        b = base.copy()
        b[0] += dx
        b[1] += dy
        out.append((b, float(scale)))
    return out
