# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Template/search pairs for fine-tuning NanoTrack v3's Siamese network.

Why a canvas cache: decoding a JPEG frame costs more than a training step's share of the two
shared CPU cores. Every labelled frame is therefore decoded once and stored as one square
*canvas* around its target (``canvas`` px, memory-mapped ``.npy`` per sequence), at the scale
the network sees: the SiamFC context square of the box (``siamese_refiner.context_side``) maps
to 127 px. A template crop is then the canvas centre (127 px, small jitter) and a search crop a
255 px window of the canvas (shift and scale jitter), both cut by ``siamese_refiner.crop_square``
and padded with the frame's mean colour (``mean_colour``), the rules the tracker itself uses.
Ground truth comes from ``training.data.load_domains`` (``parse_groundtruth``, ``pixel_boxes``,
NaN rows dropped; development-split sequences refused).

Validation: the last ``val_fraction`` of every training video is held out (neither template
nor search frame of a training pair comes from it); validation pairs are drawn from that tail
with a fixed generator, so every checkpoint is scored on the same pairs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..siamese_refiner import (
    EXEMPLAR_SIZE,
    INSTANCE_SIZE,
    SCORE_SIZE,
    STRIDE,
    context_side,
    crop_square,
    mean_colour,
)
from .data import Domain

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairOptions:
    """How pairs are drawn and augmented; defaults follow upstream's configv3.yaml DATASET.

    Upstream (NanoTrack v3 training): template shift 4 px, scale 0.05; search shift 64 px,
    scale 0.18, blur 0.2; colour on both; negative pairs 0.2; no flip, no grey. Here flips
    (both crops together, so the pair stays consistent) and grey pairs are added at a low rate
    for variety: ten videos are a small domain. ``max_gap``: search frame at most this many
    frames from the template (upstream: 100 on VID/GOT at 25-30 fps; our videos are shorter).
    """

    canvas: int = 511  # px; holds a 255 px search crop at scale 1.18 shifted by 100 px
    template_shift: float = 4.0
    template_scale: float = 0.05
    # Upstream: 64 px. Wider here: fine-tuned with 64, the network lost confidence in targets
    # 96+ px off the crop centre (docs/model-card.md, "Why the wider shift"), exactly where the
    # composite's re-detection sweep (windows overlapping by a quarter) must find them.
    search_shift: float = 100.0
    search_scale: float = 0.18
    search_blur: float = 0.2
    colour: float = 1.0
    grey: float = 0.05
    flip: float = 0.25
    negative: float = 0.2
    max_gap: int = 40
    val_fraction: float = 0.2
    # Validation pairs: gentler, tracking-like displacement (target moves a little per frame).
    val_shift: float = 48.0
    val_scale: float = 0.15
    val_pairs_per_sequence: int = 30
    # Half the validation pairs take the video's first frame as template, as a tracker does
    # (the search frame is always a held-out one); the other half any two held-out frames.
    val_first_template: float = 0.5
    # A second validation set with the target far off the centre (re-detection's case).
    val_far_shift: float = 96.0


@dataclass
class CanvasSet:
    """One sequence's canvases (N, C, C, 3) RGB uint8, target boxes in canvas px, fill colours."""

    name: str
    canvases: np.ndarray
    boxes: np.ndarray  # (N, 4) x, y, w, h in canvas px
    fills: np.ndarray  # (N, 3) frame mean colour (RGB)

    def __len__(self) -> int:
        return len(self.boxes)


def _cache_key(domain: Domain, canvas: int) -> str:
    digest = hashlib.sha256()
    digest.update(f"{domain.name}|{canvas}|{domain.mirrored}|v1".encode())
    digest.update(np.ascontiguousarray(domain.boxes).tobytes())
    digest.update("|".join(p.name for p in domain.frames).encode())
    return digest.hexdigest()[:16]


