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

Long-term scores (VOT-LT's, with the tracker's own presence decision instead of a confidence
sweep), for footage where the target leaves the view; frame 0 (the initialisation) is not scored:
- tracking precision: mean IoU over the frames the tracker reports the target present, a claim
  on a frame where the target is absent scoring 0; recall: mean IoU over the frames where the
  target is present, 0 where the tracker reports nothing; F: their harmonic mean;
- LOST on absent frames: the share of absent frames the tracker reports as absent;
- per absent stretch (a maximal run of absent frames): how many frames it took to say LOST, and
  whether it re-locked (claimed the target after saying LOST there, or never said LOST there);
- per return (the first present frame after a stretch): frames until the tracker reports the
  target with IoU >= 0.5, or never (before the next stretch or the end).
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


REACQUIRE_IOU = 0.5  # a return counts as re-acquired from the first reported frame with this IoU


@dataclass(frozen=True)
class Stretch:
    """One maximal run of absent frames and what the tracker said during it and after it."""

    start: int  # first absent frame
    length: int
    frames_to_lost: int | None  # frames from ``start`` to the first LOST; None = never LOST
    relocked: bool  # claimed the target after saying LOST here, or never said LOST here
    returns: bool  # the target is present again after it (the sequence does not end absent)
    frames_to_reacquire: int | None  # from the return frame (0 = on it); None = never


@dataclass(frozen=True)
class LongTermScore:
    """Long-term scores of one tracker on one sequence (one seed); rules: module docstring."""

    iou_reported: float  # sum of IoU over reported frames (0 on absent ones)
    reported: int  # frames reported present
    present: int  # frames where the target is present
    absent: int  # frames where it is absent
    lost_on_absent: int  # absent frames reported absent
    stretches: tuple[Stretch, ...]

    @property
    def precision(self) -> float:
        """Mean IoU over reported frames; NaN when the tracker never reports the target."""
        return self.iou_reported / self.reported if self.reported else float("nan")

    @property
    def recall(self) -> float:
        """Mean IoU over present frames (the IoU of a frame reported absent counts 0)."""
        return self.iou_reported / self.present if self.present else float("nan")

    @property
    def f(self) -> float:
        """Harmonic mean of precision and recall."""
        return f_measure(self.precision, self.recall)

    @property
    def lost_share(self) -> float:
        """Share of absent frames reported absent; NaN without absent frames."""
        return self.lost_on_absent / self.absent if self.absent else float("nan")


def f_measure(precision: float, recall: float) -> float:
    """Harmonic mean; 0 when recall is 0 (a tracker that reports nothing finds nothing)."""
    if recall == 0:
        return 0.0
    if not (np.isfinite(precision) and np.isfinite(recall)):
        return float("nan")
    if precision + recall <= 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def presence_from_scores(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Present where the score reaches ``threshold``; a frame without a score is absent."""
    scores = np.asarray(scores, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(scores) & (scores >= threshold)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end exclusive) of each maximal run of True in ``mask``."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def long_term_score(pred: np.ndarray, gt: np.ndarray, reported: np.ndarray) -> LongTermScore:
    """Score one run: boxes, ground truth (invalid = absent) and the per-frame presence claim."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    reported = np.asarray(reported, dtype=bool).reshape(-1)
    if not (len(pred) == len(gt) == len(reported)):
        raise ValueError(
            f"{len(pred)} boxes, {len(gt)} ground-truth boxes, {len(reported)} presence flags"
        )
    present = valid_groundtruth(gt)
    ious = np.where(present, iou(pred, gt), 0.0)
    # frame 0 is the initialisation from ground truth: nothing to score
    ious, present, claims = ious[1:], present[1:], reported[1:]
    stretches = []
    for start, end in _runs(~present):
        said = claims[start:end]
        lost_at = np.flatnonzero(~said)
        first_lost = int(lost_at[0]) if lost_at.size else None
        relocked = first_lost is None or bool(said[first_lost:].any())
        reacquire = None
        if end < len(present):
            nxt = _runs(~present[end:])
            stop = end + nxt[0][0] if nxt else len(present)
            hit = np.flatnonzero(claims[end:stop] & (ious[end:stop] >= REACQUIRE_IOU))
            reacquire = int(hit[0]) if hit.size else None
        stretches.append(
            Stretch(
                start=start + 1,  # in the sequence's own frame numbering (0 = init)
                length=end - start,
                frames_to_lost=first_lost,
                relocked=relocked,
                returns=end < len(present),
                frames_to_reacquire=reacquire,
            )
        )
    return LongTermScore(
        iou_reported=float(ious[claims].sum()),
        reported=int(claims.sum()),
        present=int(present.sum()),
        absent=int((~present).sum()),
        lost_on_absent=int((~present & ~claims).sum()),
        stretches=tuple(stretches),
    )


def threshold_sweep(
    runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]], thresholds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean precision and recall over runs for presence = score >= t, at every threshold t.

    ``runs``: (boxes, ground truth, scores) per run. Thresholds default to every distinct score,
    where the curves change. Precision is the mean over the runs that report anything at t (NaN
    where none does), recall the mean over all runs: the aggregation of ``long_term_score``.
    Returns (thresholds, precision, recall).
    """
    prepared = []
    for pred, gt, scores in runs:
        pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)[1:]
        gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)[1:]
        s = np.asarray(scores, dtype=np.float64)[1:]
        present = valid_groundtruth(gt)
        ious = np.where(present, iou(pred, gt), 0.0)
        keep = np.isfinite(s)
        order = np.argsort(-s[keep], kind="stable")
        sorted_scores = s[keep][order]
        cum_iou = np.concatenate(([0.0], np.cumsum(ious[keep][order])))
        prepared.append((sorted_scores, cum_iou, int(present.sum())))
    if thresholds is None:
        pooled = [p[0] for p in prepared]
        thresholds = np.unique(np.concatenate(pooled)) if pooled else np.zeros(0)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    precision = np.zeros((len(prepared), thresholds.size))
    recall = np.zeros_like(precision)
    for k, (sorted_scores, cum_iou, n_present) in enumerate(prepared):
        # frames with score >= t: a prefix of the descending order
        count = np.searchsorted(-sorted_scores, -thresholds, side="right")
        total = cum_iou[count]
        with np.errstate(invalid="ignore", divide="ignore"):
            precision[k] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            recall[k] = total / n_present if n_present else np.nan
    return thresholds, nanmean_rows(precision), nanmean_rows(recall)


def nanmean_rows(values: np.ndarray) -> np.ndarray:
    """Column means over the finite entries; NaN for a column without any (no warning)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def best_threshold(
    runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[float, float, float, float]:
    """Return the threshold with the best F over ``runs``: (threshold, F, precision, recall).

    An oracle: it is chosen on the very data it is scored on.
    """
    thresholds, precision, recall = threshold_sweep(runs)
    if thresholds.size == 0:
        return float("nan"), 0.0, float("nan"), 0.0
    f = np.array([f_measure(p, r) for p, r in zip(precision, recall, strict=True)])
    f = np.nan_to_num(f, nan=0.0)
    k = int(np.argmax(f))
    return float(thresholds[k]), float(f[k]), float(precision[k]), float(recall[k])
