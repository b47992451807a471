# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Make a rosbag2 from a folder of images, to try ``rtmdnet-bag`` without a recorded bag.

    rtmdnet-bag-from-images FRAMES_DIR OUT_BAG [--rate 30] [--compressed]

``FRAMES_DIR`` is a folder of ``.jpg``/``.jpeg``/``.png`` frames (numbers in names ordered as
numbers), or a sequence folder (``img/`` + ``groundtruth_rect.txt``, the shared format), whose
first ground-truth box is printed as the ``--box`` to start on. One ``sensor_msgs/Image`` (or
JPEG ``CompressedImage``) per frame, stamps and bag times ``--rate`` apart. The bag is written
under a temporary name and moved into place only when complete, as ``rtmdnet-bag``'s outputs.

Exit codes as ``rtmdnet-bag``: 0 done, 1 with one line for bad input (no images, an unreadable
frame, an existing output), 2 with one line for a bad command line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from rtmdnet_ros.bag.outputs import (
    BAG_VERSIONS,
    DEFAULT_BAG_VERSION,
    STORAGES,
    check_output_path,
    discard,
    move_into_place,
    stage,
)
from rtmdnet_ros.bag.reading import BagInputError
from rtmdnet_ros.bag.sequence_bag import ENCODERS, write_frames_bag
from rtmdnet_ros.ros_io.cli import EXIT_USAGE, OneLineParser, fail
from rtmdnet_ros.sequences import (
    GROUNDTRUTH_FILE,
    IMAGE_DIR,
    DatasetError,
    image_files,
    read_groundtruth,
)

PROG = "rtmdnet-bag-from-images"
DEFAULT_TOPIC = "/camera/image_raw"
DEFAULT_START_S = 1_700_000_000.0  # a plausible wall-clock stamp; any value works


def find_frames(folder: Path) -> tuple[list[Path], np.ndarray | None]:
    """Return the frame files and, for a sequence folder, its first ground-truth box."""
    if not folder.is_dir():
        raise BagInputError(f"{folder}: no such folder")
    sequence = (folder / IMAGE_DIR).is_dir()
    frames = list(image_files(folder / IMAGE_DIR if sequence else folder))
    if not frames:
        where = folder / IMAGE_DIR if sequence else folder
        raise BagInputError(f"{where}: no .jpg, .jpeg or .png images in it")
    first_box = None
    if sequence and (folder / GROUNDTRUTH_FILE).is_file():
        try:
            first_box = read_groundtruth(folder)[0]
        except DatasetError as exc:
            logging.getLogger(__name__).warning("no --box hint: %s", exc)
    return frames, first_box


def read_frames(files: list[Path]) -> Iterator[np.ndarray]:
    """Yield each file as BGR, one at a time (memory flat in the folder's size)."""
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise BagInputError(f"{path}: not a readable image")
        yield bgr


def images_to_bag(folder: Path, out: Path, topic: str = DEFAULT_TOPIC, rate: float = 30.0,
                  compressed: bool = False, encoding: str = "bgr8", storage: str = "mcap",
                  version: int = DEFAULT_BAG_VERSION, start_s: float = DEFAULT_START_S,
                  frame_id: str = "camera", max_frames: int | None = None,
                  overwrite: bool = False) -> tuple[int, np.ndarray | None]:
    """Write the folder's frames to the bag ``out``; return (frames, first ground-truth box).

    Raises :class:`BagInputError` for bad input; ``out`` then does not exist (or, with
    ``overwrite``, still holds what it held).
    """
    files, first_box = find_frames(folder)
    check_output_path(out, overwrite, folder, is_bag=True)
    staged = stage(out)
    try:
        count = write_frames_bag(staged, read_frames(files[:max_frames]), topic=topic,
                                 storage=storage, compressed=compressed, encoding=encoding,
                                 start_ns=round(start_s * 1e9), period_ns=round(1e9 / rate),
                                 version=version, frame_id=frame_id)
        move_into_place(staged, out)
    except BaseException:
        discard(staged)
        raise
    return count, first_box


def build_parser() -> argparse.ArgumentParser:
    """Build the command line."""
    p = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="folder of frames, or a sequence folder (img/)")
    p.add_argument("out", type=Path, help="the new rosbag2 folder")
    p.add_argument("--topic", help=f"image topic (default {DEFAULT_TOPIC}, with --compressed "
                                   f"{DEFAULT_TOPIC}/compressed)")
    p.add_argument("--rate", type=float, default=30.0, help="frames per second (default 30)")
    p.add_argument("--compressed", action="store_true",
                   help="sensor_msgs/CompressedImage (JPEG) instead of sensor_msgs/Image")
    p.add_argument("--encoding", choices=sorted(ENCODERS), default="bgr8",
                   help="sensor_msgs/Image encoding (default bgr8)")
    p.add_argument("--storage", choices=sorted(STORAGES), default="mcap")
    p.add_argument("--bag-version", type=int, choices=BAG_VERSIONS, default=DEFAULT_BAG_VERSION,
                   help="rosbag2 metadata version: 8 (default) is read by Humble, Jazzy, Kilted")
    p.add_argument("--start", type=float, default=DEFAULT_START_S, metavar="SEC",
                   help="stamp of the first frame, seconds (default %(default).0f)")
    p.add_argument("--frame-id", default="camera", help="header frame_id (default camera)")
    p.add_argument("--max-frames", type=int, help="only the first N frames")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bag")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point: write the bag, print what to run next."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"[{PROG}] %(levelname)s: %(message)s")
    if not 0.1 <= args.rate <= 10_000:
        return fail(PROG, f"--rate must lie in 0.1..10000 frames per second, got {args.rate:g}",
                    EXIT_USAGE)
    if args.max_frames is not None and args.max_frames < 1:
        return fail(PROG, "--max-frames must be at least 1", EXIT_USAGE)
    if args.start < 0:
        return fail(PROG, f"--start must not be negative, got {args.start:g}", EXIT_USAGE)
    topic = args.topic or (f"{DEFAULT_TOPIC}/compressed" if args.compressed else DEFAULT_TOPIC)
    try:
        count, first_box = images_to_bag(
            args.folder, args.out, topic=topic, rate=args.rate, compressed=args.compressed,
            encoding=args.encoding, storage=args.storage, version=args.bag_version,
            start_s=args.start, frame_id=args.frame_id, max_frames=args.max_frames,
            overwrite=args.overwrite)
    except (BagInputError, DatasetError, OSError) as exc:
        return fail(PROG, str(exc))
    kind = "JPEG CompressedImage" if args.compressed else f"Image {args.encoding}"
    print(f"wrote {args.out}: {count} frame(s) on {topic} ({kind}, {args.rate:g} Hz, "
          f"{args.storage})")
    box = ("x,y,w,h" if first_box is None or not np.all(np.isfinite(first_box))
           else ",".join(f"{v:g}" for v in first_box))
    print(f"track it: rtmdnet-bag {args.out} --topic {topic} --box {box} --csv track.csv")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
