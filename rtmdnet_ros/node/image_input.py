# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The tracker node's camera input: subscription, QoS adaptation, loss accounting, hints.

Kept apart from the node because getting frames in is its own problem with its own failure
modes (a publisher with other QoS, frames lost inside DDS, nothing arriving at all), and each
needs a sentence the user can act on. The node only opens and closes the input with its
lifecycle; every frame that arrives is handed to the :class:`FrameCache` and nothing else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image

from rtmdnet_ros.node.frame_cache import FrameCache
from rtmdnet_ros.node.problem_log import LOG_REPEAT_S, ProblemLog
from rtmdnet_ros.node.transport import active_profile, adapted_reliability, transport_hint
from rtmdnet_ros.ros_io.stamps import stamp_to_ns

try:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks
try:  # Iron and later hand a MessageInfo (publisher gid, sequence number) to 2-argument callbacks
    from rclpy.subscription import MessageInfo  # noqa: F401

    HAS_MESSAGE_INFO = True
except ImportError:  # Humble
    HAS_MESSAGE_INFO = False

# Sensor-data QoS with depth 1: BEST_EFFORT accepts both reliable and best-effort publishers and
# a single-slot history means a slow node sees the newest frame, never a queue. This is the start
# value; the reliability then follows the publishers found on the topic (ImageInput._adapt_qos).
IMAGE_QOS = QoSProfile(
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
)


@dataclass(frozen=True)
class InputSettings:
    """What decides the input: the transport (``image_transport``) and its timings.

    The timings are the node's; tests shorten them so a hint or a hand-over takes a second.
    """

    transport: str = "raw"  # raw | compressed
    qos_check_s: float = 0.5  # how often the publishers are looked at (a local graph query)
    no_image_warn_s: float = 5.0  # how long without images before the input explains itself
    retire_s: float = 5.0  # the longest an old subscription is kept during a QoS hand-over
    log_repeat_s: float = LOG_REPEAT_S

    @property
    def compressed(self) -> bool:
        """Whether the input reads ``sensor_msgs/CompressedImage``."""
        return self.transport == "compressed"

    @property
    def topic(self) -> str:
        """The topic relative to the node (remappable like any other)."""
        return "image/compressed" if self.compressed else "image"


