# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The outputs of ``rtmdnet-bag``: a bag with our topics, the per-frame table, an annotated MP4.

Each writer streams (a frame is written as soon as it is answered), so memory stays flat in the
bag's length. :class:`Outputs` holds the ones a run asked for and gives the frame loop a single
place to hand each answer to, and the run a single place to finish them.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np
from rosbags.interfaces import (
    Connection,
    MessageDefinitionFormat,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import StoragePlugin, Writer

from rtmdnet_ros.bag import types as bagtypes
from rtmdnet_ros.bag.reading import BagInputError
from rtmdnet_ros.ros_io.cli import one_line
from rtmdnet_ros.ros_io.image_conversion import rgb_to_bgr
from rtmdnet_ros.ros_io.messages import MessageTypes, answer_messages, draw_debug
from rtmdnet_ros.track_session import IDLE, STATE_NAMES

LOG = logging.getLogger(__name__)

# rosbag2 metadata versions the writer offers. 8 (the default) is the newest that Humble's
# `ros2 bag` parses: from 9 on, metadata.yaml holds the offered QoS profiles as a YAML list of
# named policies, where Humble reads a string of numbered ones ("bad conversion"). Jazzy and
# Kilted read both. docs/bag.md, "Which ROS 2 reads the output".
BAG_VERSIONS = (8, 9)
DEFAULT_BAG_VERSION = 8
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
# What the node offers on ~/detections and ~/status (node/outputs.py OUTPUT_QOS), recorded with our
# topics as a recording of the node would: `ros2 bag play` on Humble parses this list and fails
# on an empty one; later distros then replay with the node's own QoS.
_UNSET = QosTime(0, 0)
OUTPUT_QOS = Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE,
                 _UNSET, _UNSET, QosLiveliness.AUTOMATIC, _UNSET, False)


@dataclass
class FrameRecord:
    """One image of the topic and what the tracker said about it (a row of the CSV/JSON)."""

    frame: int
    stamp_ns: int
    bag_time_ns: int
    state: str
    x: float | None = None
    y: float | None = None
    w: float | None = None
    h: float | None = None
    score: float = 0.0
    raw_score: float = 0.0
    track_id: str = ""
    processing_ms: float = 0.0
    note: str = ""


def check_output_path(path: Path, overwrite: bool, bag: Path, is_bag: bool = False) -> None:
    """Refuse an existing output unless ``--overwrite``; never replace anything but an output.

    With ``--overwrite`` a file will be replaced; a folder only when it is a rosbag2 folder
    (``metadata.yaml`` inside), so a mistyped path never removes a user's directory. Nothing
    is removed here: :meth:`Outputs.close` replaces the old output once the new one is complete.
    """
    if path.resolve() == bag.resolve():
        raise BagInputError(f"output {path} is the input bag")
    if not path.exists() and not path.is_symlink():
        if not path.parent.is_dir():
            raise BagInputError(f"output {path}: folder {path.parent} does not exist")
        return
    if not overwrite:
        raise BagInputError(f"output {path} exists (pass --overwrite to replace it)")
    if path.is_dir() and not path.is_symlink() and not (
            is_bag and (path / "metadata.yaml").is_file()):
        raise BagInputError(f"output {path} is a folder that is not a rosbag2 bag: refused")


