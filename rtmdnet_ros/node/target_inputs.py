# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's hand-off inputs: a detector's Detection2DArray and a viewer's clicked pixel.

Why apart from the node: each message is a decision (start a track, restart a lost one, or
refuse with a reason a user can act on), and the decisions share the frame cache, the detector's
recent arrays and the one way a track starts (:meth:`TrackServices.start`). The rules for which
detection or box are in :mod:`~rtmdnet_ros.ros_io.detections` (shared with ``rtmdnet-bag``) and
:mod:`~rtmdnet_ros.node.target_choice`; this module subscribes and acts on their answers.

Both callbacks run in a callback group of their own and off the executor's thread
(:mod:`~rtmdnet_ros.node.offload`), so a start (training on a frame) never holds up ``~/reset``
or the image input. Nothing is dropped silently: every refused detection
or click is counted by reason and logged (a repeating reason once per period).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from geometry_msgs.msg import Point, PointStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from vision_msgs.msg import Detection2DArray

from rtmdnet_ros.node.frame_cache import FrameCache
from rtmdnet_ros.node.frame_worker import convert_frame
from rtmdnet_ros.node.offload import offloaded
from rtmdnet_ros.node.problem_log import ProblemLog
from rtmdnet_ros.node.target_choice import Choice, DetectionStore, HandOffSettings, TargetChoice
from rtmdnet_ros.node.track_services import TrackServices
from rtmdnet_ros.ros_io.cli import one_line
from rtmdnet_ros.ros_io.detections import (
    DetectionFrame,
    best_of_class,
    distance_in_sizes,
    near_lost,
    of_class,
    read_detections,
)
from rtmdnet_ros.ros_io.stamps import format_stamp, stamp_to_ns
from rtmdnet_ros.track_session import IDLE, LOST, TrackSession, check_init_box, verdict

# BEST_EFFORT matches every publisher (a detector on the sensor-data profile too: a reliable
# reader would silently never match it); the messages are small, so little is ever lost, and a
# burst of arrays waits in a short queue instead of replacing each other.
INPUT_QOS = QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT,
                       durability=DurabilityPolicy.VOLATILE,
                       history=HistoryPolicy.KEEP_LAST, depth=10)
REINIT_CANDIDATES = 3  # near detections the verifier is asked about per array, nearest first


