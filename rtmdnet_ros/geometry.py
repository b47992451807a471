# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Box conventions and the mapping from image boxes to RoIs in the crop (reference 3).

Boxes are continuous: ``(x, y, w, h)`` covers ``[x, x + w) x [y, y + h)``, so ``x2 = x + w`` and
the centre is ``x + w / 2``. Every function accepts one box ``(4,)`` or many ``(N, 4)`` and keeps
that shape, so callers never reshape by hand.
"""

from __future__ import annotations

import numpy as np


def _as_boxes(boxes) -> tuple[np.ndarray, bool]:
    arr = np.asarray(boxes, dtype=np.float64)
    single = arr.ndim == 1
    if arr.shape[-1] != 4:
        raise ValueError(f"boxes must have 4 values in the last axis, got shape {arr.shape}")
    return np.atleast_2d(arr), single


def _ret(arr: np.ndarray, single: bool) -> np.ndarray:
    return arr[0] if single else arr


def xywh_to_x1y1x2y2(boxes) -> np.ndarray:
    """Top-left/size to corners."""
    b, single = _as_boxes(boxes)
    out = b.copy()
    out[:, 2:] = b[:, :2] + b[:, 2:]
    return _ret(out, single)


def x1y1x2y2_to_xywh(boxes) -> np.ndarray:
    """Corners to top-left/size."""
    b, single = _as_boxes(boxes)
    out = b.copy()
    out[:, 2:] = b[:, 2:] - b[:, :2]
    return _ret(out, single)


def xywh_to_cxcywh(boxes) -> np.ndarray:
    """Top-left/size to centre/size (the generators work on centres)."""
    b, single = _as_boxes(boxes)
    out = b.copy()
    out[:, :2] = b[:, :2] + b[:, 2:] / 2.0
    return _ret(out, single)


def cxcywh_to_xywh(boxes) -> np.ndarray:
    """Centre/size to top-left/size."""
    b, single = _as_boxes(boxes)
    out = b.copy()
    out[:, :2] = b[:, :2] - b[:, 2:] / 2.0
    return _ret(out, single)


def iou(boxes_a, boxes_b) -> np.ndarray:
    """Intersection over union of xywh boxes, broadcast between (N,4)/(4,) and (N,4)/(4,).

    Returns a scalar array for two single boxes, else a length-N vector. Empty boxes give 0.
    """
    a = np.asarray(boxes_a, dtype=np.float64)
    b = np.asarray(boxes_b, dtype=np.float64)
    ax2, ay2 = a[..., 0] + a[..., 2], a[..., 1] + a[..., 3]
    bx2, by2 = b[..., 0] + b[..., 2], b[..., 1] + b[..., 3]
    iw = np.clip(np.minimum(ax2, bx2) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    ih = np.clip(np.minimum(ay2, by2) - np.maximum(a[..., 1], b[..., 1]), 0.0, None)
    inter = iw * ih
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def area_ratio(boxes_a, boxes_b) -> np.ndarray:
    """area(a) / area(b), broadcast like :func:`iou` (inf when b is empty)."""
    a = np.asarray(boxes_a, dtype=np.float64)
    b = np.asarray(boxes_b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a[..., 2] * a[..., 3]) / (b[..., 2] * b[..., 3])


def clip_box(boxes, img_w: float, img_h: float) -> np.ndarray:
    """Intersect xywh boxes with the image ``[0, W] x [0, H]`` (may give zero size)."""
    b, single = _as_boxes(boxes)
    c = xywh_to_x1y1x2y2(b)
    c[:, [0, 2]] = np.clip(c[:, [0, 2]], 0.0, float(img_w))
    c[:, [1, 3]] = np.clip(c[:, [1, 3]], 0.0, float(img_h))
    return _ret(x1y1x2y2_to_xywh(c), single)


def pad_boxes(boxes, padding: float) -> np.ndarray:
    """Enlarge xywh boxes about their centre by ``padding`` (1.2 adds 0.1*w on each side)."""
    b, single = _as_boxes(boxes)
    out = b.copy()
    margin = b[:, 2:] * (padding - 1.0) / 2.0
    out[:, :2] -= margin
    out[:, 2:] += 2.0 * margin
    return _ret(out, single)


def scene_box(samples, padding: float) -> np.ndarray:
    """Return the crop region of reference 3: the union of the samples, each padded."""
    c = xywh_to_x1y1x2y2(pad_boxes(np.atleast_2d(samples), padding))
    x1, y1 = c[:, 0].min(), c[:, 1].min()
    x2, y2 = c[:, 2].max(), c[:, 3].max()
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float64)


def crop_size(scene_wh, target_wh, img_size: float, scale: float = 1.0) -> tuple[int, int]:
    """Output size of a scene crop: int(scene_wh * img_size / target_wh) per axis, times scale.

    The jitter scale multiplies after the integer cut, as in the authors' code; the result is
    floored again so the crop has whole pixels, and never below 2 so the sampling step
    ``(box_w + 1) / (out_w - 1)`` is defined.
    """
    s = np.asarray(scene_wh, np.float64)
    t = np.asarray(target_wh, np.float64)
    base = np.floor(s * img_size / t)
    out = np.maximum(np.floor(base * scale), 2).astype(int)
    return int(out[0]), int(out[1])


def samples_to_rois(
    samples,
    scene_xy,
    target_wh,
    img_size: float,
    padding: float,
    rf_offset: float,
) -> np.ndarray:
    """Map xywh sample boxes (image px) to RoIs ``x1, y1, x2, y2`` in crop px (reference 3).

    The scale ``r = img_size / target_wh`` is per axis (anisotropic). The far edge loses the
    receptive field ``rf_offset`` so that the RoI covers the conv units whose field starts inside
    the box; it stays at least 1 px right of x1 so tiny boxes still get a valid RoI.
    ``img_size`` is 107 times the jitter scale for the scaled first-frame crops.
    """
    b = np.atleast_2d(np.asarray(samples, dtype=np.float64)).copy()
    b[:, :2] -= np.asarray(scene_xy, dtype=np.float64)[None, :]
    c = xywh_to_x1y1x2y2(pad_boxes(b, padding))
    r = img_size / np.asarray(target_wh, dtype=np.float64)
    rois = np.empty_like(c)
    rois[:, 0] = c[:, 0] * r[0]
    rois[:, 1] = c[:, 1] * r[1]
    rois[:, 2] = np.maximum(rois[:, 0] + 1.0, c[:, 2] * r[0] - rf_offset)
    rois[:, 3] = np.maximum(rois[:, 1] + 1.0, c[:, 3] * r[1] - rf_offset)
    return rois


def validate_box(box, img_w: int, img_h: int) -> np.ndarray:
    """Check a user box and clip it to the image; raise ValueError with the reason.

    Partly-outside boxes are clipped and accepted (a target entering the frame is normal);
    a box that is empty, not finite, or entirely outside is refused since nothing can be learnt.
    """
    try:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"box must be 4 numbers (x, y, w, h), got {box!r}") from exc
    if b.shape != (4,):
        raise ValueError(f"box must be 4 numbers (x, y, w, h), got {b.size} values")
    if not np.all(np.isfinite(b)):
        raise ValueError(f"box must be finite, got {b.tolist()}")
    if b[2] <= 0 or b[3] <= 0:
        raise ValueError(f"box width and height must be positive, got {b.tolist()}")
    clipped = clip_box(b, img_w, img_h)
    if clipped[2] <= 0 or clipped[3] <= 0:
        raise ValueError(f"box {b.tolist()} lies entirely outside the {img_w}x{img_h} image")
    return clipped


def fraction_inside(boxes, region_xywh) -> np.ndarray:
    """Share of each xywh box's area that lies inside ``region_xywh`` (0 for empty boxes)."""
    b = np.atleast_2d(np.asarray(boxes, dtype=np.float64))
    r = np.asarray(region_xywh, dtype=np.float64)
    iw = np.clip(np.minimum(b[:, 0] + b[:, 2], r[0] + r[2]) - np.maximum(b[:, 0], r[0]), 0, None)
    ih = np.clip(np.minimum(b[:, 1] + b[:, 3], r[1] + r[3]) - np.maximum(b[:, 1], r[1]), 0, None)
    area = b[:, 2] * b[:, 3]
    return np.where(area > 0, iw * ih / np.where(area > 0, area, 1.0), 0.0)


def covering_tiles(img_wh: tuple[int, int], reach: np.ndarray, last_centre: np.ndarray
                   ) -> np.ndarray:
    """Centres of tiles (half-size ``reach`` per axis) covering the image, nearest first.

    The recovery sweep and the composite's re-detection both visit a frame this way: the
    target most often reappears near where it was last seen.
    """
    axes = []
    for size, half in zip(img_wh, reach, strict=True):
        count = max(1, int(np.ceil(size / (2.0 * half))))
        axes.append((np.arange(count) + 0.5) * size / count)
    grid = np.stack(np.meshgrid(axes[0], axes[1]), axis=-1).reshape(-1, 2)
    order = np.argsort(np.hypot(*(grid - last_centre).T), kind="stable")
    return grid[order]
