# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""What the tracker core accepts: one image rule and one box rule for every network in it.

The networks were trained on 8-bit colour: a float or single-channel image would give
plausible-looking but meaningless scores, so it is refused rather than converted; the caller
owns the colour conversion (RGB in the core, see docs/design.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIN_IMAGE_SIDE = 2  # px: the smallest image a crop can be sampled from (two taps per axis)


def check_image(image: Any) -> np.ndarray:
    """Return the image if it is an HxWx3 uint8 array, else raise a ValueError saying why."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array (HxWx3 uint8 RGB), got "
                         f"{type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (HxWx3 RGB), got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be HxWx3 (RGB), got shape {image.shape}")
    if min(image.shape[:2]) < MIN_IMAGE_SIDE:
        raise ValueError(f"image too small: {image.shape[1]}x{image.shape[0]}")
    return image


def check_box(box_xywh: Any) -> np.ndarray:
    """Return (x, y, w, h) as float64 if finite with positive size, else raise ValueError."""
    box = np.asarray(box_xywh, dtype=np.float64).reshape(-1)
    if box.size != 4 or not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"box must be 4 finite values (x, y, w, h) with w, h > 0, got {box_xywh}")
    return box