class ImageInput:
    """The node's image subscription, from one activation to the next.

    Built at configure with the node (its subscriptions, timers and logger) and the frame cache;
    :meth:`open` subscribes (activate), :meth:`close` unsubscribes (deactivate). The count of
    frames lost before the callback lives as long as the cache, for ``frames_dropped``.
    Callbacks and timers share one mutually exclusive group, so its state needs no lock.
    """

    def __init__(self, node: Node, cache: FrameCache, settings: InputSettings) -> None:
        self._node = node
        self._cache = cache
        self._settings = settings
        self._group = MutuallyExclusiveCallbackGroup()
        self._problems = ProblemLog(node.get_logger(), settings.log_repeat_s)
        self._lost = 0
        self._sub: Any = None
        self._retiring: Any = None  # the previous subscription, kept until the new one matches
        self._retire = (0, 0.0)  # (publishers the new one must match, deadline)
        self._generation = 0  # of the current subscription; a callback knows its own
        self._current_received = False  # whether the current subscription has had a frame
        self._hint_timer: Any = None
        self._qos_timer: Any = None
        self._last_sequence: dict[bytes, int] = {}
        self._last_stamp_ns = -1
        self._image_bytes = 0  # size of the last image message, for the transport hint
        self._start_time = self._next_hint = 0.0
        self._adaptive = False  # whether the reliability follows the publishers

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        """Subscribe and start the QoS check and the no-image hint."""
        self._start_time = time.monotonic()
        self._next_hint = 0.0
        self._last_stamp_ns = -1
        # Frames published while closed were never wanted: no gap across a re-activation.
        self._last_sequence.clear()
        self._sub = self._subscribe(IMAGE_QOS, first=True)
        # The reliability follows the publishers unless the user set it (qos_overrides).
        self._adaptive = not self._reliability_overridden()
        node = self._node
        self._hint_timer = node.create_timer(self._settings.no_image_warn_s, self._no_image_hint,
                                             callback_group=self._group)
        self._qos_timer = (node.create_timer(self._settings.qos_check_s, self._adapt_qos,
                                             callback_group=self._group)
                           if self._adaptive else None)

    def close(self) -> None:
        """Drop the subscriptions and timers; the loss count stays."""
        for timer in (self._hint_timer, self._qos_timer):
            if timer is not None:
                self._node.destroy_timer(timer)
        self._hint_timer = self._qos_timer = None
        for sub in (self._sub, self._retiring):
            if sub is not None:
                self._node.destroy_subscription(sub)
        self._sub = self._retiring = None

    # ------------------------------------------------------------------ state
    @property
    def topic_name(self) -> str:
        """The resolved topic while open, else the relative one."""
        return self._sub.topic_name if self._sub is not None else self._settings.topic

    @property
    def handing_over(self) -> bool:
        """Whether a QoS hand-over is under way (two subscriptions on the topic)."""
        return self._retiring is not None

    @property
    def lost(self) -> int:
        """Frames lost before the callback (publisher sequence gaps), since configure."""
        return self._lost

    def describe(self) -> str:
        """Say what the input listens to and how, for the node's activation line."""
        qos = self._sub.qos_profile
        adapt = "adapts to the publishers" if self._adaptive else "set by qos_overrides"
        profile = active_profile() or "none (Fast DDS defaults)"
        return (f"listening on {self._sub.topic_name} ({self._settings.transport}, "
                f"{qos.reliability.name} depth {qos.depth}, reliability {adapt}; DDS profile "
                f"{profile})")

    # ------------------------------------------------------------------ subscriptions
    def _subscribe(self, qos: QoSProfile, first: bool = False) -> Any:
        """Create the image subscription, which then becomes the current one.

        The first one declares the ``qos_overrides.<topic>.subscription.*`` parameters and
        applies the user's values; a later one (the reliability adapted) reuses the profile those
        values produced, since the parameters exist by then. Each callback carries the
        generation of its subscription, so that during a hand-over a frame's path is known.
        """
        self._generation += 1
        self._current_received = False
        generation = self._generation

        def with_info(msg: Any, info: Any) -> None:
            self._on_image_with_info(msg, info, generation)

        def without_info(msg: Any) -> None:
            self._on_image(msg, generation)

        return self._node.create_subscription(
            CompressedImage if self._settings.compressed else Image,
            self._settings.topic,
            with_info if HAS_MESSAGE_INFO else without_info,
            qos,
            callback_group=self._group,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos),
            qos_overriding_options=(QoSOverridingOptions.with_default_policies() if first
                                    else None),
        )

    def _reliability_overridden(self) -> bool:
        """Whether the user gave ``qos_overrides.<topic>.subscription.reliability`` explicitly.

        ``_parameter_overrides`` is rclpy's record of the given values (not public API).
        """
        name = f"qos_overrides.{self._sub.topic_name}.subscription.reliability"
        return name in (getattr(self._node, "_parameter_overrides", {}) or {})

    def _adapt_qos(self) -> None:
        """Follow the publishers' reliability the way ``ros2 topic echo`` chooses it.

        RELIABLE when every publisher offers it (lost fragments of a large image are then
        repaired instead of losing the frame), BEST_EFFORT as soon as one offers less (a
        reliable subscription would not match it). Re-checked every ``qos_check_s`` so cameras
        that appear, restart or change later are followed; depth and the rest stay as configured.
        The new subscription is made before the old one goes, and the old one is kept until the
        new one has matched the publishers and received a frame (matched on this side does not
        yet mean that the publisher sends to it), so no frame is lost in the change; the few that
        arrive twice meanwhile are recognised by their publisher sequence number or stamp.
        """
        if self._retiring is not None:
            wanted_matches, deadline = self._retire
            matched = (self._sub.get_publisher_count() >= wanted_matches
                       and self._current_received)
            if matched or time.monotonic() > deadline:
                self._node.destroy_subscription(self._retiring)
                self._retiring = None
            return
        topic = self._sub.topic_name
        try:
            publishers = self._node.get_publishers_info_by_topic(topic)
        except Exception as exc:  # the graph query failing must not stop the node
            self._problems.report("qos-query", f"cannot list the publishers on {topic}: {exc}")
            return
        wanted = adapted_reliability(info.qos_profile.reliability for info in publishers)
        current = self._sub.qos_profile
        if wanted is None or current.reliability.name.lower() == wanted:
            return
        qos = QoSProfile(
            reliability=(ReliabilityPolicy.RELIABLE if wanted == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT),
            durability=current.durability, history=current.history, depth=current.depth)
        self._retiring = self._sub
        self._retire = (len(publishers), time.monotonic() + self._settings.retire_s)
        self._sub = self._subscribe(qos)
        offered = ", ".join(sorted({info.qos_profile.reliability.name for info in publishers}))
        self._node.get_logger().info(
            f"input QoS on {topic} now {qos.reliability.name} depth {qos.depth}: "
            f"{len(publishers)} publisher(s) offering {offered}; the input follows its "
            f"publishers (normal: qos_overrides.{topic}.subscription.reliability would pin "
            "it instead)")

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, msg: Any, generation: int) -> None:
        """Store the frame and return: the node's worker decides what to track."""
        self._note_path(generation)
        stamp = stamp_to_ns(msg.header.stamp)
        if self._retiring is not None and stamp == self._last_stamp_ns:
            return  # the same frame through the other subscription while the QoS changes
        self._last_stamp_ns = stamp
        self._cache.put(stamp, msg.header, msg, self._settings.compressed)

    def _on_image_with_info(self, msg: Any, info: Any, generation: int) -> None:
        """Iron and later: also see the publisher's sequence number (losses before the node)."""
        if self._already_seen(info):
            self._note_path(generation)
            return
        self._on_image(msg, generation)
        self._image_bytes = len(msg.data)
        self._count_transport_losses(info, current=generation == self._generation)

    def _note_path(self, generation: int) -> None:
        """Record that the current subscription receives: the old one may then retire."""
        if generation == self._generation:
            self._current_received = True

    def _already_seen(self, info: Any) -> bool:
        """Whether this publisher's message came before, through the other subscription."""
        if self._retiring is None:
            return False
        try:
            seq = info["publication_sequence_number"]
            last = self._last_sequence.get(bytes(info["publisher_gid"]["data"]))
        except (KeyError, TypeError):
            return False
        return seq is not None and last is not None and seq <= last

    def _count_transport_losses(self, info: Any, current: bool) -> None:
        """Count frames lost before the callback from gaps in each publisher's sequence numbers.

        Best-effort delivery with history depth 1 may discard frames inside DDS (overwritten, or
        a fragment of a large image lost); they never reach the callback, but the publisher's
        sequence numbers show them. Needs the message info of Iron and later. Every gap is
        counted; only the subscription that stays (``current``) says whether the transport
        is to blame, since a gap seen through the retiring one belongs to the hand-over.
        """
        try:
            seq = info["publication_sequence_number"]
            gid = bytes(info["publisher_gid"]["data"])
        except (KeyError, TypeError):
            return
        if seq is None:
            return
        last = self._last_sequence.get(gid)
        if len(self._last_sequence) > 64 and last is None:
            self._last_sequence.clear()  # publishers come and go; keep the table small
        self._last_sequence[gid] = int(seq)
        if last is None or not 1 < seq - last < 1_000_000:
            return
        lost = int(seq - last - 1)
        self._lost += lost
        if not current or self._sub.qos_profile.reliability == ReliabilityPolicy.RELIABLE:
            # A reliable reader loses nothing in transport: these frames were replaced in its
            # depth-1 history while this process was busy, by design (the node tracks the newest
            # frame). Counted in frames_dropped, and no warning that points at the camera's
            # transport, which is fine.
            return
        if self._adaptive and self._retiring is None:
            # Best effort until the next QoS check: with reliable publishers the input hands
            # over now, and the reliable reader is the one whose losses would mean something.
            self._adapt_qos()
            if self._retiring is not None:
                return
        self._problems.report(
            "transport",
            f"{self._lost} frame(s) lost before reaching the node so far "
            f"({lost} just now, from publisher sequence gaps); counted in frames_dropped. "
            f"Fix: {transport_hint(self._image_bytes)}",
            warning=True)

    def _on_incompatible_qos(self, event: Any) -> None:
        """Say whether a publisher the input cannot match is followed or needs the user."""
        logger = self._node.get_logger()
        if self._adaptive:
            # A best-effort publisher joined while we were reliable: the next QoS check (at
            # most qos_check_s away) follows it; nothing for the user to do.
            logger.info(f"a publisher on {self.topic_name} offers QoS the input does not "
                        "accept yet; the input reliability follows it")
            return
        logger.error(
            f"a publisher on {self.topic_name} has QoS incompatible with this subscription "
            f"(policy id {event.last_policy_kind}, {event.total_count} so far); override with "
            "qos_overrides.<topic>.subscription.* parameters")

    def _no_image_hint(self) -> None:
        """Explain, once per period, why nothing arrives: the top complaint about nodes."""
        if self._cache.received:
            self._hint_timer.cancel()
            return
        now = time.monotonic()
        if now < self._next_hint:
            return
        self._next_hint = now + 3.0 * (now - self._start_time)  # 5 s, 15 s, 45 s, ...
        compressed = self._settings.compressed
        topic = self._sub.topic_name
        other = topic[: -len("/compressed")] if compressed else topic + "/compressed"
        here = self._node.count_publishers(topic)
        there = self._node.count_publishers(other)
        hint = (f"no image received on {topic} after {now - self._start_time:.0f} s: "
                f"{here} publisher(s) on it")
        if there:
            hint += (f"; {there} publisher(s) on {other}: set image_transport:="
                     f"{'raw' if compressed else 'compressed'} to read that one")
        if here:
            hint += ("; publishers exist but send nothing that arrives: check that they "
                     "publish, and their QoS (an incompatible-QoS error is logged if it is "
                     f"that); if they send images larger than 512 kB: {transport_hint()}")
        elif not there:
            hint += "; check the topic name/remapping (image:=/your/camera/topic) and namespace"
        self._node.get_logger().warning(hint)
