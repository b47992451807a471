# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The input side of ``rtmdnet-bag``: opening a bag, choosing its topics, decoding its images.

Kept apart from the run so that every way a recording can be unusable (no such path, a folder
that is no bag, a corrupt file, an unknown topic, a wrong type) is decided in one place and
reported as one :class:`BagInputError` line before a model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader, ReaderError, WriterError
from rosbags.serde import SerdeError
from rosbags.typesys.base import TypesysError

from rtmdnet_ros.bag import types as bagtypes
from rtmdnet_ros.ros_io.cli import one_line
from rtmdnet_ros.ros_io.image_conversion import (
    ImageConversionError,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
)

IMAGE_TYPES = (bagtypes.IMAGE, bagtypes.COMPRESSED)


class BagInputError(ValueError):
    """Bad input (bag, topic, box, output path): the CLI prints it as one line and exits 1."""


def bag_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this file is not a readable bag" rather than a bug of ours."""
    errors: list[type[BaseException]] = [
        ReaderError, WriterError, SerdeError, TypesysError, OSError, EOFError, KeyError,
    ]
    try:  # rosbags' SQLite3 storage (a file that is not a database, a truncated one)
        import apsw

        errors.append(apsw.Error)
    except ImportError:  # pragma: no cover - a rosbags dependency
        pass
    return tuple(errors)


def open_bag(path: Path) -> Reader:
    """Open a rosbag2 folder or a ``.mcap``/``.db3`` file, or raise :class:`BagInputError`."""
    if not path.exists():
        raise BagInputError(f"bag {path}: no such file or folder")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        # rosbags would say "Expected metadata file '<the folder>' does not exist".
        found = sorted(p.name for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
        hint = (f"; it holds {', '.join(found[:3])}: give one of those files instead"
                if found else "")
        raise BagInputError(f"bag {path}: this folder is not a rosbag2 recording (no "
                            f"metadata.yaml in it){hint}")
    try:
        reader = Reader(path)
        reader.open()
    except bag_errors() as exc:
        why = one_line(exc, with_type=True)
        raise BagInputError(f"bag {path} cannot be read: {why}") from None
    return reader


def image_topics(reader: Reader) -> dict[str, str]:
    """Topic -> type of every image topic in the bag (for the unknown-topic message)."""
    return {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}


def select_topic(
    reader: Reader, topic: str, wanted: tuple[str, ...], what: str
) -> list[Connection]:
    """Return the connections of ``topic``; unknown topic or wrong type is a one-line error."""
    found = [c for c in reader.connections if c.topic == topic]
    if not found:
        if what == "image":
            listed = ", ".join(f"{t} ({m})" for t, m in sorted(image_topics(reader).items()))
            raise BagInputError(
                f"topic {topic} is not in bag {reader.path}; its image topics: "
                + (listed or "none")
            )
        listed = ", ".join(sorted({c.topic for c in reader.connections if c.msgtype in wanted}))
        raise BagInputError(
            f"topic {topic} is not in bag {reader.path}; its {what} topics: {listed or 'none'}"
        )
    wrong = sorted({c.msgtype for c in found if c.msgtype not in wanted})
    if wrong:
        raise BagInputError(
            f"topic {topic} has type {', '.join(wrong)}, not " + " or ".join(wanted)
        )
    return found


def decode(store: Any, conn: Connection, raw: bytes | memoryview) -> tuple[Any, np.ndarray]:
    """Deserialise one image message and convert it to RGB (the node's conversion)."""
    try:
        msg = store.deserialize_cdr(raw, conn.msgtype)
    except Exception as exc:  # data-driven: any parse failure of a corrupt message
        raise ImageConversionError(
            f"cannot deserialise {conn.msgtype}: {one_line(exc, with_type=True)}") from None
    if conn.msgtype == bagtypes.COMPRESSED:
        return msg, compressed_msg_to_rgb(msg)
    return msg, image_msg_to_rgb(msg)


def nominal_fps(reader: Reader, conns: list[Connection]) -> float:
    """Return the topic's mean frame rate (the video's rate); 30 when it cannot be told."""
    count = sum(c.msgcount for c in conns)
    duration = reader.duration / 1e9 if reader.message_count else 0.0
    fps = (count - 1) / duration if count > 1 and duration > 0 else 30.0
    return float(min(max(fps, 1.0), 120.0))
