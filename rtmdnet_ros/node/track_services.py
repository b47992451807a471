# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker node's ``~/init``, ``~/reset`` and ``~/reset_target`` services.

Why apart from the node: the answers are what a user reads (every refusal a sentence naming what
to change) and the order of the steps matters (look the frame up, convert it, start the track,
publish the init frame's answer, wake the worker for the catch-up). The node creates the
services and hands their requests here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rtmdnet_ros.node.frame_cache import FrameCache
from rtmdnet_ros.node.frame_worker import convert_frame
from rtmdnet_ros.node.init_frame import find_init_frame
from rtmdnet_ros.node.outputs import NodeOutputs
from rtmdnet_ros.node.target_choice import Choice, HandOffSettings, TargetChoice
from rtmdnet_ros.node.targets import Targets
from rtmdnet_ros.node.tracker_factory import TrackerFactory
from rtmdnet_ros.ros_io.image_conversion import ImageConversionError
from rtmdnet_ros.ros_io.messages import bbox_to_xywh
from rtmdnet_ros.ros_io.stamps import format_stamp, stamp_to_ns
from rtmdnet_ros.track_session import IDLE, STATE_NAMES, InitOutcome, TrackSession


class TrackServices:
    """Answers ``~/init`` and the resets for one configured node (configure to cleanup)."""

    def __init__(self, targets: Targets, cache: FrameCache, factory: TrackerFactory,
                 node: Any, topic: Callable[[], str]) -> None:
        """Take ``node`` for its logger and name; ``topic()`` is the input's resolved name.

        The name is for the no-image refusal.
        """
        self._targets = targets
        self._session = targets.first  # the detector and click inputs' target
        self._cache = cache
        self._factory = factory
        self._logger = node.get_logger()
        self._node_name = node.get_fully_qualified_name()  # for the "activate it" refusal
        self._topic = topic
        self.outputs: NodeOutputs | None = None  # set while active
        self.label = "object"
        self.max_frame_age = 2.0  # seconds (max_init_frame_age)
        # The detector's arrays and the hand-off values (node/target_inputs.py sets them).
        self.choice: TargetChoice | None = None
        self.settings = HandOffSettings()
        self.detections_on = False

    def topic_name(self) -> str:
        """Return the image input's resolved name, for refusals that say no image came."""
        return self._topic()

    def _refuse(self, response: Any, reason: str) -> Any:
        self._logger.warning(f"~/init refused: {reason}")
        response.success = False
        response.message = reason
        response.track_id = ""
        return response

    def on_init(self, request: Any, response: Any) -> Any:
        """Start tracking the requested box, class or point, on the frame it was drawn on."""
        if self.outputs is None:
            return self._refuse(response, "the node is not active: activate it (ros2 lifecycle "
                                          f"set {self._node_name} activate)")
        stamp_ns = stamp_to_ns(request.stamp)
        kind = requested_target(request)
        if kind not in ("box", "class", "point"):
            return self._refuse(response, kind)
        choice: Choice | str
        if kind == "box":
            frame = find_init_frame(self._cache, stamp_ns, self._topic(), self.max_frame_age)
            choice = frame if isinstance(frame, str) else Choice(
                frame, bbox_to_xywh(request.box), None, "the requested box")
        elif self.choice is None:
            choice = (f"~/init by {'class' if kind == 'class' else 'point'} needs a running "
                      "node (activate it)")
        elif kind == "class":
            choice = self._class_choice(request.init_class.strip(), stamp_ns)
        else:
            choice = self.choice.by_point(float(request.point_x), float(request.point_y),
                                          stamp_ns, self._topic(), self.max_frame_age,
                                          self.settings.click_box_size,
                                          self.settings.init_min_score)
        if isinstance(choice, str):
            return self._refuse(response, choice)
        started = self.add(choice, request.label.strip(), "~/init",
                           str(getattr(request, "track_id", "")).strip())
        if not started.success:
            return self._refuse(response, started.reason)
        response.success, response.track_id = True, started.track_id
        response.message = started.reason
        return response

    def _class_choice(self, class_id: str, stamp_ns: int) -> Choice | str:
        if not self.detections_on:
            return ("~/init by class needs a detector: set the node's detections_topic to "
                    "its vision_msgs/Detection2DArray topic")
        assert self.choice is not None
        return self.choice.by_class(class_id, stamp_ns, self._topic(), self.max_frame_age,
                                    self.settings.init_min_score)

    def add(self, choice: Choice, label: str, source: str, track_id: str = "") -> InitOutcome:
        """Start a track as a new target (``track_id`` empty) or on the target with that id.

        One target: an empty id replaces the track; several: it adds one, refused while
        ``max_targets`` run. A named target is re-initialised, keeping its id (Targets.claim).
        """
        try:
            claim = self._targets.claim(track_id)
        except Exception as exc:  # building one more tracker: a resource problem, say so
            self._logger.error(f"{source}: no tracker for one more target: {exc}")
            return InitOutcome(False, "no tracker could be built for one more target (see the "
                                      "log); the running targets go on")
        if isinstance(claim, str):
            return InitOutcome(False, claim)
        session, keep_id = claim
        try:
            return self.start(choice, label, source, session=session, keep_id=keep_id,
                              if_idle=self._targets.max_targets > 1 and not keep_id)
        finally:
            self._targets.release(session)

    def start(self, choice: Choice, label: str, source: str, resume: str = "",
              if_idle: bool = False,
              accept: Callable[[Any], tuple[bool, str]] | None = None,
              session: TrackSession | None = None, keep_id: str = "") -> InitOutcome:
        """Start (or, with ``resume``, restart) a track on a chosen frame and box.

        The one way every source starts a track (``~/init``, a detection, a click): convert the
        frame, train, publish the init frame's answer, wake the worker for the catch-up, log.
        ``resume``, ``if_idle``, ``accept`` and ``keep_id``: see :meth:`TrackSession.init`;
        ``session``: the target's (default: the first target's). Returns the session's
        outcome, its ``reason`` being the confirmation on success.
        """
        session = session or self._session
        cache, outputs, frame = self._cache, self.outputs, choice.frame
        if outputs is None:
            return InitOutcome(False, "the node is not active")
        try:
            rgb = convert_frame(frame)
        except ImageConversionError as exc:
            return InitOutcome(False, f"the frame {format_stamp(frame.stamp_ns)} cannot be "
                                      f"read: {exc}")
        label = label or choice.class_id or self.label
        where = "newest frame" if frame is cache.newest() else "cached frame"  # when chosen
        started = time.perf_counter()
        outcome = session.init(rgb, choice.box, frame.sequence, frame.header, label,
                               lambda: cache.after(frame), next_tracker=self._factory.next_tracker,
                               started=cache.discard_pending_up_to, frames_since=cache.after,
                               resume=resume, if_idle=if_idle, accept=accept, keep_id=keep_id)
        if not outcome.success:
            if outcome.detail:
                self._logger.warning(f"{source}: the tracker's own words: {outcome.detail}")
            return outcome
        elapsed = time.perf_counter() - started
        assert outcome.answer is not None
        if self._targets.max_targets == 1:
            outputs.answer(frame.header, outcome.answer, session.status())  # unless newer went
        else:  # an array carries every target: the frames' arrays show the new one
            outputs.status(session.status())
        cache.wake()
        x, y, w, h = choice.box
        verb = "restarted" if resume or keep_id else "started"
        how = f"{choice.how} ({outcome.note})" if outcome.note else choice.how
        self._logger.info(
            f"track {outcome.track_id} ({label}) {verb} by {source} on {how} on the "
            f"{where} {format_stamp(frame.stamp_ns)} at x={x:.1f} y={y:.1f} w={w:.1f} h={h:.1f} "
            f"in {elapsed:.2f} s; {outcome.catch_up} cached frame(s) to catch up")
        return replace(outcome, reason=f"tracking {verb} on the {where} "
                                       f"{format_stamp(frame.stamp_ns)} ({choice.how}; "
                                       f"initialisation {elapsed:.2f} s)")

    def on_reset(self, request: Any, response: Any) -> Any:
        """Stop tracking without waiting for the tracking step in progress (every target)."""
        if self._targets.max_targets > 1:
            return self._reset_all(response)
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

    def _reset_all(self, response: Any) -> Any:
        """Stop every target of a several-target node; the message names each one stopped."""
        stopped = [self._reset_one(session) for session in self._targets.sessions()]
        said = [words for words in stopped if words]
        response.success = True
        response.message = "; ".join(said) if said else ("already idle: no target was being "
                                                          "tracked")
        if not said:
            self._logger.info("~/reset while idle: nothing to stop")
        return response

    def _reset_one(self, session: TrackSession) -> str:
        """Stop one target; say what stopped ("" when it was idle), publish its last status."""
        out = session.reset()
        if out.initialising:
            self._logger.info("~/reset during ~/init: the new track will not start")
            return "initialisation in progress cancelled"
        if out.was == IDLE:
            return ""
        self._logger.info(f"track {out.track_id}: {STATE_NAMES[out.was]} -> IDLE (reset)")
        if self.outputs is not None:  # the stopped target's id with its new state
            self.outputs.status(replace(session.status(), track_id=out.track_id))
        return f"track {out.track_id} stopped ({STATE_NAMES[out.was]} -> IDLE)"

    def on_reset_target(self, request: Any, response: Any) -> Any:
        """Stop the target with the request's track id; every target when it is empty.

        A ``std_srvs/Trigger`` request (``~/reset``) has no track id: every target.
        """
        track_id = str(getattr(request, "track_id", "")).strip()
        if not track_id:
            return self.on_reset(request, response)
        session = self._targets.find(track_id)
        if session is None:
            response.success, response.message = False, self._targets.unknown(track_id)
            self._logger.warning(f"~/reset_target refused: {response.message}")
            return response
        words = (self._reset_one(session) if self._targets.max_targets > 1
                 else self.on_reset(request, response).message)
        response.success = True
        response.message = words or f"track {track_id} had stopped already"
        return response


def requested_target(request: Any) -> str:
    """Return how an ``~/init`` request gives its target: "box", "class" or "point".

    Or why it cannot be read: two ways at once are ambiguous, and neither wins.
    """
    box = request.box
    centre = getattr(box.center, "position", box.center)
    given = []
    if any(float(v) != 0.0 for v in (centre.x, centre.y, box.size_x, box.size_y)):
        given.append("box")
    if request.init_class.strip():
        given.append("class")
    if request.use_point:
        given.append("point")
    if len(given) > 1:
        named = {"box": "box", "class": "init_class", "point": "use_point"}
        return (f"ambiguous request: it gives {' and '.join(named[g] for g in given)}; give "
                "one of box, init_class or use_point (with point_x, point_y)")
    if given == ["point"] and not (math.isfinite(request.point_x)
                                   and math.isfinite(request.point_y)):
        return f"point has a non-finite value: x={request.point_x} y={request.point_y}"
    return given[0] if given else "box"
