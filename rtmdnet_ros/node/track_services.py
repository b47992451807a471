# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker node's ``~/init`` and ``~/reset`` services.

Why apart from the node: the answers are what a user reads (every refusal a sentence naming what
to change) and the order of the steps matters (look the frame up, convert it, start the track,
publish the init frame's answer, wake the worker for the catch-up). The node creates the
services and hands their requests here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rtmdnet_ros.node.frame_cache import FrameCache
from rtmdnet_ros.node.frame_worker import convert_frame
from rtmdnet_ros.node.init_frame import find_init_frame
from rtmdnet_ros.node.outputs import NodeOutputs
from rtmdnet_ros.node.tracker_factory import TrackerFactory
from rtmdnet_ros.ros_io.image_conversion import ImageConversionError
from rtmdnet_ros.ros_io.messages import bbox_to_xywh
from rtmdnet_ros.ros_io.stamps import format_stamp, stamp_to_ns
from rtmdnet_ros.track_session import IDLE, STATE_NAMES, TrackSession


class TrackServices:
    """Answers ``~/init`` and ``~/reset`` for one configured node (configure to cleanup)."""

    def __init__(self, session: TrackSession, cache: FrameCache, factory: TrackerFactory,
                 logger: Any, topic: Callable[[], str]) -> None:
        """``topic()`` is the input's resolved name, for the no-image refusal."""
        self._session = session
        self._cache = cache
        self._factory = factory
        self._logger = logger
        self._topic = topic
        self.outputs: NodeOutputs | None = None  # set while active
        self.label = "object"
        self.max_frame_age = 2.0  # seconds (max_init_frame_age)

    def _refuse(self, response: Any, reason: str) -> Any:
        self._logger.warning(f"~/init refused: {reason}")
        response.success = False
        response.message = reason
        response.track_id = ""
        return response

    def on_init(self, request: Any, response: Any) -> Any:
        """Start tracking the requested box, on the frame it was drawn on when a stamp is given."""
        session, cache, outputs = self._session, self._cache, self.outputs
        assert outputs is not None
        x, y, w, h = bbox_to_xywh(request.box)
        stamp_ns = stamp_to_ns(request.stamp)
        frame = find_init_frame(cache, stamp_ns, self._topic(), self.max_frame_age)
        if isinstance(frame, str):
            return self._refuse(response, frame)
        try:
            rgb = convert_frame(frame)
        except ImageConversionError as exc:
            return self._refuse(response, f"the frame {format_stamp(frame.stamp_ns)} "
                                          f"cannot be read: {exc}")
        label = request.label.strip() or self.label
        started = time.perf_counter()
        outcome = session.init(rgb, (x, y, w, h), frame.sequence, frame.header, label,
                               lambda: cache.after(frame), next_tracker=self._factory.next_tracker,
                               started=cache.discard_pending_up_to, frames_since=cache.after)
        if not outcome.success:
            if outcome.detail:
                self._logger.warning(f"~/init: the tracker's own words: {outcome.detail}")
            return self._refuse(response, outcome.reason)
        elapsed = time.perf_counter() - started
        assert outcome.answer is not None
        outputs.answer(frame.header, outcome.answer, session.status())  # unless newer ones went
        cache.wake()
        where = "newest frame" if stamp_ns == 0 else "cached frame"
        self._logger.info(
            f"track {outcome.track_id} ({label}) started on the {where} "
            f"{format_stamp(frame.stamp_ns)} at x={x:.1f} y={y:.1f} w={w:.1f} h={h:.1f} in "
            f"{elapsed:.2f} s; {outcome.catch_up} cached frame(s) to catch up")
        response.success = True
        response.message = (f"tracking started on the {where} {format_stamp(frame.stamp_ns)} "
                            f"(initialisation {elapsed:.2f} s)")
        response.track_id = outcome.track_id
        return response

    def on_reset(self, request: Any, response: Any) -> Any:
        """Stop tracking without waiting for the tracking step in progress."""
        response.success = True
        out = self._session.reset()
        if out.initialising:
            response.message = "initialisation in progress cancelled; state IDLE"
            self._logger.info("~/reset during ~/init: the new track will not start")
        elif out.was == IDLE:
            response.message = "already idle: no target was being tracked"
            self._logger.info("~/reset while idle: nothing to stop")
        else:
            response.message = f"track {out.track_id} stopped ({STATE_NAMES[out.was]} -> IDLE)"
            self._logger.info(f"track {out.track_id}: {STATE_NAMES[out.was]} -> IDLE (reset)")
            if self.outputs is not None:  # the state change; the next frame's array is empty
                self.outputs.status(self._session.status())
        return response
