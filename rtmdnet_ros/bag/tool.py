# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Track a target through a rosbag2 recording, offline: every frame, in order, streamed.

Why offline differs from the node: a live node tracks the newest frame and drops the rest; a
recording has all the time in the world, so every image is tracked (``update_mode="sync"`` by
default, which also makes the run reproducible). Everything else is the node's: the image
conversion (``ros_io.image_conversion``), the track session (``track_session``: init checks,
size checks, states, track numbers), the answers and their messages (``ros_io.messages``), the
debug drawing. Memory stays flat in the bag's length: messages are
streamed from the reader to the writer one at a time; only the stamps and boxes of detector
output (when ``--reinit`` needs them) are kept, a few dozen bytes each.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
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
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.serde import SerdeError
from rosbags.typesys.base import TypesysError

from rtmdnet_ros.bag import types as bagtypes
from rtmdnet_ros.ros_io.image_conversion import (
    ImageConversionError,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    rgb_to_bgr,
)
from rtmdnet_ros.ros_io.messages import answer_messages, bbox_to_xywh, draw_debug
from rtmdnet_ros.track_session import IDLE, LOST, STATE_NAMES, TRACKING, TrackSession

LOG = logging.getLogger(__name__)

IMAGE_TYPES = (bagtypes.IMAGE, bagtypes.COMPRESSED)
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


@dataclass
class BagRunOptions:
    """What to read, how to start, what to write: one run of ``rtmdnet-bag``."""

    bag: Path
    topic: str
    box: tuple[float, float, float, float] | None = None
    start: str | None = None  # seconds after the first frame, or "stamp:SEC.NSEC"
    detections_topic: str | None = None
    class_id: str | None = None
    reinit: bool = False
    out_bag: Path | None = None
    out_storage: str = "mcap"
    bag_version: int = DEFAULT_BAG_VERSION  # rosbag2 metadata version of --out-bag (see above)
    csv: Path | None = None
    json: Path | None = None
    video: Path | None = None
    overwrite: bool = False
    namespace: str = "/rtmdnet_tracker"
    label: str = "object"
    lost_score_threshold: float = 0.5
    copy_topics: bool = True
    max_frames: int | None = None


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


@dataclass
class Summary:
    """Counts and speed of a run, printed by the CLI and written into the JSON."""

    frames: int = 0  # image messages read from the topic
    processed: int = 0  # decoded and run through the tracker (or answered IDLE)
    tracked: int = 0
    lost: int = 0
    idle: int = 0
    skipped: int = 0  # undecodable, or of another size than the track's first frame
    inits: int = 0
    wall_s: float = 0.0
    tracker_s: float = 0.0  # inside Tracker.init/update
    outputs: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Frames per second of wall time (decode, track, write)."""
        return self.processed / self.wall_s if self.wall_s > 0 else 0.0


def parse_box(text: str) -> tuple[float, float, float, float]:
    """Parse ``x,y,w,h`` (pixels, top-left corner); positive finite size or an error."""
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)) or values[2] <= 0 or values[3] <= 0:
        raise BagInputError(
            f"--box expects x,y,w,h with a positive width and height, got {text!r}")
    return values  # type: ignore[return-value]


def stamp_ns(header: Any) -> int:
    """Header stamp as integer nanoseconds (the key images and detections are matched by)."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def _start_rule(start: str | None) -> Callable[[int, int], bool]:
    """Return ``ready(stamp, first_stamp)`` for ``--start``: a time after the first frame."""
    if start is None:
        return lambda stamp, first: True
    text = start.strip()
    try:
        if text.startswith("stamp:"):
            sec, _, frac = text[6:].partition(".")
            absolute = int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
            return lambda stamp, first: stamp >= absolute
        offset = round(float(text) * 1e9)
    except ValueError:
        raise BagInputError(
            f"--start expects seconds after the first frame (e.g. 2.5) or stamp:SEC.NSEC, "
            f"got {start!r}"
        ) from None
    if offset < 0:
        raise BagInputError(f"--start must not be negative, got {start!r}")
    return lambda stamp, first: stamp - first >= offset


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
        raise BagInputError(f"bag {path} cannot be read: {_one_line(exc)}") from None
    return reader


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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


