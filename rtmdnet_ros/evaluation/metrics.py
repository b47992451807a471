# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""OTB one-pass metrics (reference doc section 10), on (N, 4) arrays of (x, y, w, h) boxes.

- success: fraction of frames with IoU > t for t = 0, 0.05, ..., 1 (21 values); AUC = their mean,
  so a perfect track scores 20/21 (IoU > 1 never holds), as in the OTB toolkit;
- precision: fraction of frames with centre error <= t px for t = 0..50; P@20 = the value at 20;
  centre = x + (w - 1) / 2, y + (h - 1) / 2;
- frames whose ground truth is not a valid box (NaN, w <= 0 or h <= 0: target absent) are left
  out of both; the first frame (initialised from ground truth) is counted, as OTB does;
- scale error (ours, not OTB's): median |log(area pred / area true)| over the frames where the
  box still overlaps the target (IoU > 0), and the signed median (scale bias, < 0 = too small).
  AUC mixes size and position; these isolate the size, where a shrinking box shows first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rounded so that 0.15 etc. are the nearest doubles, not 3 * 0.05 = 0.15000000000000002.
SUCCESS_THRESHOLDS = np.round(np.arange(21) * 0.05, 10)
PRECISION_THRESHOLDS = np.arange(51, dtype=np.float64)
PRECISION_AT = 20


def iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame intersection over union; 0 for empty or degenerate boxes.

    Continuous boxes [x, x + w) x [y, y + h): identical to the OTB toolkit's calcRectInt, whose
    inclusive ``x + w - 1`` right edge cancels its ``+ 1`` in the width.
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    pw, ph = np.clip(pred[:, 2], 0, None), np.clip(pred[:, 3], 0, None)
    gw, gh = np.clip(gt[:, 2], 0, None), np.clip(gt[:, 3], 0, None)
    iw = np.minimum(pred[:, 0] + pw, gt[:, 0] + gw) - np.maximum(pred[:, 0], gt[:, 0])
    ih = np.minimum(pred[:, 1] + ph, gt[:, 1] + gh) - np.maximum(pred[:, 1], gt[:, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = pw * ph + gw * gh - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(out, nan=0.0)


def centre(boxes: np.ndarray) -> np.ndarray:
    """OTB centre of (x, y, w, h) boxes: x + (w - 1) / 2, y + (h - 1) / 2."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return boxes[:, :2] + (boxes[:, 2:] - 1.0) / 2.0


def centre_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean distance in pixels between OTB centres; inf where the prediction is NaN."""
    err = np.linalg.norm(centre(pred) - centre(gt), axis=1)
    return np.nan_to_num(err, nan=np.inf)


def valid_groundtruth(gt: np.ndarray) -> np.ndarray:
    """Frames whose ground truth is a real box (the target is visible and annotated)."""
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    return np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)


def success_curve(ious: np.ndarray) -> np.ndarray:
    """Fraction of frames with IoU strictly above each threshold."""
    ious = np.asarray(ious, dtype=np.float64)
    if ious.size == 0:
        return np.zeros_like(SUCCESS_THRESHOLDS)
    return (ious[None, :] > SUCCESS_THRESHOLDS[:, None]).mean(axis=1)


def precision_curve(errors: np.ndarray) -> np.ndarray:
    """Fraction of frames with centre error at most each threshold (0..50 px)."""
    errors = np.asarray(errors, dtype=np.float64)
    if errors.size == 0:
        return np.zeros_like(PRECISION_THRESHOLDS)
    return (errors[None, :] <= PRECISION_THRESHOLDS[:, None]).mean(axis=1)


@dataclass(frozen=True)
class Score:
    """OTB scores of one tracker on one sequence (one seed)."""

    success: np.ndarray  # (21,)
    precision: np.ndarray  # (51,)
    frames: int  # frames scored (valid ground truth)
    scale_error: float = float("nan")  # median |log area ratio| over frames with IoU > 0
    scale_bias: float = float("nan")  # median signed log area ratio over the same frames

    @property
    def auc(self) -> float:
        """Area under the success curve = mean over the 21 thresholds."""
        return float(np.mean(self.success))

    @property
    def p20(self) -> float:
        """Precision at 20 px."""
        return float(self.precision[PRECISION_AT])


def score(pred: np.ndarray, gt: np.ndarray) -> Score:
    """Score predictions against ground truth (same convention, same length)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    if pred.shape != gt.shape:
        raise ValueError(f"{len(pred)} predicted boxes for {len(gt)} ground-truth boxes")
    keep = valid_groundtruth(gt)
    ious = iou(pred[keep], gt[keep])
    log_ratio = log_area_ratio(pred[keep][ious > 0], gt[keep][ious > 0])
    return Score(
        success=success_curve(ious),
        precision=precision_curve(centre_error(pred[keep], gt[keep])),
        frames=int(keep.sum()),
        scale_error=float(np.median(np.abs(log_ratio))) if log_ratio.size else float("nan"),
        scale_bias=float(np.median(log_ratio)) if log_ratio.size else float("nan"),
    )


def log_area_ratio(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """log(area pred / area true) per frame: 0 = right size, -0.69 = half the area."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log((pred[:, 2] * pred[:, 3]) / (gt[:, 2] * gt[:, 3]))


def fps(init_seconds: float, update_seconds: np.ndarray) -> tuple[float, float]:
    """Frames per second with the first (initialisation) frame and without it.

    With: all N frames over init + all updates. Without: the N - 1 tracked frames over the
    update time only, which is what a long-running node sees once the target is set.
    """
    update_seconds = np.asarray(update_seconds, dtype=np.float64)
    total = init_seconds + float(update_seconds.sum())
    n = update_seconds.size + 1
    with_first = n / total if total > 0 else float("inf")
    upd = float(update_seconds.sum())
    without_first = update_seconds.size / upd if upd > 0 else float("nan")
    return with_first, without_first