def build_canvases(domain: Domain, canvas: int, cache_dir: Path) -> CanvasSet:
    """Decode every frame once into its target-centred canvas, or reuse the cached file."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _cache_key(domain, canvas)
    data_path = cache_dir / f"{domain.name}_{canvas}_{key}.npy"
    meta_path = cache_dir / f"{domain.name}_{canvas}_{key}.json"
    if data_path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        return CanvasSet(domain.name, np.load(data_path, mmap_mode="r"),
                         np.array(meta["boxes"]), np.array(meta["fills"]))
    n = len(domain)
    tmp = data_path.with_suffix(".tmp.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, canvas, canvas, 3))
    boxes, fills = np.zeros((n, 4)), np.zeros((n, 3))
    centre = (canvas - 1) / 2.0
    for k in range(n):
        image = domain.image(k)
        x, y, w, h = domain.boxes[k]
        side = context_side(w, h) * canvas / EXEMPLAR_SIZE
        fill = mean_colour(image)
        out[k] = crop_square(image, x + w / 2, y + h / 2, side, canvas, fill)
        scale = canvas / side
        boxes[k] = (centre - w * scale / 2, centre - h * scale / 2, w * scale, h * scale)
        fills[k] = fill
    out.flush()
    del out
    tmp.rename(data_path)
    meta_path.write_text(json.dumps({"boxes": boxes.tolist(), "fills": fills.tolist()}))
    LOG.info("canvas cache %s: %d frames", data_path.name, n)
    return CanvasSet(domain.name, np.load(data_path, mmap_mode="r"), boxes, fills)


@dataclass(frozen=True)
class Pair:
    """One training sample: crops (RGB uint8) and the target box in the search crop (x1y1x2y2)."""

    template: np.ndarray  # 127 x 127 x 3
    search: np.ndarray  # 255 x 255 x 3
    box: np.ndarray  # (4,) x1, y1, x2, y2 in search-crop px; meaningless when negative
    positive: bool


def _crop(canvases: CanvasSet, k: int, cx: float, cy: float, side: float, out: int,
          ) -> np.ndarray:
    return crop_square(np.asarray(canvases.canvases[k]), cx, cy, side, out, canvases.fills[k])


def _jittered_crop(cs: CanvasSet, k: int, out: int, base: float, shift: float, scale: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Crop ``out`` px (``base`` canvas px wide at scale 1) around frame k's target, jittered.

    Returns the crop and the target box (x1, y1, x2, y2) in crop pixels. ``shift`` is in crop
    pixels (where the target centre lands relative to the crop centre), ``scale`` a relative
    range of the crop side (upstream: ``1 + U(-1, 1) * scale``).
    """
    s = 1.0 + rng.uniform(-1.0, 1.0) * scale
    ox, oy = rng.uniform(-1.0, 1.0, 2) * shift
    x, y, w, h = cs.boxes[k]
    tcx, tcy = x + w / 2, y + h / 2
    side = base * s
    per_px = side / out  # canvas px per crop px
    crop = _crop(cs, k, tcx - ox * per_px, tcy - oy * per_px, side, out)
    c = (out - 1) / 2.0
    bw, bh = w / per_px, h / per_px
    bcx, bcy = c + ox, c + oy
    return crop, np.array([bcx - bw / 2, bcy - bh / 2, bcx + bw / 2, bcy + bh / 2])


