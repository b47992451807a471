# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Box refinement with NanoTrack v3's trained Siamese head, around the box our classifier chose.

Why: RT-MDNet's own box comes from scoring sampled candidates plus a ridge regressor fitted on the
first frame, and on small targets its scale drifts (docs/tracker.md, "The shrinking box").
NanoTrack v3's head was trained on large tracking datasets to regress the object's extent from a
template/search pair, so it is a good *box* estimator; but as a tracker it drifts to distractors,
where our online classifier holds on. This module therefore uses the head for the box only: the
classifier decides *where* the target is, and the refiner may only pick a box whose centre lies
within a small radius of that choice (``max_shift``, a fraction of the box's width and height).
When no eligible cell of the head's score map is confident enough, the input box comes back
unchanged.

Network (weights and ONNX exports from HonglinChu/SiamTrackers@248663f, Apache-2.0; unchanged,
run by onnxruntime (``onnx_runtime.py``); see ``../shared/models/README.md``):

- ``nanotrack_backbone.onnx``: BGR float 0..255 crop (N, 3, S, S) -> (N, 96, S/16, S/16).
  A 127 px template crop gives 1x96x8x8, a 255 px search crop 1x96x16x16.
- ``nanotrack_head.onnx``: ``input1`` template features, ``input2`` search features ->
  ``output1`` (1, 2, 15, 15) classification logits (softmax over the 2 channels, channel 1 =
  target) and ``output2`` (1, 4, 15, 15) distances (left, top, right, bottom) in search-crop
  pixels from each cell's point to the box sides (anchor-free). Cell (i, j) sits at
  ``((j - 7) * 16, (i - 7) * 16)`` px from the crop centre. Checked numerically on real frames:
  on ground-truth crops the peak is at the centre cell and l+r, t+b match the target's size in
  the crop (see ``bench/bench_refiner.py``).

Crops follow the SiamFC/SiamRPN context rule upstream trained with: a square of side
``sqrt((w + p)(h + p))``, ``p = 0.5 (w + h)``, scaled to 127 px (template) or that side times
255/127 scaled to 255 px (search), centred on the box, padded with the image's mean colour.

Decoding (upstream's TRACK settings in ``configv3.yaml``; the logic written here from those
facts): score = softmax target probability; a scale/ratio change penalty
``exp(-(r_c * s_c - 1) * PENALTY_K)`` with ``s_c``/``r_c`` the max(r, 1/r) change of the
context size and of the aspect ratio against the input box; a cosine (Hann) window mixed in with
``WINDOW_INFLUENCE``; the best eligible cell gives the centre, and the size moves from the input
size towards the predicted one by ``lr = penalty * score * LR`` (upstream's size smoothing).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtmdnet_ros.inputs import check_box, check_image
from rtmdnet_ros.packaged_models import siamese_dir

LOG = logging.getLogger(__name__)

BACKBONE_FILE = "nanotrack_backbone.onnx"
HEAD_FILE = "nanotrack_head.onnx"

# Upstream NanoTrack v3 TRACK settings (configv3.yaml); test_siamese_refiner checks they agree.
EXEMPLAR_SIZE = 127
INSTANCE_SIZE = 255
SCORE_SIZE = 15  # OUTPUT_SIZE
STRIDE = 16  # POINT.STRIDE
CONTEXT_AMOUNT = 0.5
WINDOW_INFLUENCE = 0.455
PENALTY_K = 0.138
LR = 0.348
TEMPLATE_FEATURES = (1, 96, 8, 8)
SEARCH_FEATURES = (1, 96, 16, 16)



@dataclass(frozen=True)
class RefinerSettings:
    """Decoding settings; defaults are upstream's, except the two that keep the refiner local.

    ``max_shift``: a cell is eligible only if its predicted centre is within
    ``max_shift * w`` horizontally and ``max_shift * h`` vertically (an ellipse) of the input
    box centre: the refiner corrects the box, the classifier chooses the object.
    ``min_score``: the best eligible cell's target probability must exceed this, otherwise the
    input box is returned unchanged (the head does not see the target there).
    ``size_lr``: upstream's size smoothing rate; 1.0 takes the predicted size outright.
    """

    window_influence: float = WINDOW_INFLUENCE
    penalty_k: float = PENALTY_K
    size_lr: float = LR
    max_shift: float = 0.3
    min_score: float = 0.9
    min_size: float = 2.0  # px: a refined side never goes below this
    # (width, height) factors applied to the head's predicted size before smoothing: its boxes
    # follow its training data's box style, not our benchmarks' (1, 1 = upstream).
    size_calibration: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        """Reject settings that would silently disable or invert the rules above."""
        if not 0.0 <= self.window_influence <= 1.0:
            raise ValueError(f"window_influence must be in [0, 1], got {self.window_influence}")
        if self.penalty_k < 0.0:
            raise ValueError(f"penalty_k must be >= 0, got {self.penalty_k}")
        if not 0.0 <= self.size_lr <= 1.0:
            raise ValueError(f"size_lr must be in [0, 1], got {self.size_lr}")
        if self.max_shift < 0.0:
            raise ValueError(f"max_shift must be >= 0, got {self.max_shift}")
        if self.min_size <= 0.0:
            raise ValueError(f"min_size must be > 0, got {self.min_size}")
        if len(self.size_calibration) != 2 or min(self.size_calibration) <= 0.0:
            raise ValueError(f"size_calibration must be two positive factors, "
                             f"got {self.size_calibration}")


def context_side(w: float, h: float, context: float = CONTEXT_AMOUNT) -> float:
    """Side of the square template region for a w x h box (SiamFC context rule)."""
    p = context * (w + h)
    return float(np.sqrt((w + p) * (h + p)))


def change_penalty(pw: np.ndarray, ph: np.ndarray, w: float, h: float, k: float) -> np.ndarray:
    """Upstream's scale/ratio change penalty of predicted sizes (pw, ph) against a w x h box.

    ``exp(-(r_c * s_c - 1) * k)``, with ``s_c``/``r_c`` the max(r, 1/r) change of the context
    size and of the aspect ratio; sizes must be positive.
    """
    def change(r: np.ndarray) -> np.ndarray:
        return np.maximum(r, 1.0 / r)

    pad = CONTEXT_AMOUNT * (pw + ph)
    s_c = change(np.sqrt((pw + pad) * (ph + pad)) / context_side(w, h))
    r_c = change((w / h) / (pw / ph))
    return np.exp(-(r_c * s_c - 1.0) * k)


def crop_square(image_rgb: np.ndarray, cx: float, cy: float, side: float, out: int,
                fill: np.ndarray) -> np.ndarray:
    """Square crop of ``side`` px centred on (cx, cy), resized to ``out`` px, padded with ``fill``.

    One affine warp, sub-pixel exact: output pixel u samples image x = cx + (u - (out-1)/2) *
    side/out, so the crop centre maps to the centre of the output grid, where the head's
    middle cell sits.
    """
    scale = out / side
    matrix = np.array([[scale, 0.0, (out - 1) / 2.0 - cx * scale],
                       [0.0, scale, (out - 1) / 2.0 - cy * scale]])
    return cv2.warpAffine(image_rgb, matrix, (out, out), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT,
                          borderValue=tuple(float(v) for v in fill))


def mean_colour(image_rgb: np.ndarray) -> np.ndarray:
    """Per-channel mean of the whole image, the padding colour upstream trained with.

    ``cv2.mean`` rather than ``ndarray.mean``: far faster on a whole frame, which matters at one
    call per frame.
    """
    return np.array(cv2.mean(image_rgb)[:3])


def _blob(crop_rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 crop -> 1x3xHxW float32 BGR 0..255 (the network's input convention)."""
    return np.ascontiguousarray(crop_rgb[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)


def _load_net(path: Path) -> Any:
    """One onnxruntime session for one ONNX file (the frame path's runtime, onnx_runtime.py).

    Spatial sizes are left free: upstream's backbone graph declares 255 px, and the template is
    127 px (OpenCV's dnn, used before, ignored the declared size; outputs agree within 1e-4).
    """
    from rtmdnet_ros.onnx_runtime import create_session

    return create_session(path, free_spatial_dims=True)


class SiameseRefiner:
    """Refines a tracker's box with NanoTrack v3's Siamese head, never moving to another object.

    Usage: ``set_template(first_frame, first_box)`` once, then ``refine(frame, box)`` with the
    box the classifier chose in each frame. Images are RGB uint8 (the core's convention).
    One onnxruntime session pair per instance.
    """

    def __init__(self, model_dir: str | Path | None = None,
                 settings: RefinerSettings | None = None) -> None:
        """Load and sanity-check both ONNX files from ``model_dir`` (default: the shipped one)."""
        folder = siamese_dir(model_dir or "")
        self.backbone_path = folder / BACKBONE_FILE
        self.head_path = folder / HEAD_FILE
        missing = [str(p) for p in (self.backbone_path, self.head_path) if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"NanoTrack v3 model file(s) not found: {', '.join(missing)} "
                "(the refiner_dir option names the folder)")
        self.settings = settings or RefinerSettings()
        self._backbone = _load_net(self.backbone_path)
        self._head = _load_net(self.head_path)
        self._check_shapes()
        LOG.debug("NanoTrack v3 refiner loaded from %s", folder)
        # Cell points relative to the search crop centre, in crop pixels, and the cosine window.
        offsets = (np.arange(SCORE_SIZE) - SCORE_SIZE // 2) * float(STRIDE)
        self._px, self._py = np.meshgrid(offsets, offsets)  # [i, j] -> (x, y) of cell (i, j)
        hann = np.hanning(SCORE_SIZE)
        self._window = np.outer(hann, hann)
        self._template: np.ndarray | None = None

    def _check_shapes(self) -> None:
        """Run both networks once on zeros: a wrong or truncated file fails here, not mid-track."""
        try:
            z = self._features(np.zeros((EXEMPLAR_SIZE, EXEMPLAR_SIZE, 3), np.uint8))
            x = self._features(np.zeros((INSTANCE_SIZE, INSTANCE_SIZE, 3), np.uint8))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"{self.backbone_path} does not run as NanoTrack v3's backbone: "
                             f"{str(exc).strip()[:300]}") from exc
        if z.shape != TEMPLATE_FEATURES or x.shape != SEARCH_FEATURES:
            raise ValueError(f"{self.backbone_path}: expected features {TEMPLATE_FEATURES} and "
                             f"{SEARCH_FEATURES}, got {z.shape} and {x.shape}")
        try:
            cls, loc = self._run_head(z, x)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"{self.head_path} does not run as NanoTrack v3's head: "
                             f"{str(exc).strip()[:300]}") from exc
        want_cls, want_loc = (1, 2, SCORE_SIZE, SCORE_SIZE), (1, 4, SCORE_SIZE, SCORE_SIZE)
        if cls.shape != want_cls or loc.shape != want_loc:
            raise ValueError(f"{self.head_path}: expected outputs {want_cls} and {want_loc}, "
                             f"got {cls.shape} and {loc.shape}")

    def _features(self, crop_rgb: np.ndarray) -> np.ndarray:
        return self._backbone.run(["output"], {"input": _blob(crop_rgb)})[0]

    def _run_head(self, z: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cls, loc = self._head.run(["output1", "output2"], {"input1": z, "input2": x})
        return cls, loc

    def set_template(self, image_rgb: np.ndarray, box_xywh: Any) -> None:
        """Cache the 1x96x8x8 template features of ``box_xywh`` (x, y, w, h) in ``image_rgb``."""
        image = check_image(image_rgb)
        box = check_box(box_xywh)
        x, y, w, h = box
        side = context_side(w, h)
        crop = crop_square(image, x + w / 2, y + h / 2, side, EXEMPLAR_SIZE, mean_colour(image))
        self._template = self._features(crop)

    def score_maps(self, image_rgb: np.ndarray, box_xywh: Any
                   ) -> tuple[np.ndarray, np.ndarray, float]:
        """Target probability (15x15) and decoded boxes (4x15x15: cx, cy, w, h in image px).

        Returned with the crop's scale (crop px per image px). Exposed so callers (the bench,
        a tracker that wants the head's view of the whole window) can look without refining.
        """
        if self._template is None:
            raise RuntimeError("SiameseRefiner.refine called before set_template")
        image = check_image(image_rgb)
        box = check_box(box_xywh)
        x, y, w, h = box
        cx, cy = x + w / 2, y + h / 2
        side = context_side(w, h) * INSTANCE_SIZE / EXEMPLAR_SIZE
        scale = INSTANCE_SIZE / side
        crop = crop_square(image, cx, cy, side, INSTANCE_SIZE, mean_colour(image))
        cls, loc = self._run_head(self._template, self._features(crop))
        logits = cls[0].astype(np.float64)
        shifted = np.exp(logits - logits.max(axis=0, keepdims=True))
        prob = shifted[1] / shifted.sum(axis=0)
        left, top, right, bottom = loc[0].astype(np.float64)
        # Anchor-free decode: each cell's point +- its four distances, back to image pixels.
        x1, x2 = self._px - left, self._px + right
        y1, y2 = self._py - top, self._py + bottom
        boxes = np.stack([cx + (x1 + x2) / 2 / scale, cy + (y1 + y2) / 2 / scale,
                          (x2 - x1) / scale, (y2 - y1) / scale])
        return prob, boxes, scale

    def refine(self, image_rgb: np.ndarray, box_xywh: Any
               ) -> tuple[np.ndarray, float, dict[str, Any]]:
        """Return (refined box x, y, w, h; the chosen cell's target probability; details).

        The score is the best eligible cell's target probability even when the input box is
        kept (0.0 when no cell is eligible), so a caller can log or threshold it itself.
        ``details`` keys: ``accepted`` (False = input box returned), ``reason``, ``cell``
        (i, j), ``predicted`` (the head's unsmoothed box, x, y, w, h), ``penalty``, ``lr``,
        ``eligible`` (number of eligible cells), ``max_score`` (best probability anywhere in
        the window: high with a low ``score`` means a similar object nearby, which the
        refiner ignored by design).
        """
        box = check_box(box_xywh)
        prob, boxes, _ = self.score_maps(image_rgb, box)
        s = self.settings
        _, _, w, h = box
        cx, cy = box[0] + w / 2, box[1] + h / 2
        pcx, pcy, pw, ph = boxes
        pw, ph = pw * s.size_calibration[0], ph * s.size_calibration[1]
        valid = (pw > 0) & (ph > 0)
        pw_safe, ph_safe = np.where(valid, pw, 1.0), np.where(valid, ph, 1.0)
        penalty = change_penalty(pw_safe, ph_safe, w, h, s.penalty_k)
        pscore = penalty * prob * (1.0 - s.window_influence) + self._window * s.window_influence
        dx = (pcx - cx) / max(s.max_shift * w, 1e-9)
        dy = (pcy - cy) / max(s.max_shift * h, 1e-9)
        eligible = valid & (dx * dx + dy * dy <= 1.0)
        details: dict[str, Any] = {"accepted": False, "cell": None, "predicted": None,
                                   "penalty": None, "lr": 0.0, "eligible": int(eligible.sum()),
                                   "max_score": float(prob.max())}
        if not eligible.any():
            details["reason"] = "no cell predicts a centre within max_shift of the input box"
            LOG.debug("refine: input kept, %s", details["reason"])
            return box.copy(), 0.0, details
        i, j = np.unravel_index(np.argmax(np.where(eligible, pscore, -np.inf)), pscore.shape)
        score = float(prob[i, j])
        details.update(cell=(int(i), int(j)), penalty=float(penalty[i, j]),
                       predicted=np.array([pcx[i, j] - pw[i, j] / 2, pcy[i, j] - ph[i, j] / 2,
                                           pw[i, j], ph[i, j]]))
        if score <= s.min_score:
            details["reason"] = f"best eligible score {score:.3f} <= min_score {s.min_score}"
            LOG.debug("refine: input kept, %s", details["reason"])
            return box.copy(), score, details
        lr = float(penalty[i, j]) * score * s.size_lr
        new_w = max(w * (1.0 - lr) + pw[i, j] * lr, s.min_size)
        new_h = max(h * (1.0 - lr) + ph[i, j] * lr, s.min_size)
        new_cx, new_cy = float(pcx[i, j]), float(pcy[i, j])
        details.update(accepted=True, reason="refined", lr=lr)
        return np.array([new_cx - new_w / 2, new_cy - new_h / 2, new_w, new_h]), score, details
