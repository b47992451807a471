# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Training domains: one labelled video (sequence folder) is one domain with its own fc6 branch.

The evaluation split is held back here, in one place, so no command line can train on it by
accident (truck4_1 and truck4_2 are two halves of one video, both stay on the evaluation side).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .. import split
from ..sequences import annotation_kinds, default_data_root, pixel_boxes, read_groundtruth

LOG = logging.getLogger(__name__)

# The project's data split (rtmdnet_ros/split.py, docs/design.md).
TRAIN_SEQUENCES = split.TRAIN
EVAL_SEQUENCES = split.DEV


@dataclass(frozen=True)
class Domain:
    """One training video: its frames on disk and one ground-truth box (x, y, w, h) per frame."""

    name: str
    frames: tuple[Path, ...]
    boxes: np.ndarray  # (N, 4) float64, 0-based pixel coordinates, top-left corner + size
    mirrored: bool = False  # frames flipped left-right on reading (boxes already flipped)

    def __len__(self) -> int:
        return len(self.frames)

    def image(self, index: int) -> np.ndarray:
        """Read frame `index` as HxWx3 uint8 RGB (the core's colour order)."""
        bgr = cv2.imread(str(self.frames[index]), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read image {self.frames[index]}")
        if self.mirrored:
            bgr = cv2.flip(bgr, 1)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def mirror(self) -> Domain:
        """Return the same video flipped left-right, a domain of its own (``NAME~mirror``).

        The only extra training data the split allows without inventing labels: a mirrored frame's
        box is exactly the mirrored box (x -> W - x - w), and a mirrored video is a plausible
        video (unlike an upside-down one). It adds appearance variety (motion direction, pose),
        not new objects; docs/ablations.md measures what it buys.
        """
        if self.mirrored:
            raise ValueError(f"{self.name} is already mirrored")
        width = self.image(0).shape[1]
        boxes = self.boxes.copy()
        boxes[:, 0] = width - self.boxes[:, 0] - self.boxes[:, 2]
        return Domain(f"{self.name}~mirror", self.frames, boxes, mirrored=True)


def load_domain(sequence_dir: Path, annotation: str = "") -> Domain:
    """Load one sequence folder (img/*.jpg + groundtruth_rect.txt) as a domain.

    Ground truth comes from the one reader (``rtmdnet_ros/sequences.py``), in 0-based pixels
    (``pixel_boxes``: OTB's 1-based boxes shifted) so the training crops line up with the pixels
    the tracker sees. Frames whose box is empty or NaN (target absent) are dropped: they cannot
    give positives.
    """
    sequence_dir = Path(sequence_dir)
    frames = sorted((sequence_dir / "img").glob("*.jpg"))
    boxes = pixel_boxes(read_groundtruth(sequence_dir), annotation)
    if len(frames) != len(boxes):
        raise ValueError(
            f"{sequence_dir}: {len(frames)} images but {len(boxes)} ground-truth boxes"
        )
    keep = np.all(np.isfinite(boxes), axis=1) & (boxes[:, 2] >= 1.0) & (boxes[:, 3] >= 1.0)
    if not keep.any():
        raise ValueError(f"{sequence_dir}: no frame with a usable ground-truth box")
    kept_frames = tuple(f for f, k in zip(frames, keep, strict=True) if k)
    return Domain(name=sequence_dir.name, frames=kept_frames, boxes=boxes[keep])


def load_domains(
    names: Sequence[str] = TRAIN_SEQUENCES,
    data_root: Path | None = None,
    allow_eval: bool = False,
    mirror: bool = False,
) -> list[Domain]:
    """Load the named training sequences; refuse evaluation-split sequences.

    `allow_eval` exists only so a user with other data can reuse a name; the shipped recipe never
    sets it and the CLI exposes it under an explicit flag. `mirror` appends a left-right mirrored
    copy of every video as a domain of its own (``Domain.mirror``).
    """
    if not names:
        raise ValueError("no training sequences given")
    forbidden = sorted(set(names) & set(EVAL_SEQUENCES))
    if forbidden and not allow_eval:
        raise ValueError(
            f"refusing to train on evaluation-split sequences {forbidden}; "
            f"the evaluation split is {list(EVAL_SEQUENCES)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate training sequences in {list(names)}")
    root = Path(data_root) if data_root is not None else default_data_root()
    sequences_dir = root / "sequences" if (root / "sequences").is_dir() else root
    kinds = annotation_kinds(sequences_dir)
    domains = []
    for name in names:
        path = sequences_dir / name
        if not path.is_dir():
            raise ValueError(f"training sequence {name!r} not found in {sequences_dir}")
        domains.append(load_domain(path, kinds.get(name, "")))
        LOG.info("domain %s: %d frames", name, len(domains[-1]))
    if mirror:
        domains += [d.mirror() for d in domains]
    return domains