def check_output_path(path: Path, overwrite: bool, bag: Path, is_bag: bool = False) -> None:
    """Refuse an existing output unless ``--overwrite``; never delete anything but an output.

    With ``--overwrite`` a file is replaced; a folder only when it is a rosbag2 folder
    (``metadata.yaml`` inside), so a mistyped path never removes a user's directory.
    """
    if path.resolve() == bag.resolve():
        raise BagInputError(f"output {path} is the input bag")
    if not path.exists() and not path.is_symlink():
        if not path.parent.is_dir():
            raise BagInputError(f"output {path}: folder {path.parent} does not exist")
        return
    if not overwrite:
        raise BagInputError(f"output {path} exists (pass --overwrite to replace it)")
    if path.is_dir() and not path.is_symlink():
        if not (is_bag and (path / "metadata.yaml").is_file()):
            raise BagInputError(f"output {path} is a folder that is not a rosbag2 bag: refused")
        shutil.rmtree(path)
    else:
        path.unlink()


# ---------------------------------------------------------------------------------- outputs ---



class BagOutput:
    """The output bag: copied input topics plus ``<ns>/detections`` and ``<ns>/status``."""

    def __init__(self, path: Path, storage: str, store: Any, namespace: str,
                 version: int = DEFAULT_BAG_VERSION) -> None:
        self.store = store
        if version not in BAG_VERSIONS:
            raise BagInputError(f"--bag-version must be one of {BAG_VERSIONS}, got {version}")
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

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
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
                raise BagInputError(f"cannot write video {self.path} (OpenCV mp4v writer)")
        if (width, height) != self._size:
            bgr = cv2.resize(bgr, self._size)
        self._writer.write(bgr)

    def close(self) -> None:
        """Finish the MP4 file."""
        if self._writer is not None:
            self._writer.release()


# ------------------------------------------------------------------------------ the run -----


def _detection_boxes(reader: Reader, conns: list[Connection], store: Any, class_id: str | None,
                     first_only: bool) -> Iterator[tuple[int, tuple[float, float, float, float]]]:
    """Yield (stamp_ns, box) of the usable detector output, in bag order.

    One box per message: the highest-scoring detection of ``class_id`` (any class when None).
    A first, light pass over the bag: only this small topic is deserialised.
    """
    for conn, _, raw in reader.messages(connections=conns):
        msg = store.deserialize_cdr(raw, conn.msgtype)
        best: tuple[float, tuple[float, float, float, float]] | None = None
        for det in msg.detections:
            results = list(det.results) or [None]
            for result in results:
                hyp = getattr(result, "hypothesis", result)
                cls = str(getattr(hyp, "class_id", getattr(hyp, "id", ""))) if hyp else ""
                score = float(getattr(hyp, "score", 0.0)) if hyp else 0.0
                if class_id is not None and cls != class_id:
                    continue
                box = bbox_to_xywh(det.bbox)
                if box[2] > 0 and box[3] > 0 and (best is None or score > best[0]):
                    best = (score, box)
        if best is not None:
            stamp = stamp_ns(msg.header)
            if stamp == 0 and msg.detections:
                stamp = stamp_ns(msg.detections[0].header)
            yield stamp, best[1]
            if first_only:
                return


def _decode(store: Any, conn: Connection, raw: bytes | memoryview) -> tuple[Any, np.ndarray]:
    """Deserialise one image message and convert it to RGB (the node's conversion)."""
    try:
        msg = store.deserialize_cdr(raw, conn.msgtype)
    except Exception as exc:  # data-driven: any parse failure of a corrupt message
        raise ImageConversionError(
            f"cannot deserialise {conn.msgtype}: {_one_line(exc)}") from None
    if conn.msgtype == bagtypes.COMPRESSED:
        return msg, compressed_msg_to_rgb(msg)
    return msg, image_msg_to_rgb(msg)


def _nominal_fps(reader: Reader, conns: list[Connection]) -> float:
    count = sum(c.msgcount for c in conns)
    duration = reader.duration / 1e9 if reader.message_count else 0.0
    fps = (count - 1) / duration if count > 1 and duration > 0 else 30.0
    return float(min(max(fps, 1.0), 120.0))


