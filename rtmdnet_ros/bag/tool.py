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

The parts: ``reading`` (the bag, its topics, image decoding), ``schedule`` (when a track starts
and on which box), ``outputs`` (the writers); this module checks a run's options, wires the
parts and streams the frames through the session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader
from rosbags.typesys.base import TypesysError

from rtmdnet_ros.bag import types as bagtypes
from rtmdnet_ros.bag.outputs import (
    BAG_VERSIONS,
    DEFAULT_BAG_VERSION,
    STORAGES,
    BagOutput,
    FrameRecord,
    Outputs,
    TableOutput,
    VideoOutput,
    check_output_path,
)
from rtmdnet_ros.bag.reading import (
    IMAGE_TYPES,
    BagInputError,
    bag_errors,
    decode,
    nominal_fps,
    open_bag,
    select_topic,
)
from rtmdnet_ros.bag.schedule import StartSchedule, start_rule
from rtmdnet_ros.ros_io.cli import one_line
from rtmdnet_ros.ros_io.image_conversion import ImageConversionError
from rtmdnet_ros.ros_io.stamps import header_stamp_ns
from rtmdnet_ros.track_session import IDLE, LOST, TRACKING, TrackSession

LOG = logging.getLogger(__name__)


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

    def count(self, state: int) -> None:
        """Count one answered frame by its state."""
        self.processed += 1
        self.tracked += state == TRACKING
        self.lost += state == LOST
        self.idle += state == IDLE


def summary_dict(summary: Summary) -> dict[str, Any]:
    """Return the summary as plain values (JSON output, tests)."""
    values = asdict(summary)
    values["fps"] = round(summary.fps, 3)
    return values


def check_options(options: BagRunOptions) -> None:
    """Refuse a contradictory or malformed run before the bag is even opened."""
    if options.box is None and options.detections_topic is None:
        raise BagInputError("give the target: --box x,y,w,h or --detections-topic TOPIC")
    if options.box is not None and options.detections_topic is not None:
        raise BagInputError("--box and --detections-topic exclude each other")
    if options.out_storage not in STORAGES:
        raise BagInputError(f"--out-storage must be mcap or sqlite3, not {options.out_storage!r}")
    if options.bag_version not in BAG_VERSIONS:
        raise BagInputError(
            f"--bag-version must be one of {BAG_VERSIONS}, got {options.bag_version}")
    start_rule(options.start)


@dataclass
class BagInputs:
    """The checked inputs of a run: image topic, type stores and the start schedule."""

    reader: Reader
    image_conns: list[Connection]
    in_store: Any
    out_store: Any
    types: Any
    schedule: StartSchedule


def open_inputs(reader: Reader, options: BagRunOptions) -> BagInputs:
    """Check topics, output paths and message definitions; read the detector's boxes."""
    image_conns = select_topic(reader, options.topic, IMAGE_TYPES, "image")
    det_conns: list[Connection] = []
    if options.detections_topic is not None:
        det_conns = select_topic(reader, options.detections_topic, (bagtypes.DETECTIONS,),
                                 "Detection2DArray")
    outputs = requested_outputs(options)
    for path, is_bag in outputs:
        check_output_path(path, options.overwrite, options.bag, is_bag)
    if not outputs:  # said once the input is known good, so it never precedes an error line
        LOG.warning("no output requested (--out-bag, --csv, --json or --video): the frames "
                    "are tracked and only the summary is printed")
    try:
        in_store = bagtypes.input_typestore(reader.connections)
        out_store = bagtypes.output_typestore()
    except (TypesysError, bagtypes.BagTypeError) as exc:
        raise BagInputError(f"message definitions: {one_line(exc, with_type=True)}") from None
    types = bagtypes.message_types(out_store)
    if det_conns:
        schedule = StartSchedule.from_detections(reader, det_conns, in_store,
                                                 str(options.detections_topic),
                                                 options.class_id, options.reinit)
    else:
        schedule = StartSchedule(options.box, options.start, [], options.reinit)
    return BagInputs(reader, image_conns, in_store, out_store, types, schedule)


def requested_outputs(options: BagRunOptions) -> list[tuple[Path, bool]]:
    """(path, is a bag) of every output the options ask for."""
    bag = [(options.out_bag, True)] if options.out_bag is not None else []
    return bag + [(p, False) for p in (options.csv, options.json, options.video) if p is not None]


