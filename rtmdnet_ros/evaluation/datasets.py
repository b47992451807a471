# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Evaluation's view of the sequence folders: the data folder, splits and frame decoding.

Reading a sequence folder, its ground truth and finding the data root are
``rtmdnet_ros/sequences.py``'s job (one reader for every tool); its docstring states the rules,
among them why evaluation keeps OTB's 1-based boxes as given.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np

from ..sequences import (
    GROUNDTRUTH_FILE,
    DatasetError,
    Sequence,
    default_data_root,
    load_sequence,
)
from ..split import SPLITS
from .longterm import SplicedSequence


def resolve_data_dir(path: str | Path | None) -> Path:
    """Accept either the sequences folder or the data root that contains ``sequences/``."""
    data = Path(path) if path is not None else default_data_root() / "sequences"
    if not data.is_dir():
        raise DatasetError(f"data folder not found: {data}")
    if not any((p / GROUNDTRUTH_FILE).exists() for p in data.iterdir() if p.is_dir()):
        if (data / "sequences").is_dir():
            return data / "sequences"
    return data


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
        # a scene cut's frames come from another sequence: fitted to the host's frame size
        fitted = seq.donor_frames if isinstance(seq, SplicedSequence) else range(0)
        for i, frame_path in enumerate(seq.frame_paths):
            image = cv2.imread(str(frame_path), cv2.IMREAD_COLOR)
            if image is None:
                raise DatasetError(f"sequence {seq.name}: unreadable frame {frame_path}")
            if self.bgr is None:
                self.bgr = np.empty((len(seq),) + image.shape, dtype=np.uint8)
                if self.want_rgb:
                    self.rgb = np.empty_like(self.bgr)
            elif image.shape != self.bgr.shape[1:] and i in fitted:
                size = (self.bgr.shape[2], self.bgr.shape[1])
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
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