def run_bag(
    options: BagRunOptions,
    make_tracker: Callable[[], Any],
    progress: Callable[[int], Any] | None = None,
) -> Summary:
    """Track ``options.topic`` of ``options.bag`` and write the outputs.

    ``make_tracker()`` returns a :class:`rtmdnet_ros.tracker.Tracker` (or anything with
    ``init``/``update``/``device``); it is called only once the bag, the topics and the output
    paths have been checked, so bad input is refused in a moment instead of after loading a
    model, and the tracker is closed at the end. ``progress(total)`` returns an object with
    ``update(n)`` and ``close()`` (a tqdm bar in the CLI). Raises :class:`BagInputError` for bad
    input; outputs written so far are finished (closed) either way.
    """
    if options.box is None and options.detections_topic is None:
        raise BagInputError("give the target: --box x,y,w,h or --detections-topic TOPIC")
    if options.box is not None and options.detections_topic is not None:
        raise BagInputError("--box and --detections-topic exclude each other")
    if options.out_storage not in STORAGES:
        raise BagInputError(f"--out-storage must be mcap or sqlite3, not {options.out_storage!r}")
    ready = _start_rule(options.start)
    reader = open_bag(options.bag)
    outputs: list[tuple[Path, bool]] = [(p, False) for p in (options.csv, options.json,
                                                              options.video) if p is not None]
    if options.out_bag is not None:
        outputs.append((options.out_bag, True))
    summary = Summary()
    started = time.perf_counter()
    bag_out: BagOutput | None = None
    table: TableOutput | None = None
    video: VideoOutput | None = None
    bar = None
    tracker = None
    ok = False
    try:
        image_conns = select_topic(reader, options.topic, IMAGE_TYPES, "image")
        det_conns: list[Connection] = []
        if options.detections_topic is not None:
            det_conns = select_topic(reader, options.detections_topic, (bagtypes.DETECTIONS,),
                                     "Detection2DArray")
        for path, is_bag in outputs:
            check_output_path(path, options.overwrite, options.bag, is_bag)
        try:
            in_store = bagtypes.input_typestore(reader.connections)
            out_store = bagtypes.output_typestore()
        except (TypesysError, bagtypes.BagTypeError) as exc:
            raise BagInputError(f"message definitions: {_one_line(exc)}") from None
        types = bagtypes.message_types(out_store)
        detections: Iterator[tuple[int, tuple[float, float, float, float]]] = iter(())
        if det_conns:
            try:
                found = list(_detection_boxes(reader, det_conns, in_store, options.class_id,
                                              first_only=not options.reinit))
            except bag_errors() as exc:
                raise BagInputError(
                    f"detections on {options.detections_topic} cannot be read: {_one_line(exc)}"
                ) from None
            if not found:
                which = f" of class {options.class_id!r}" if options.class_id is not None else ""
                raise BagInputError(
                    f"no detection{which} on {options.detections_topic}: nothing to start on"
                )
            found.sort(key=lambda item: item[0])
            detections = iter(found)
        tracker = make_tracker()
        if options.out_bag is not None:
            bag_out = BagOutput(options.out_bag, options.out_storage, out_store, options.namespace,
                                options.bag_version)
            if options.copy_topics:
                for conn in reader.connections:
                    bag_out.add_copy(conn, in_store)
            summary.outputs.append(str(options.out_bag))
        if options.csv is not None or options.json is not None:
            meta = {"bag": str(options.bag), "topic": options.topic,
                    "device": str(getattr(tracker, "device", "")),
                    "lost_score_threshold": options.lost_score_threshold}
            table = TableOutput(options.csv, options.json, meta)
            summary.outputs += [str(p) for p in (options.csv, options.json) if p is not None]
        if options.video is not None:
            video = VideoOutput(options.video, _nominal_fps(reader, image_conns))
            summary.outputs.append(str(options.video))
        total = sum(c.msgcount for c in image_conns)
        if options.max_frames is not None:
            total = min(total, options.max_frames)
        bar = progress(total) if progress is not None else None
        image_ids = {c.id for c in image_conns}
        wanted = reader.connections if bag_out is not None and options.copy_topics else image_conns
        # The node's own session: init checks, size checks, states, track numbering.
        session = TrackSession(tracker, catch_up_frames=0)
        first_stamp: int | None = None
        box_pending = options.box is not None
        next_det = next(detections, None)
        device = str(getattr(tracker, "device", ""))
        try:
            stream = reader.messages(connections=wanted)
            for conn, bag_time, raw in stream:
                if conn.id not in image_ids:
                    if bag_out is not None:
                        bag_out.copy(conn, bag_time, raw)
                    continue
                if options.max_frames is not None and summary.frames >= options.max_frames:
                    break
                if bag_out is not None:
                    bag_out.copy(conn, bag_time, raw)
                summary.frames += 1
                frame_started = time.perf_counter()
                record = FrameRecord(frame=summary.frames - 1, stamp_ns=0, bag_time_ns=bag_time,
                                     state="SKIPPED")
                try:
                    msg, rgb = _decode(in_store, conn, raw)
                except ImageConversionError as exc:
                    summary.skipped += 1
                    LOG.warning("frame %d (bag time %d) skipped: %s", record.frame, bag_time, exc)
                    record.note = str(exc)
                    if table is not None:
                        table.row(record)
                    if bar is not None:
                        bar.update(1)
                    continue
                stamp = stamp_ns(msg.header)
                record.stamp_ns = stamp
                first_stamp = stamp if first_stamp is None else first_stamp
                header = bagtypes.copy_header(out_store, msg.header)
                # The start of a track: --box once (at --start), or a detection at this stamp
                # (the latest one at or before it) while idle, or while lost with --reinit.
                init_box = None
                candidate = None
                while next_det is not None and next_det[0] <= stamp:
                    candidate, next_det = next_det, next(detections, None)
                if box_pending and ready(stamp, first_stamp):
                    init_box, box_pending = options.box, False
                elif candidate is not None and (
                    session.state == IDLE or (session.state == LOST and options.reinit)
                ):
                    init_box = candidate[1]
                answer = None
                t0 = time.perf_counter()
                if init_box is not None:
                    begun = session.init(rgb, init_box, summary.frames, header, options.label,
                                         frames_after=list)
                    if begun.success:
                        summary.inits += 1
                        answer = begun.answer
                    elif options.box is not None:
                        raise BagInputError(f"--box {init_box}: {begun.reason}")
                    else:
                        LOG.warning("detection at %d not used: %s", stamp, begun.reason)
                if answer is None:
                    answer = session.track(summary.frames, header, rgb, frame_started)
                summary.tracker_s += time.perf_counter() - t0
                if answer.skipped is not None:  # "size": the only reason with one thread
                    shape = answer.track_shape or (0, 0)
                    summary.skipped += 1
                    record.note = (f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the track "
                                   f"started on {shape[1]}x{shape[0]}")
                    LOG.warning("frame %d skipped: %s", record.frame, record.note)
                    if table is not None:
                        table.row(record)
                    if bar is not None:
                        bar.update(1)
                    continue
                state = answer.state
                summary.processed += 1
                summary.tracked += state == TRACKING
                summary.lost += state == LOST
                summary.idle += state == IDLE
                status = session.status()
                if bag_out is not None:
                    bag_out.write(bag_time, *answer_messages(header, answer, status, 0, device,
                                                             types=types))
                if video is not None:
                    video.frame(rgb, state, answer.box, answer.score, answer.track_id,
                                options.label)
                if table is not None:
                    record.state = STATE_NAMES[state]
                    record.score, record.raw_score = answer.score, answer.raw
                    record.track_id, record.processing_ms = answer.track_id, status.processing_ms
                    if answer.box is not None and state != IDLE:
                        record.x, record.y, record.w, record.h = (float(v) for v in answer.box)
                    table.row(record)
                if bar is not None:
                    bar.update(1)
        except bag_errors() as exc:
            raise BagInputError(
                f"bag {options.bag} is corrupt after {summary.frames} frame(s): {_one_line(exc)}"
            ) from None
        if box_pending:
            raise BagInputError(
                f"--start {options.start}: no frame of {options.topic} at or after that time "
                f"({summary.frames} frame(s) read)"
            )
        ok = True
    finally:
        summary.wall_s = time.perf_counter() - started
        if bar is not None:
            bar.close()
        for closer in (
            (lambda: bag_out.close()) if bag_out is not None else None,
            (lambda: table.close(summary_dict(summary) if ok else None)) if table else None,
            (lambda: video.close()) if video is not None else None,
        ):
            if closer is not None:
                try:
                    closer()
                except Exception as exc:  # finishing must not hide the first error
                    LOG.error("closing an output failed: %s", _one_line(exc))
        reader.close()
        if tracker is not None and hasattr(tracker, "close"):
            tracker.close()
    return summary


def summary_dict(summary: Summary) -> dict[str, Any]:
    """Return the summary as plain values (JSON output, tests)."""
    values = asdict(summary)
    values["fps"] = round(summary.fps, 3)
    return values
