# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The shared sequence format, read in one place: where the data lives and what a box line means.

A sequence folder is ``NAME/img/NNNN.jpg`` + ``NAME/groundtruth_rect.txt``; the data root holds
``sequences/NAME`` and ``sequences/sequences.json`` (where each sequence came from). Evaluation
(``evaluation/datasets.py``), training (``training/data.py``), the frame publisher, the recorder,
the benches and the tests all read a folder through ``load_sequence`` or ground truth through
``parse_groundtruth`` and find the data through ``default_data_root``, so a rule changed here is
changed for all of them. Nothing in the tracker core reads from here: it finds its networks
through its options.

The rules, decided once:

- A line is one box, comma / semicolon / whitespace separated: 4 values (x, y, w, h) or an
  8-value VOT polygon (its axis-aligned bounding box). Blank lines are skipped; anything else
  is a ``DatasetError`` naming the file and line.
- ``NaN`` values are kept: UAV123 writes ``NaN,NaN,NaN,NaN`` for frames where the target is
  absent (fully occluded or out of view). Metrics skip those frames, training drops them.
- Coordinates are kept as the benchmark gives them. OTB boxes are 1-based MATLAB pixel
  coordinates, VOT/UAV boxes 0-based. Evaluation compares ground truth and predictions in that
  same convention (every tracker starts from the box as given, so the at most 1 px offset is the
  same for all and below annotation noise, and figures stay comparable with published ones).
  Training crops pixels from the box, so it asks ``pixel_boxes`` for 0-based coordinates: the
  one place the OTB shift is made.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GROUNDTRUTH_FILE = "groundtruth_rect.txt"
SEQUENCES_JSON = "sequences.json"
ONE_BASED = ("otb",)  # sequences.json ``original_annotation`` values written 1-based

_SEPARATORS = re.compile(r"[,;\s]+")


class DatasetError(ValueError):
    """Bad sequence data (missing folder, unreadable frame, malformed ground truth)."""


def default_data_root() -> Path:
    """Return the data root: ``$RTMDNET_DATA`` if set, else ``../shared/data`` beside the repo."""
    env = os.environ.get("RTMDNET_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def polygon_to_box(values: np.ndarray) -> np.ndarray:
    """Turn a VOT 8-value polygon (x1 y1 ... x4 y4) into its axis-aligned (x, y, w, h) box."""
    xs, ys = values[0::2], values[1::2]
    x0, y0 = float(np.min(xs)), float(np.min(ys))
    return np.array([x0, y0, float(np.max(xs)) - x0, float(np.max(ys)) - y0])


def parse_groundtruth(text: str, source: str = "ground truth") -> np.ndarray:
    """Parse one box per line into an (N, 4) float64 array (rules: module docstring)."""
    boxes = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        fields = [f for f in _SEPARATORS.split(line) if f]
        try:
            values = np.array([float(f) for f in fields], dtype=np.float64)
        except ValueError as exc:
            raise DatasetError(f"{source}:{number}: not a number in {line!r}") from exc
        if values.size == 4:
            boxes.append(values)
        elif values.size == 8:
            boxes.append(polygon_to_box(values))
        else:
            raise DatasetError(
                f"{source}:{number}: expected 4 values (x,y,w,h) or 8 (polygon), "
                f"got {values.size}: {line!r}"
            )
    if not boxes:
        raise DatasetError(f"{source}: no boxes")
    return np.stack(boxes)


def read_groundtruth(sequence_dir: str | Path) -> np.ndarray:
    """Read ``sequence_dir/groundtruth_rect.txt`` with ``parse_groundtruth``."""
    path = Path(sequence_dir) / GROUNDTRUTH_FILE
    if not path.is_file():
        raise DatasetError(f"sequence {Path(sequence_dir).name}: ground truth not found: {path}")
    return parse_groundtruth(path.read_text(), source=str(path))


def annotation_kinds(sequences_dir: str | Path) -> dict[str, str]:
    """Map sequence name -> its original annotation kind (``otb``, ``uav``, ...).

    Read from ``sequences.json``; empty when the file is absent (then no box is shifted).
    """
    meta = Path(sequences_dir) / SEQUENCES_JSON
    if not meta.is_file():
        return {}
    info = json.loads(meta.read_text())
    return {name: str(entry.get("original_annotation", "")) for name, entry in info.items()}


def pixel_boxes(boxes: np.ndarray, annotation: str) -> np.ndarray:
    """Return ``boxes`` in 0-based pixel coordinates: OTB's 1-based ones shifted by -1 px."""
    if annotation not in ONE_BASED:
        return boxes
    shifted = np.array(boxes, dtype=np.float64, copy=True)
    shifted[:, :2] -= 1.0
    return shifted


IMAGE_DIR = "img"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_DIGITS = re.compile(r"(\d+)")


def _natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(part)) if part.isdigit() else (1, part)
                 for part in _DIGITS.split(path.name) if part)


def image_files(folder: str | Path) -> tuple[Path, ...]:
    """Return the frames of an image folder (jpg, jpeg, png) in frame order.

    Numbers in names are compared as numbers, so ``frame_2.png`` comes before ``frame_10.png``
    as a camera's unpadded numbering means; zero-padded names keep their alphabetical order.
    """
    files = (p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return tuple(sorted(files, key=_natural_key))


@dataclass(frozen=True)
class Sequence:
    """One sequence: its frame files and one ground-truth box (x, y, w, h) per frame."""

    name: str
    path: Path
    frame_paths: tuple[Path, ...]
    groundtruth: np.ndarray  # (N, 4) float64, NaN rows = target not annotated

    def __len__(self) -> int:
        return len(self.frame_paths)


def load_sequence(path: str | Path) -> Sequence:
    """Index one sequence folder and check it: frames present, one box per frame."""
    path = Path(path)
    name = path.name
    if not path.is_dir():
        raise DatasetError(f"sequence {name}: folder not found: {path}")
    img_dir = path / IMAGE_DIR
    if not img_dir.is_dir():
        raise DatasetError(f"sequence {name}: image folder not found: {img_dir}")
    frames = image_files(img_dir)
    if not frames:
        raise DatasetError(f"sequence {name}: no images in {img_dir}")
    gt_file = path / GROUNDTRUTH_FILE
    if not gt_file.is_file():
        raise DatasetError(f"sequence {name}: ground truth not found: {gt_file}")
    gt = parse_groundtruth(gt_file.read_text(), source=f"sequence {name}: {gt_file}")
    if len(gt) != len(frames):
        raise DatasetError(
            f"sequence {name}: {len(gt)} ground-truth boxes but {len(frames)} frames in {img_dir}"
        )
    first = gt[0]
    if not (np.all(np.isfinite(first)) and first[2] > 0 and first[3] > 0):
        raise DatasetError(f"sequence {name}: first ground-truth box is not valid: {first}")
    return Sequence(name=name, path=path, frame_paths=frames, groundtruth=gt)