class BagOutput:
    """The output bag: copied input topics plus ``<ns>/detections`` and ``<ns>/status``."""

    def __init__(self, path: Path, storage: str, store: Any, namespace: str,
                 version: int = DEFAULT_BAG_VERSION) -> None:
        self.store = store
        self.writer = Writer(path, version=version, storage_plugin=STORAGES[storage])
        self.writer.open()
        self._copies: dict[int, Connection] = {}
        self._by_key: dict[tuple[Any, ...], Connection] = {}
        ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
        self.detections_topic = f"{ns}/detections"
        self.status_topic = f"{ns}/status"
        self._det = self.writer.add_connection(self.detections_topic, bagtypes.DETECTIONS,
                                               typestore=store,
                                               offered_qos_profiles=[OUTPUT_QOS])
        self._status = self.writer.add_connection(self.status_topic, bagtypes.STATUS,
                                                  typestore=store,
                                                  offered_qos_profiles=[OUTPUT_QOS])

    def add_copy(self, conn: Connection, in_store: Any) -> None:
        """Register an input connection for raw copying, keeping its definition and QoS."""
        if conn.topic in (self.detections_topic, self.status_topic):
            raise BagInputError(
                f"input topic {conn.topic} has the name of an output topic: "
                "pass another --namespace"
            )
        qos = list(getattr(conn.ext, "offered_qos_profiles", []) or [])
        fmt = getattr(conn.ext, "serialization_format", "cdr")
        key = (conn.topic, conn.msgtype, fmt)
        if key in self._by_key:
            self._copies[conn.id] = self._by_key[key]
            return
        if conn.msgdef.format == MessageDefinitionFormat.MSG and conn.msgdef.data and conn.digest:
            out = self.writer.add_connection(conn.topic, conn.msgtype, msgdef=conn.msgdef.data,
                                             rihs01=conn.digest, serialization_format=fmt,
                                             offered_qos_profiles=qos)
        else:
            out = self.writer.add_connection(conn.topic, conn.msgtype, typestore=in_store,
                                             serialization_format=fmt, offered_qos_profiles=qos)
        self._copies[conn.id] = self._by_key[key] = out

    def copy(self, conn: Connection, timestamp: int, raw: bytes | memoryview) -> None:
        """Write an input message unchanged (no deserialisation: the cheap path)."""
        out = self._copies.get(conn.id)
        if out is not None:
            self.writer.write(out, timestamp, raw)

    def write(self, timestamp: int, detections: Any, status: Any) -> None:
        """Serialise and write one frame's detections and status at the image's bag time."""
        self.writer.write(self._det, timestamp,
                          self.store.serialize_cdr(detections, bagtypes.DETECTIONS))
        self.writer.write(self._status, timestamp,
                          self.store.serialize_cdr(status, bagtypes.STATUS))

    def close(self) -> None:
        """Finish the bag (metadata.yaml, MCAP summary); safe after an error too."""
        self.writer.close()


class TableOutput:
    """Per-frame rows as CSV and/or JSON, streamed (a row is written as soon as it exists)."""

    COLUMNS = [f.name for f in FrameRecord.__dataclass_fields__.values()]

    def __init__(self, csv_path: Path | None, json_path: Path | None, meta: dict[str, Any]):
        self._csv_file: IO[str] | None = None
        self._csv: Any = None
        self._json: IO[str] | None = None
        self._first = True
        if csv_path is not None:
            self._csv_file = csv_path.open("w", newline="")
            self._csv = csv.DictWriter(self._csv_file, fieldnames=self.COLUMNS)
            self._csv.writeheader()
        if json_path is not None:
            self._json = json_path.open("w")
            head = json.dumps(meta, indent=1)[:-2]  # drop the closing "\n}" to stream frames
            self._json.write(head + ',\n "frames": [')

    def row(self, record: FrameRecord) -> None:
        """Append one frame to each table."""
        values = asdict(record)
        if self._csv is not None:
            self._csv.writerow({k: ("" if v is None else v) for k, v in values.items()})
        if self._json is not None:
            self._json.write(("\n  " if self._first else ",\n  ") + json.dumps(values))
            self._first = False

    def close(self, summary: dict[str, Any] | None) -> None:
        """Close the CSV; end the JSON with the summary (null when the run failed)."""
        if self._csv_file is not None:
            self._csv_file.close()
        if self._json is not None:
            self._json.write('\n ],\n "summary": ' + json.dumps(summary) + "\n}\n")
            self._json.close()


class VideoOutput:
    """Annotated MP4 with the node's debug drawing; opened on the first frame (its size)."""

    def __init__(self, path: Path, fps: float, shown: Path | None = None) -> None:
        self.path, self.fps, self.shown = path, fps, shown or path
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None

    def frame(self, rgb: np.ndarray, state: int, box: Any, score: float, track_id: str,
              label: str) -> None:
        """Draw and append one frame (frames of another size are resized to the first)."""
        bgr = draw_debug(rgb_to_bgr(rgb), state, box, score, track_id, label)
        height, width = bgr.shape[:2]
        if self._writer is None:
            self._size = (width, height)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"),
                                           self.fps, self._size)
            if not self._writer.isOpened():
                raise BagInputError(f"cannot write video {self.shown} (OpenCV mp4v writer)")
        if (width, height) != self._size:
            bgr = cv2.resize(bgr, self._size)
        self._writer.write(bgr)

    def close(self) -> None:
        """Finish the MP4 file."""
        if self._writer is not None:
            self._writer.release()


