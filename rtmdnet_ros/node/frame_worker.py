# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker node's worker thread: the newest frame in, converted, tracked, published.

Why a thread of its own: tracking can take longer than a frame period, and keeping it off the
executor means services and parameter changes are answered while a frame is being tracked. The
image callback only stores frames in the :class:`FrameCache`; this worker takes the newest one
(frames replaced meanwhile count as dropped), or the next frame an init queued to catch up on.
With several targets a frame is converted once and every target's session tracks the same RGB
array, one after the other (each session has its own tracker and lock); the frame's answer is
one array for all of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from rtmdnet_ros.node.frame_cache import CachedFrame, FrameCache
from rtmdnet_ros.node.outputs import NodeOutputs
from rtmdnet_ros.node.problem_log import ProblemLog
from rtmdnet_ros.node.targets import Targets
from rtmdnet_ros.ros_io.cli import one_line
from rtmdnet_ros.ros_io.image_conversion import (
    ImageConversionError,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
)
from rtmdnet_ros.ros_io.stamps import format_stamp
from rtmdnet_ros.track_session import IDLE, STATE_NAMES, FrameOutcome, TrackSession


def convert_frame(frame: CachedFrame) -> np.ndarray:
    """Return a cached frame as HxWx3 RGB (raises ImageConversionError for a bad message)."""
    if frame.compressed:
        return compressed_msg_to_rgb(frame.msg)
    return image_msg_to_rgb(frame.msg)


class FrameWorker:
    """Runs from activate to deactivate; one frame at a time, never a queue."""

    def __init__(self, targets: Targets, cache: FrameCache, outputs: NodeOutputs,
                 logger: Any, stopped: Callable[[], bool]) -> None:
        """Take ``stopped()``: whether the process is stopping (a failing frame is no fault)."""
        self._targets = targets
        self._session: TrackSession = targets.first  # the one catching up, for its log line
        self._cache = cache
        self._outputs = outputs
        self._logger = logger
        self._stopped = stopped
        # A frame that fails repeats on every frame: one line per kind and period.
        self._log_problem = ProblemLog(logger).report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._caught_up = 0  # frames caught up since the last init
        self._catch_up_started = 0.0

    def start(self) -> None:
        """Start the thread."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtmdnet_worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the frame in progress (it publishes, so before the publishers go)."""
        self._stop.set()
        self._cache.wake()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=30.0)
        self._thread = None

    def _next_frame(self) -> CachedFrame | None:
        frame = None
        for session in self._targets.sessions():  # one target's catch-up at a time
            if frame is None and (self._caught_up == 0 or session is self._session):
                frame = session.next_catch_up()
                if frame is not None:
                    self._session = session
        if frame is not None:
            self._cache.tracked_late(frame)  # not dropped after all
            if self._caught_up == 0:
                self._catch_up_started = time.perf_counter()
            self._caught_up += 1
            return frame
        if self._caught_up:
            self._logger.info(
                f"track {self._session.track_id}: caught up over {self._caught_up} cached "
                f"frame(s) in {time.perf_counter() - self._catch_up_started:.1f} s; live frames "
                "from here")
            self._caught_up = 0
        return self._cache.take_newest(timeout=0.1)

    def _run(self) -> None:
        stop = self._stop
        while not stop.is_set():
            frame = self._next_frame()
            if frame is None or stop.is_set():
                continue
            try:
                self._process(frame)
            except Exception as exc:  # the node must stay up whatever one frame does
                if self._stopped():
                    break  # Ctrl-C shut the context down under this frame: just stop
                self._log_problem(
                    f"failed:{type(exc).__name__}",
                    f"frame {format_stamp(frame.stamp_ns)} failed: {one_line(exc, True)}")

    def _process(self, frame: CachedFrame) -> None:
        started = time.perf_counter()
        stamp = format_stamp(frame.stamp_ns)
        try:
            rgb = convert_frame(frame)
        except ImageConversionError as exc:
            self._log_problem(
                f"convert:{str(exc)[:40]}",
                f"dropping frame {stamp} (frame_id '{frame.header.frame_id}'): {exc}")
            return
        sessions = self._targets.sessions()
        if len(sessions) > 1 or self._targets.max_targets > 1:
            self._process_targets(frame, rgb, sessions, started)
            return
        session = sessions[0]
        out = session.track(frame.sequence, frame.header, rgb, started)
        self._say(out, rgb, stamp)
        if out.skipped is not None:
            return
        if self._outputs.answer(frame.header, out, session.status()):
            self._outputs.debug_image(rgb, frame.header, out)

    def _process_targets(self, frame: CachedFrame, rgb: np.ndarray,
                         sessions: list[TrackSession], started: float) -> None:
        """Track one frame for every target and publish one answer for them all.

        A target that skips the frame (late for it, voided) is left out of this answer. Idle
        targets are not stepped unless none runs (then the first, as a single target): an idle
        session may be training a new target, and its lock would hold up the others.
        """
        stamp = format_stamp(frame.stamp_ns)
        todo = [(slot, s) for slot, s in enumerate(sessions) if s.state != IDLE]
        answers: list[tuple[int, FrameOutcome, Any]] = []
        for slot, session in todo or [(0, sessions[0])]:
            out = session.track(frame.sequence, frame.header, rgb, started)
            self._say(out, rgb, stamp)
            if out.skipped is None:
                answers.append((slot, out, session.status()))
            started = time.perf_counter()  # each status times its own target's step
        if answers and self._outputs.answer_targets(frame.header, answers):
            self._outputs.debug_targets(rgb, frame.header, [a[1] for a in answers])

    def _say(self, out: FrameOutcome, rgb: np.ndarray, stamp: str) -> None:
        """Log a skipped size or a state change (one target's frame)."""
        if out.skipped == "size":
            shape = out.track_shape or (0, 0)
            self._log_problem(
                "size",
                f"frame {stamp} is {rgb.shape[1]}x{rgb.shape[0]} but track {out.track_id} "
                f"started on {shape[1]}x{shape[0]}: frame skipped; call ~/init for the "
                "new size or ~/reset")
        if out.changed:
            self._logger.info(
                f"track {out.track_id}: {STATE_NAMES[out.previous]} -> {STATE_NAMES[out.state]} "
                f"(score {out.score:.2f}, raw {out.raw:+.2f}) at {stamp}")
