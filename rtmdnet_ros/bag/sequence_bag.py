# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Write a folder of frames (the shared sequence format) as a rosbag2, for tests and benches.

Why: ``ros2 bag record`` is not available here, and the bag tool must be checked on real bags
written by the same library that reads them, raw and compressed, MCAP and SQLite3. Also handy
for a user who wants to try ``rtmdnet-bag`` on an image folder.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rosbags.rosbag2 import Writer

from rtmdnet_ros.bag import types as bagtypes
from rtmdnet_ros.bag.outputs import DEFAULT_BAG_VERSION, STORAGES

# Encodings this writer can produce from an 8-bit BGR frame (a subset of the node's readers).
ENCODERS = {
    "bgr8": lambda bgr: bgr,
    "rgb8": lambda bgr: cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
    "bgra8": lambda bgr: cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
    "mono8": lambda bgr: cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[:, :, None],
    "mono16": lambda bgr: (cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)[
        :, :, None],
}


def header(store: Any, stamp_ns: int, frame_id: str = "camera") -> Any:
    """Return a ``std_msgs/Header`` of ``store`` with the given stamp."""
    time_cls = store.types["builtin_interfaces/msg/Time"]
    return store.types["std_msgs/msg/Header"](
        stamp=time_cls(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
        frame_id=frame_id,
    )


def image_message(store: Any, bgr: np.ndarray, stamp_ns: int, encoding: str = "bgr8",
                  big_endian: bool = False, padding: int = 0, frame_id: str = "camera") -> Any:
    """Return ``bgr`` as a ``sensor_msgs/Image`` in ``encoding`` (big-endian, padded rows)."""
    pixels = np.ascontiguousarray(ENCODERS[encoding](bgr))
    if big_endian and pixels.dtype.itemsize > 1:
        pixels = pixels.astype(pixels.dtype.newbyteorder(">"))
    height, width = pixels.shape[:2]
    row = pixels.reshape(height, -1).view(np.uint8)
    if padding:
        row = np.hstack([row, np.zeros((height, padding), np.uint8)])
    return store.types[bagtypes.IMAGE](
        header=header(store, stamp_ns, frame_id), height=height, width=width, encoding=encoding,
        is_bigendian=int(big_endian), step=row.shape[1],
        data=np.ascontiguousarray(row).reshape(-1),
    )


def compressed_message(store: Any, bgr: np.ndarray, stamp_ns: int, fmt: str = "jpeg",
                       frame_id: str = "camera") -> Any:
    """Return a ``sensor_msgs/CompressedImage`` as image_transport writes it."""
    ok, data = cv2.imencode(".jpg" if fmt == "jpeg" else ".png", bgr)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ValueError("encoding failed")
    return store.types[bagtypes.COMPRESSED](
        header=header(store, stamp_ns, frame_id), format=f"bgr8; {fmt} compressed bgr8",
        data=np.asarray(data, dtype=np.uint8).reshape(-1),
    )


def write_frames_bag(
    path: Path,
    frames: Iterable[np.ndarray],
    topic: str = "/camera/image_raw",
    storage: str = "mcap",
    compressed: bool = False,
    encoding: str = "bgr8",
    start_ns: int = 1_700_000_000_000_000_000,
    period_ns: int = 33_333_333,
    extra: Iterable[tuple[str, str, int, Any]] = (),
    version: int = DEFAULT_BAG_VERSION,
    frame_id: str = "camera",
) -> int:
    """Write BGR ``frames`` to a new bag, one message per frame; return the frame count.

    ``extra``: (topic, msgtype, bag_time_ns, message) written too (e.g. detector output);
    message stamps and bag times are ``start_ns + i * period_ns``.
    """
    store = bagtypes.output_typestore()
    msgtype = bagtypes.COMPRESSED if compressed else bagtypes.IMAGE
    count = 0
    with Writer(path, version=version, storage_plugin=STORAGES[storage]) as writer:
        conn = writer.add_connection(topic, msgtype, typestore=store)
        extra_conns: dict[tuple[str, str], Any] = {}
        pending = sorted(extra, key=lambda item: item[2])
        for index, bgr in enumerate(frames):
            stamp = start_ns + index * period_ns
            msg = (compressed_message(store, bgr, stamp, frame_id=frame_id) if compressed
                   else image_message(store, bgr, stamp, encoding, frame_id=frame_id))
            writer.write(conn, stamp, store.serialize_cdr(msg, msgtype))
            count += 1
            while pending and pending[0][2] <= stamp + period_ns // 2:
                e_topic, e_type, e_time, e_msg = pending.pop(0)
                key = (e_topic, e_type)
                if key not in extra_conns:
                    extra_conns[key] = writer.add_connection(e_topic, e_type, typestore=store)
                writer.write(extra_conns[key], e_time, store.serialize_cdr(e_msg, e_type))
    return count


def read_sequence_frames(folder: Path, count: int) -> list[np.ndarray]:
    """Read the first ``count`` BGR frames of a shared sequence folder (``img/*.jpg``)."""
    files = sorted((folder / "img").glob("*.jpg"))[:count]
    return [cv2.imread(str(f)) for f in files]
