# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A synthetic tracking clip: a textured patch moving and scaling over a textured background.

Generated, not stored, so tests need no data files; seeded, so every run sees the same clip.
"""

from __future__ import annotations

import cv2
import numpy as np


def _texture(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth random colour texture: coarse noise upsampled bilinearly, plus fine noise."""
    coarse = rng.integers(0, 256, size=(max(2, h // cell), max(2, w // cell), 3)).astype(np.uint8)
    tex = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    tex += rng.normal(0, 12, size=tex.shape)
    return np.clip(tex, 0, 255).astype(np.uint8)


def make_clip(
    n_frames: int = 60,
    size: tuple[int, int] = (320, 240),
    box: tuple[float, float, float, float] = (60.0, 80.0, 48.0, 40.0),
    seed: int = 0,
    max_scale_change: float = 0.25,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Return (frames as HxWx3 uint8 RGB, ground-truth xywh boxes (n_frames, 4)).

    The patch follows a smooth loop (up to ~7 px/frame) and grows to ``1 + max_scale_change``
    times its size, then shrinks back, so the tracker must follow translation and scale.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    background = _texture(rng, h, w, 12)
    patch = _texture(rng, 96, 96, 8)
    # A dark cross makes the patch clearly structured (not just another blob of noise).
    patch[44:52, :] = (20, 20, 160)
    patch[:, 44:52] = (20, 20, 160)
    x0, y0, bw, bh = box
    frames, boxes = [], []
    for t in range(n_frames):
        phase = 2 * np.pi * t / n_frames
        scale = 1.0 + max_scale_change * np.sin(phase / 2) ** 2
        cw, ch = bw * scale, bh * scale
        cx = x0 + bw / 2 + 140 * (1 - np.cos(phase)) / 2
        cy = y0 + bh / 2 + 50 * np.sin(phase)
        x, y = cx - cw / 2, cy - ch / 2
        frame = background.copy()
        pw, ph = round(cw), round(ch)
        xi, yi = round(x), round(y)
        resized = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_AREA)
        frame[yi : yi + ph, xi : xi + pw] = resized
        frames.append(frame)
        boxes.append((xi, yi, pw, ph))
    return frames, np.asarray(boxes, dtype=np.float64)


S = 40  # side of each crossing target


class Crossing:
    """Two 40 px patches on a 320x240 scene: A moves right on row 50, B left on row 150.

    Their columns cross (around frame 17), so a tracker that jumps to the other target fails.
    """

    def __init__(self) -> None:
        rng = np.random.default_rng(11)
        self.background = _texture(rng, 240, 320, 12)
        self.a = _texture(rng, S, S, 6)
        self.a[18:22, :] = (200, 30, 30)
        self.b = _texture(rng, S, S, 6)
        self.b[:, 18:22] = (30, 200, 30)

    def boxes(self, t: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The true (x, y, w, h) of A and B in frame ``t``."""
        return (40.0 + 6 * t, 50.0, S, S), (240.0 - 6 * t, 150.0, S, S)

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` (the same array type for RGB or BGR use: the colours are arbitrary)."""
        img = self.background.copy()
        (ax, ay, _, _), (bx, by, _, _) = self.boxes(t)
        img[int(ay):int(ay) + S, int(ax):int(ax) + S] = self.a
        img[int(by):int(by) + S, int(bx):int(bx) + S] = self.b
        return img