class Outputs:
    """The writers one run asked for; each answered or skipped frame goes to all of them.

    Every writer writes under a temporary name (:func:`stage`) and the files are moved to the
    names the user gave only when the run succeeded: a failed or interrupted run leaves nothing
    behind that a corrected retry would have to ``--overwrite``, and an ``--overwrite`` run
    keeps the previous output until the new one is complete.
    """

    def __init__(self, label: str, device: str, types: MessageTypes) -> None:
        self.bag: BagOutput | None = None
        self.table: TableOutput | None = None
        self.video: VideoOutput | None = None
        self._label, self._device, self._types = label, device, types
        self._staged: list[tuple[Path, Path]] = []  # (temporary, final)

    def stage(self, final: Path) -> Path:
        """Return the temporary path a writer of ``final`` writes to until the run succeeds."""
        staged = stage(final)
        self._staged.append((staged, final))
        return staged

    def copy(self, conn: Connection, timestamp: int, raw: bytes | memoryview) -> None:
        """Copy an input message into the output bag (when there is one)."""
        if self.bag is not None:
            self.bag.copy(conn, timestamp, raw)

    def skipped(self, record: FrameRecord) -> None:
        """Write the row of a frame without an answer (SKIPPED, the reason in ``record.note``)."""
        if self.table is not None:
            self.table.row(record)

    def answered(self, bag_time: int, header: Any, answer: Any, status: Any, rgb: np.ndarray,
                 record: FrameRecord) -> None:
        """Write one frame's answer: detections and status, the drawn frame, the table row."""
        if self.bag is not None:
            self.bag.write(bag_time, *answer_messages(header, answer, status, 0, self._device,
                                                      types=self._types))
        if self.video is not None:
            self.video.frame(rgb, answer.state, answer.box, answer.score, answer.track_id,
                             self._label)
        if self.table is not None:
            record.state = STATE_NAMES[answer.state]
            record.score, record.raw_score = answer.score, answer.raw
            record.track_id, record.processing_ms = answer.track_id, status.processing_ms
            if answer.box is not None and answer.state != IDLE:
                record.x, record.y, record.w, record.h = (float(v) for v in answer.box)
            self.table.row(record)

    def close(self, summary: dict[str, Any] | None) -> None:
        """Finish every writer, then move the outputs into place, or remove them on failure.

        ``summary`` None means the run failed. A writer that cannot be finished fails the run
        (its file would be incomplete); one failing hides no other and never the first error.
        """
        table = self.table
        closers = [
            self.bag.close if self.bag is not None else None,
            (lambda: table.close(summary)) if table is not None else None,
            self.video.close if self.video is not None else None,
        ]
        failed = None
        for closer in filter(None, closers):
            try:
                closer()
            except Exception as exc:  # finishing must not hide the first error
                LOG.error("closing an output failed: %s", one_line(exc, with_type=True))
                failed = failed or exc
        if summary is None or failed is not None:
            for staged, _ in self._staged:
                discard(staged)
            if summary is not None:
                why = one_line(failed, with_type=True)
                raise BagInputError(f"an output could not be finished: {why}")
            return
        for index, (staged, final) in enumerate(self._staged):
            try:
                move_into_place(staged, final)
            except OSError as exc:
                for rest, _ in self._staged[index:]:
                    discard(rest)
                raise BagInputError(f"output {final} cannot be moved into place: "
                                    f"{one_line(exc, with_type=True)}") from None


def stage(final: Path) -> Path:
    """Return ``<folder>/.<name>.XXXX.partial/<name>``, a fresh path beside ``final``.

    The same folder makes the final move a rename; the same name keeps what the writers derive
    from it (rosbags names a bag's files after its folder, OpenCV picks the codec by suffix).
    """
    folder = tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
    return Path(folder) / final.name


def discard(staged: Path) -> None:
    """Remove a staged output and its temporary folder."""
    shutil.rmtree(staged.parent, ignore_errors=True)


def move_into_place(staged: Path, final: Path) -> None:
    """Replace ``final`` (checked by :func:`check_output_path`) with the finished output."""
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)  # a rosbag2 folder, replaced under --overwrite
    elif staged.is_dir() and (final.exists() or final.is_symlink()):
        final.unlink()
    os.replace(staged, final)
    staged.parent.rmdir()