class TargetInputs:
    """The detections and click subscriptions of one configured node (open while active)."""

    def __init__(self, node: Any, services: TrackServices, session: TrackSession,
                 cache: FrameCache, values: dict[str, Any]) -> None:
        """``values``: the parameters at configure (the topics are fixed from here on)."""
        self._node = node
        self._services = services
        self._session = session
        self._cache = cache
        self._logger = node.get_logger()
        self._problems = ProblemLog(self._logger)
        self.detections_topic = str(values["detections_topic"]).strip()
        self.click_topic = str(values["click_topic"]).strip()
        self.click_stamped_topic = str(values["click_stamped_topic"]).strip()
        self.settings = HandOffSettings(
            bool(values["auto_init"]), str(values["init_class"]).strip(),
            float(values["init_min_score"]), bool(values["reinit_when_lost"]),
            float(values["reinit_radius"]), float(values["click_box_size"]))
        self.store = DetectionStore()
        services.choice = TargetChoice(cache, self.store)
        services.settings = self.settings
        services.detections_on = bool(self.detections_topic)
        self.refused: Counter[str] = Counter()  # reason kind -> count, since configure
        self._armed = self.settings.auto_init  # auto_init starts once per activation
        self._group = MutuallyExclusiveCallbackGroup()
        self._subs: list[Any] = []

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Subscribe to the inputs that are set (activate); auto_init is armed again."""
        self._armed = self.settings.auto_init
        if self.detections_topic:
            self._subs.append(self._node.create_subscription(
                Detection2DArray, self.detections_topic,
                offloaded(self._node, self.on_detections), INPUT_QOS, callback_group=self._group))
        for msg_type, topic in ((Point, self.click_topic),
                                (PointStamped, self.click_stamped_topic)):
            if topic:
                self._subs.append(self._node.create_subscription(
                    msg_type, topic, offloaded(self._node, self.on_click), INPUT_QOS,
                    callback_group=self._group))

    def close(self) -> None:
        """Unsubscribe and forget the detections (deactivate)."""
        for sub in self._subs:
            self._node.destroy_subscription(sub)
        self._subs = []
        self.store.clear()

    def describe(self) -> str:
        """Name the inputs for the start-up line ("; detections from ...", "" when none)."""
        return "".join(f"; detections from {sub.topic_name}" if sub.msg_type is Detection2DArray
                       else f"; clicks from {sub.topic_name}" for sub in self._subs)

    def apply(self, name: str, value: Any) -> None:
        """Take a run-time change of a hand-off parameter (the topics are fixed at start)."""
        if name in ("detections_topic", "click_topic", "click_stamped_topic"):
            return
        setattr(self.settings, name, type(getattr(self.settings, name))(value))
        if name == "auto_init":
            self._armed = bool(value)

    def _refuse(self, kind: str, text: str) -> None:
        """Count a refused input by kind and log it (each kind at most once per period)."""
        self.refused[kind] += 1
        self._problems.report(kind, f"{text} ({self.refused[kind]} refused for this reason so "
                                    "far)", warning=True)

    def _guarded(self, what: str, handle: Any, msg: Any) -> None:
        """Run a callback; whatever one message does, the node stays up and says why."""
        try:
            handle(msg)
        except Exception as exc:  # an unreadable frame, a malformed message: never the node
            self.refused[f"{what} failed"] += 1
            self._problems.report(f"{what} failed:{type(exc).__name__}",
                                  f"a {what} message could not be used: {one_line(exc, True)}")

    # ------------------------------------------------------------------ detections
    def on_detections(self, msg: Any) -> None:
        """Keep a detector's array for its frame; start or restart a track when it says so."""
        self._guarded("detections", self._on_detections, msg)

    def _on_detections(self, msg: Any) -> None:
        found = read_detections(msg)
        for problem in found.problems:
            self._refuse("bad detection", f"detection refused (frame "
                         f"{format_stamp(found.stamp_ns)}): {problem}")
        assert self._services.choice is not None
        frame = self._services.choice.frame_of(found.stamp_ns)
        if isinstance(frame, str):
            self._refuse("frame not cached", f"detections refused: {frame}")
            return
        self.store.put(found)
        state = self._session.state
        if state == IDLE and self._armed:
            self._auto_init(found, frame)
        elif state == LOST and self.settings.reinit_when_lost:
            self._reinit(found, frame)

    def _auto_init(self, found: DetectionFrame, frame: Any) -> None:
        wanted = self.settings.init_class or None
        best = best_of_class(found.candidates, wanted, self.settings.init_min_score)
        if best is None:
            return  # most frames hold no such detection: nothing to say
        choice = Choice(frame, best.box, best.class_id,
                        f"the {best.class_id!r} detection (score {best.score:.2f})")
        outcome = self._services.start(choice, "", "auto_init", if_idle=True)
        if outcome.success:
            self._armed = False
        else:
            self._refuse("auto_init failed", f"auto_init on the frame "
                         f"{format_stamp(found.stamp_ns)} refused: {outcome.reason}")

    def _reinit(self, found: DetectionFrame, frame: Any) -> None:
        track_id, label = self._session.track_id, self._session.track_label
        lost_box = self._session.last_tracking_box
        if not track_id or lost_box is None:
            return
        stamp = format_stamp(found.stamp_ns)
        same_class = of_class(found.candidates, label, self.settings.init_min_score)
        if not same_class:
            seen = sorted({c.class_id for c in found.candidates})
            self._refuse("reinit: other class",
                         f"track {track_id} LOST: no detection of its class {label!r} on the "
                         f"frame {stamp} (classes there: {', '.join(map(repr, seen)) or 'none'});"
                         " not restarted")
            return
        near = near_lost(same_class, label, lost_box, self.settings.reinit_radius)
        if not near:
            nearest = min(distance_in_sizes(c.box, lost_box) for c in same_class)
            self._refuse("reinit: far",
                         f"track {track_id} LOST: the nearest {label!r} detection on the frame "
                         f"{stamp} is {nearest:.1f} target sizes from where it was lost "
                         f"(reinit_radius {self.settings.reinit_radius:g}); not restarted")
            return
        rgb = convert_frame(frame)
        verdicts = []
        for candidate in near[:REINIT_CANDIDATES]:
            unusable = check_init_box(candidate.box, rgb.shape)
            if unusable:
                verdicts.append(f"refused: {unusable}")
                continue
            away = distance_in_sizes(candidate.box, lost_box)
            choice = Choice(frame, candidate.box, candidate.class_id,
                            f"the {candidate.class_id!r} detection {away:.1f} target sizes "
                            "from the loss")

            def accept(tracker: Any, box: Any = candidate.box) -> tuple[bool, str]:
                logit, threshold = verdict(tracker, rgb, box)  # the tracker's own rule
                return logit > threshold, f"verifier {logit:+.2f} > {threshold:+.2f}" \
                    if logit > threshold else f"logit {logit:+.2f}"

            try:
                outcome = self._services.start(choice, label, "re-initialisation",
                                               resume=track_id, accept=accept)
            except ValueError as exc:
                self._refuse("reinit: no verifier", f"track {track_id} LOST: the tracker "
                             f"cannot judge a detection ({exc}); not restarted")
                return
            if outcome.success:
                return
            if not outcome.reason.startswith("logit "):
                self._refuse("reinit: failed", f"track {track_id}: re-initialisation on the "
                             f"frame {stamp} refused: {outcome.reason}")
                return
            verdicts.append(outcome.reason)
        self._refuse("reinit: verifier", f"track {track_id} LOST: the verifier rejects the "
                     f"{label!r} detection(s) near the loss on the frame {stamp} ("
                     f"{'; '.join(verdicts)}; a logit above the tracker's threshold is needed); "
                     "not restarted")

    # ------------------------------------------------------------------ clicks
    def on_click(self, msg: Any) -> None:
        """Start a track at a clicked pixel (the detection containing it, else a box)."""
        self._guarded("click", self._on_click, msg)

    def _on_click(self, msg: Any) -> None:
        assert self._services.choice is not None
        # A plain Point (rqt_image_view) has no stamp: the newest frame, as for a stamp of zero.
        stamp_ns = stamp_to_ns(msg.header.stamp) if isinstance(msg, PointStamped) else 0
        point = msg.point if isinstance(msg, PointStamped) else msg
        choice = self._services.choice.by_point(
            float(point.x), float(point.y), stamp_ns,
            self._services.topic_name(), self._services.max_frame_age,
            self.settings.click_box_size, self.settings.init_min_score, exact=False)
        if isinstance(choice, str):
            self._refuse("click", f"click refused: {choice}")
            return
        outcome = self._services.add(choice, "", "click")  # several targets: a new one
        if not outcome.success:
            self._refuse("click", f"click at ({point.x:.0f}, {point.y:.0f}) refused: "
                         f"{outcome.reason}")