def _colour(img: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Per-channel gain and a brightness offset (a simple stand-in for PCA colour noise)."""
    gain = 1.0 + rng.normal(0.0, 0.1 * strength, 3)
    offset = rng.normal(0.0, 8.0 * strength)
    return np.clip(img.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)


def _blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = rng.uniform(0.5, 1.5)
    return cv2.GaussianBlur(img, (0, 0), sigma)


def _grey(img: np.ndarray) -> np.ndarray:
    return np.repeat(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)


def _flip_box(box: np.ndarray, size: int) -> np.ndarray:
    return np.array([size - 1 - box[2], box[1], size - 1 - box[0], box[3]])


def split_frames(n: int, val_fraction: float) -> tuple[range, range]:
    """Training frames (the head of the video) and held-out validation frames (its tail)."""
    cut = max(2, min(n - 2, int(round(n * (1.0 - val_fraction)))))
    return range(0, cut), range(cut, n)


def sample_pair(sets: Sequence[CanvasSet], opts: PairOptions, rng: np.random.Generator,
                part: str = "train", augment: bool = True) -> Pair:
    """Draw one pair (sequence uniformly, template frame, search frame within ``max_gap``)."""
    si = int(rng.integers(len(sets)))
    cs = sets[si]
    train, val = split_frames(len(cs), opts.val_fraction)
    frames = train if part == "train" else val
    t = int(rng.integers(frames.start, frames.stop))
    if part == "train":
        lo, hi = max(frames.start, t - opts.max_gap), min(frames.stop - 1, t + opts.max_gap)
        s = int(rng.integers(lo, hi + 1))
    else:
        s = int(rng.integers(frames.start, frames.stop))
        if rng.random() < opts.val_first_template:
            t = 0
    positive = not (augment and len(sets) > 1 and rng.random() < opts.negative)
    search_set, search_frame = cs, s
    if not positive:  # a frame of another video: no target anywhere in the search crop
        other = int(rng.choice([i for i in range(len(sets)) if i != si]))
        search_set = sets[other]
        o_train, o_val = split_frames(len(search_set), opts.val_fraction)
        o_frames = o_train if part == "train" else o_val
        search_frame = int(rng.integers(o_frames.start, o_frames.stop))
    if augment:
        t_shift, t_scale = opts.template_shift, opts.template_scale
        s_shift, s_scale = opts.search_shift, opts.search_scale
    else:
        t_shift, t_scale, s_shift, s_scale = 0.0, 0.0, opts.val_shift, opts.val_scale
    template, _ = _jittered_crop(cs, t, EXEMPLAR_SIZE, EXEMPLAR_SIZE, t_shift, t_scale, rng)
    search, box = _jittered_crop(search_set, search_frame, INSTANCE_SIZE, INSTANCE_SIZE,
                                 s_shift, s_scale, rng)
    if augment:
        if rng.random() < opts.colour:
            template = _colour(template, opts.colour, rng)
        if rng.random() < opts.colour:
            search = _colour(search, opts.colour, rng)
        if rng.random() < opts.search_blur:
            search = _blur(search, rng)
        if rng.random() < opts.grey:
            template, search = _grey(template), _grey(search)
        if rng.random() < opts.flip:
            template, search = template[:, ::-1].copy(), search[:, ::-1].copy()
            box = _flip_box(box, INSTANCE_SIZE)
    return Pair(template, search, box, positive)


def validation_pairs(sets: Sequence[CanvasSet], opts: PairOptions, seed: int = 20) -> list[Pair]:
    """Draw the fixed held-out pairs (training videos' tails), the same for every checkpoint."""
    pairs = []
    for i, cs in enumerate(sets):
        rng = np.random.default_rng([seed, i])
        for _ in range(opts.val_pairs_per_sequence):
            pairs.append(sample_pair([cs], opts, rng, part="val", augment=False))
    return pairs


def cell_points() -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of every cell (i, j) in search-crop px: centre + ((j - 7) * 16, (i - 7) * 16)."""
    c = (INSTANCE_SIZE - 1) / 2.0
    offsets = c + (np.arange(SCORE_SIZE) - SCORE_SIZE // 2) * float(STRIDE)
    px, py = np.meshgrid(offsets, offsets)
    return px, py


def cell_labels(box: np.ndarray, positive: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell label (1 target, 0 background, -1 ignored) and ltrb targets (4, 15, 15).

    Ellipse rule (SiamBAN, the family NanoTrack's head comes from): a cell is positive when its
    point lies inside the ellipse of half-axes (w/4, h/4) around the target centre, negative
    outside the one of half-axes (w/2, h/2), ignored between. The cell nearest to the centre is
    always positive, so small targets (ellipse narrower than a 16 px cell) still get one.
    """
    px, py = cell_points()
    labels = np.zeros((SCORE_SIZE, SCORE_SIZE), np.int64)
    x1, y1, x2, y2 = box
    ltrb = np.stack([px - x1, py - y1, x2 - px, y2 - py]).astype(np.float32)
    if not positive:
        return labels, ltrb
    cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    inner = ((px - cx) / (w / 4)) ** 2 + ((py - cy) / (h / 4)) ** 2
    outer = ((px - cx) / (w / 2)) ** 2 + ((py - cy) / (h / 2)) ** 2
    labels[outer <= 1.0] = -1
    labels[inner <= 1.0] = 1
    i, j = np.unravel_index(np.argmin((px - cx) ** 2 + (py - cy) ** 2), px.shape)
    if ltrb[:, i, j].min() > 0:
        labels[i, j] = 1
    labels[(labels == 1) & (ltrb.min(axis=0) <= 0)] = -1  # a point outside the box: no target
    return labels, ltrb