def open_outputs(options: BagRunOptions, inputs: BagInputs, device: str,
                 summary: Summary) -> Outputs:
    """Open the writers the options ask for (each listed in ``summary.outputs``)."""
    outputs = Outputs(options.label, device, inputs.types)
    try:
        if options.out_bag is not None:
            outputs.bag = BagOutput(outputs.stage(options.out_bag), options.out_storage,
                                    inputs.out_store, options.namespace, options.bag_version)
            if options.copy_topics:
                for conn in inputs.reader.connections:
                    outputs.bag.add_copy(conn, inputs.in_store)
        if options.csv is not None or options.json is not None:
            meta = {"bag": str(options.bag), "topic": options.topic, "device": device,
                    "lost_score_threshold": options.lost_score_threshold}
            csv_path, json_path = (outputs.stage(p) if p is not None else None
                                   for p in (options.csv, options.json))
            outputs.table = TableOutput(csv_path, json_path, meta)
        if options.video is not None:
            outputs.video = VideoOutput(outputs.stage(options.video),
                                        nominal_fps(inputs.reader, inputs.image_conns),
                                        shown=options.video)
    except BaseException:
        outputs.close(None)
        raise
    summary.outputs += [str(path) for path, _ in requested_outputs(options)]
    return outputs


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class FrameLoop:
    """One run's frames through the session: start when the schedule says, track, write."""

    options: BagRunOptions
    inputs: BagInputs
    session: TrackSession
    outputs: Outputs
    summary: Summary
    bar: Any
    first_stamp: int | None = None

    def stream(self) -> None:
        """Every message in bag order: images tracked, the rest copied (when asked)."""
        options, summary, outputs = self.options, self.summary, self.outputs
        image_ids = {c.id for c in self.inputs.image_conns}
        wanted = (self.inputs.reader.connections if outputs.bag is not None
                  and options.copy_topics else self.inputs.image_conns)
        try:
            for conn, bag_time, raw in self.inputs.reader.messages(connections=wanted):
                if conn.id not in image_ids:
                    outputs.copy(conn, bag_time, raw)
                    continue
                if options.max_frames is not None and summary.frames >= options.max_frames:
                    break
                outputs.copy(conn, bag_time, raw)
                self.frame(conn, bag_time, raw)
        except bag_errors() as exc:
            raise BagInputError(f"bag {options.bag} is corrupt after {summary.frames} frame(s): "
                                f"{one_line(exc, with_type=True)}") from None

    def frame(self, conn: Connection, bag_time: int, raw: bytes | memoryview) -> None:
        """Decode, start or track, and write one image."""
        summary = self.summary
        summary.frames += 1
        frame_started = time.perf_counter()
        record = FrameRecord(frame=summary.frames - 1, stamp_ns=0, bag_time_ns=bag_time,
                             state="SKIPPED")
        try:
            msg, rgb = decode(self.inputs.in_store, conn, raw)
        except ImageConversionError as exc:
            LOG.warning("frame %d (bag time %d) skipped: %s", record.frame, bag_time, exc)
            return self.skip(record, str(exc))
        record.stamp_ns = stamp = header_stamp_ns(msg.header)
        self.first_stamp = stamp if self.first_stamp is None else self.first_stamp
        header = bagtypes.copy_header(self.inputs.out_store, msg.header)
        t0 = time.perf_counter()
        answer = self.start(stamp, rgb, header)
        if answer is None:
            answer = self.session.track(summary.frames, header, rgb, frame_started)
        summary.tracker_s += time.perf_counter() - t0
        if answer.skipped is not None:  # "size": the only reason with one thread
            shape = answer.track_shape or (0, 0)
            note = (f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the track started on "
                    f"{shape[1]}x{shape[0]}")
            LOG.warning("frame %d skipped: %s", record.frame, note)
            return self.skip(record, note)
        summary.count(answer.state)
        self.outputs.answered(bag_time, header, answer, self.session.status(), rgb, record)
        self.bar.update(1)

    def start(self, stamp: int, rgb: np.ndarray, header: Any) -> Any | None:
        """Start a track when the schedule has a box here; the init frame's answer or None."""
        first = self.first_stamp if self.first_stamp is not None else stamp
        box = self.inputs.schedule.box_at(stamp, first, self.session.state)
        if box is None:
            return None
        begun = self.session.init(rgb, box, self.summary.frames, header, self.options.label,
                                  frames_after=list)
        if begun.success:
            self.summary.inits += 1
            return begun.answer
        if self.options.box is not None:
            raise BagInputError(f"--box {box}: {begun.reason}")
        LOG.warning("detection at %d not used: %s", stamp, begun.reason)
        return None

    def skip(self, record: FrameRecord, note: str) -> None:
        """Count a frame without an answer and give it a SKIPPED row with the reason."""
        self.summary.skipped += 1
        record.note = note
        self.outputs.skipped(record)
        self.bar.update(1)


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
    input. Outputs appear under their names only when the run succeeds; after a failure (or
    Ctrl-C) nothing of this run is left (``outputs.Outputs``).
    """
    check_options(options)
    reader = open_bag(options.bag)
    summary = Summary()
    started = time.perf_counter()
    tracker = outputs = None
    bar: Any = _NoProgress()
    ok = False
    try:
        inputs = open_inputs(reader, options)
        tracker = make_tracker()
        device = str(getattr(tracker, "device", ""))
        outputs = open_outputs(options, inputs, device, summary)
        total = sum(c.msgcount for c in inputs.image_conns)
        if options.max_frames is not None:
            total = min(total, options.max_frames)
        bar = progress(total) if progress is not None else bar
        # The node's own session: init checks, size checks, states, track numbering.
        session = TrackSession(tracker, catch_up_frames=0)
        FrameLoop(options, inputs, session, outputs, summary, bar).stream()
        if inputs.schedule.box_pending:
            raise BagInputError(
                f"--start {options.start}: no frame of {options.topic} at or after that time "
                f"({summary.frames} frame(s) read)"
            )
        ok = True
    finally:
        summary.wall_s = time.perf_counter() - started
        bar.close()
        try:  # moving the outputs into place can fail too: the bag and tracker close anyway
            if outputs is not None:
                outputs.close(summary_dict(summary) if ok else None)
        finally:
            reader.close()
            if tracker is not None and hasattr(tracker, "close"):
                tracker.close()
    return summary
