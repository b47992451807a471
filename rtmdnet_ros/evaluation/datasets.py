# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluation's view of the sequence folders: checked sequences, splits and frame decoding.

Reading the ground truth and finding the data root are ``rtmdnet_ros/sequences.py``'s job (one
reader for every tool); its docstring states the rules, among them why evaluation keeps OTB's
1-based boxes as given.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..sequences import GROUNDTRUTH_FILE, DatasetError, default_data_root, parse_groundtruth
from ..split import SPLITS

IMAGE_DIR = "img"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Sequence:
    """One sequence: its frame files and one ground-truth box (x, y, w, h) per frame."""

    name: str
    path: Path
    frame_paths: tuple[Path, ...]
    groundtruth: np.ndarray  # (N, 4) float64, NaN rows = target not annotated

    def __len__(self) -> int:
        return len(self.frame_paths)


def resolve_data_dir(path: str | Path | None) -> Path:
    """Accept either the sequences folder or the data root that contains ``sequences/``."""
    data = Path(path) if path is not None else default_data_root() / "sequences"
    if not data.is_dir():
        raise DatasetError(f"data folder not found: {data}")
    if not any((p / GROUNDTRUTH_FILE).exists() for p in data.iterdir() if p.is_dir()):
        if (data / "sequences").is_dir():
            return data / "sequences"
    return data


def load_sequence(path: str | Path) -> Sequence:
    """Index one sequence folder and check it: frames present, one box per frame."""
    path = Path(path)
    name = path.name
    if not path.is_dir():
        raise DatasetError(f"sequence {name}: folder not found: {path}")
    img_dir = path / IMAGE_DIR
    if not img_dir.is_dir():
        raise DatasetError(f"sequence {name}: image folder not found: {img_dir}")
    frames = tuple(sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
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


def select_sequences(
    data_dir: str | Path | None, names: list[str] | None = None, split: str | None = None
) -> list[Sequence]:
    """Return the requested sequences, all checked before any tracker runs.

    Explicit ``names`` win over ``split``; with neither, every sequence folder is taken.
    """
    data = resolve_data_dir(data_dir)
    if names:
        wanted = list(dict.fromkeys(names))
    elif split:
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        wanted = list(SPLITS[split])
    else:
        wanted = sorted(
            (p.name for p in data.iterdir() if (p / GROUNDTRUTH_FILE).exists()), key=str.lower
        )
        if not wanted:
            raise DatasetError(f"no sequences (NAME/{GROUNDTRUTH_FILE}) found in {data}")
    return [load_sequence(data / n) for n in wanted]


class FrameStream:
    """A sequence decoded once, frame by frame, into one preallocated (N, H, W, 3) array.

    ``fill`` runs in a background thread; ``frame(i)`` waits only until frame i is there, so
    tracking starts after the first frame and decoding hides behind any tracker slower than the
    JPEG decoder. The RGB copy (for trackers that want RGB) is converted in the same pass, straight
    into its own preallocated array.
    """

    def __init__(self, sequence: Sequence, want_rgb: bool):
        self.sequence = sequence
        self.want_rgb = want_rgb
        self.bgr: np.ndarray | None = None
        self.rgb: np.ndarray | None = None
        self.decode_seconds = 0.0  # decoder work (mostly in the background)
        self.wait_seconds = 0.0  # time a consumer spent waiting for a frame
        self._ready = 0
        self._error: Exception | None = None
        self._cond = threading.Condition()

    def fill(self) -> None:
        """Decode every frame in order; record the first error instead of raising it here."""
        start = time.perf_counter()
        try:
            self._decode_all()
        except Exception as exc:  # handed to the consumer in frame()
            with self._cond:
                self._error = exc
                self._cond.notify_all()
        finally:
            self.decode_seconds = time.perf_counter() - start

    def _decode_all(self) -> None:
        seq = self.sequence
        for i, frame_path in enumerate(seq.frame_paths):
            image = cv2.imread(str(frame_path), cv2.IMREAD_COLOR)
            if image is None:
                raise DatasetError(f"sequence {seq.name}: unreadable frame {frame_path}")
            if self.bgr is None:
                self.bgr = np.empty((len(seq),) + image.shape, dtype=np.uint8)
                if self.want_rgb:
                    self.rgb = np.empty_like(self.bgr)
            elif image.shape != self.bgr.shape[1:]:
                raise DatasetError(
                    f"sequence {seq.name}: frame {frame_path.name} is {image.shape[1]}x"
                    f"{image.shape[0]}, earlier frames {self.bgr.shape[2]}x{self.bgr.shape[1]}"
                )
            self.bgr[i] = image
            if self.rgb is not None:
                cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=self.rgb[i])
            with self._cond:
                self._ready = i + 1
                self._cond.notify_all()

    def frame(self, index: int, rgb: bool = False) -> np.ndarray:
        """Return frame ``index`` (a view into the shared array), waiting if not decoded yet."""
        if index >= self._ready:
            start = time.perf_counter()
            with self._cond:
                while index >= self._ready and self._error is None:
                    self._cond.wait()
            self.wait_seconds += time.perf_counter() - start
        if index >= self._ready and self._error is not None:
            raise self._error
        arrays = self.rgb if rgb else self.bgr
        assert arrays is not None, "RGB frames requested from a stream decoded without them"
        return arrays[index]


def decode_frames(sequence: Sequence) -> np.ndarray:
    """Decode every frame now into one (N, H, W, 3) BGR uint8 array."""
    stream = FrameStream(sequence, want_rgb=False)
    stream.fill()
    stream.frame(len(sequence) - 1)
    assert stream.bgr is not None
    return stream.bgr
