# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``/diagnostics``: the node's health as robot monitors read it (``diagnostic_msgs``).

``rqt_robot_monitor`` and ``diagnostic_aggregator`` read ``diagnostic_msgs/DiagnosticArray`` on
the absolute topic ``/diagnostics``, one ``DiagnosticStatus`` per component, named
``"<node>: <component>"`` as ``diagnostic_updater`` names its tasks. Here the component is a
target: one status per target, under a name that stays the same from track to track (a monitor
keeps an entry per name; one per track id would pile up stale entries).

Why the publisher lives as long as the node, not from activate to deactivate like the other
outputs: a node whose configure failed (a missing model) stays up unconfigured, and that is the
moment a robot monitor must show it red, with the reason. The figures and levels come from the
ROS-free :mod:`~rtmdnet_ros.node.health`; this module only gathers the counters and builds the
messages, at ``diagnostics_rate`` Hz.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from rtmdnet_ros.node.frame_cache import FrameCache
from rtmdnet_ros.node.health import (
    ERROR,
    OK,
    WARN,
    AnswerLog,
    Figures,
    HealthWindow,
    Limits,
    assess,
)
from rtmdnet_ros.node.heartbeat import image_age
from rtmdnet_ros.node.outputs import NodeOutputs
from rtmdnet_ros.track_session import STATE_NAMES, TrackSession

TOPIC = "/diagnostics"  # absolute, as every diagnostics publisher in a robot
QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE,
                 history=HistoryPolicy.KEEP_LAST, depth=10)
TARGET = "target"  # the first target's component name (the next: "target 2", ...)


@dataclass(frozen=True)
class NodeParts:
    """What the node holds now; None for what its lifecycle state has not created.

    The node itself gives the rest: ``device`` and ``frames_dropped`` (its public properties).
    """

    session: TrackSession | None
    cache: FrameCache | None
    input: Any  # ImageInput: ``lost`` and ``topic_name``
    outputs: NodeOutputs | None
    targets: Any = None  # Targets (node/targets.py): every target's session; None = session's


def targets(parts: NodeParts) -> list[tuple[str, TrackSession, AnswerLog]]:
    """Return each target's component name, session and answer log.

    One entry per target session (built ones, running or stopped), named by its slot: a name
    stays the same from track to track, so a monitor keeps one entry per target.
    """
    assert parts.session is not None and parts.outputs is not None
    if parts.targets is None:
        return [(TARGET, parts.session, parts.outputs.answers)]
    return [(TARGET if slot == 0 else f"{TARGET} {slot + 1}", session,
             parts.outputs.answers_for(slot))
            for slot, session in enumerate(parts.targets.sessions())]


def limits_of(node: Any) -> Limits:
    """Return the WARN limits from the node's ``diagnostics_*`` parameters (read at every tick)."""
    def value(name: str) -> float:
        return float(node.get_parameter(f"diagnostics_{name}").value)

    return Limits(window_s=value("window"), min_answered=value("min_answered"),
                  max_image_age_s=value("max_image_age"), max_lost_s=value("max_lost"))


def _number(value: float | None, fmt: str = ".1f") -> str:
    return "n/a" if value is None else format(value, fmt)


def target_values(figures: Figures, outputs: NodeOutputs, device: str, state: int,
                  track_id: str, topic: str) -> list[KeyValue]:
    """Return the key/value pairs of one running target's status."""
    share = figures.answered_share
    pairs = [
        ("state", STATE_NAMES.get(state, str(state))),
        ("track id", track_id),
        ("input topic", topic),
        ("input rate (Hz)", _number(figures.input_hz)),
        ("answered share", "n/a" if share is None else f"{share:.3f}"),
        ("answered / arrived", f"{figures.answered} / {figures.arrived}"),
        ("answers published", str(figures.answered_total)),
        ("window (s)", f"{figures.span_s:.1f}"),
        ("stamp to detection p50 (ms)", _number(figures.latency_p50_ms)),
        ("stamp to detection p95 (ms)", _number(figures.latency_p95_ms)),
        ("frames dropped in window", str(figures.dropped)),
        ("frames dropped", str(figures.dropped_total)),
        ("seconds since image", _number(figures.image_age_s)),
        ("lost for (s)", _number(figures.lost_for_s)),
        ("device", device),
        ("debug images drawn", str(outputs.debug_drawn)),
        ("debug JPEGs encoded", str(outputs.debug_encoded)),
    ]
    return [KeyValue(key=k, value=v) for k, v in pairs]


class NodeDiagnostics:
    """The ``/diagnostics`` publisher and its timer, from the node's start to its end.

    ``parts()`` returns :class:`NodeParts`; ``problem`` is set by the node when a configure
    fails (and cleared when one succeeds): while unconfigured with a problem, the status is
    ERROR with that reason.
    """

    def __init__(self, node: Any, parts: Callable[[], NodeParts]) -> None:
        self._node = node
        self._parts = parts
        self.problem = ""
        self._prefix = node.get_fully_qualified_name().lstrip("/")
        self._pub = node.create_publisher(DiagnosticArray, TOPIC, QOS)
        self._windows: dict[str, HealthWindow] = {}
        self._watched: NodeOutputs | None = None  # whose answers the windows count
        self._rate = 0.0
        self._timer: Any = None
        self._old_timers: list[Any] = []
        self._set_rate()

    def _set_rate(self) -> None:
        """(Re)start the timer at ``diagnostics_rate`` Hz when it changed."""
        rate = float(self._node.get_parameter("diagnostics_rate").value)
        if rate == self._rate:
            return
        self._rate = rate
        if self._timer is not None:
            # Cancelled here, destroyed at the next tick: a timer destroyed inside its own
            # callback can crash a multithreaded executor.
            self._timer.cancel()
            self._old_timers.append(self._timer)
        self._timer = self._node.create_timer(1.0 / rate, self._tick)

    def _tick(self) -> None:
        for timer in self._old_timers:
            self._node.destroy_timer(timer)
        self._old_timers = []
        self._set_rate()
        self._pub.publish(self.build(time.monotonic()))

    def build(self, now: float) -> DiagnosticArray:
        """Build the array for this moment: one status per target (one while not tracking)."""
        parts = self._parts()
        array = DiagnosticArray()
        array.header.stamp = self._node.get_clock().now().to_msg()
        hardware = self._node.device or str(self._node.get_parameter("device").value)
        if parts.session is None:
            if self.problem:
                array.status = [self._status(TARGET, ERROR, self.problem, hardware)]
            else:
                array.status = [self._status(TARGET, OK, "unconfigured: waiting for the "
                                                         "configure transition", hardware)]
            return array
        if parts.outputs is None or parts.cache is None:
            array.status = [self._status(TARGET, OK, "inactive: model loaded, not subscribed",
                                         hardware)]
            return array
        if parts.outputs is not self._watched:  # a new activation: counts start again
            self._watched, self._windows = parts.outputs, {}
        limits = limits_of(self._node)
        topic = parts.input.topic_name if parts.input is not None else ""
        arrived = parts.cache.received + (parts.input.lost if parts.input is not None else 0)
        age, dropped = image_age(parts.cache), self._node.frames_dropped
        array.status = []
        for name, session, answers in targets(parts):  # frames are shared, answers are not
            status = session.status()
            window = self._windows.setdefault(name, HealthWindow(limits.window_s))
            window.window_s = limits.window_s
            figures = window.update(now, arrived, dropped + status.frames_unanswered,
                                    answers.snapshot(), age, status.state)
            level, reasons = assess(figures, limits, topic)
            message = "; ".join(reasons) if reasons else summary(figures, status.state)
            entry = self._status(name, level, message, hardware)
            entry.values = target_values(figures, parts.outputs, hardware, status.state,
                                         status.track_id, topic)
            array.status.append(entry)
        return array

    def _status(self, target: str, level: int, message: str, hardware: str) -> DiagnosticStatus:
        return DiagnosticStatus(level=bytes([level]), name=f"{self._prefix}: {target}",
                                message=message, hardware_id=hardware)


def summary(figures: Figures, state: int) -> str:
    """Return the one-line message of an OK target: its state and how it keeps up."""
    words = [STATE_NAMES.get(state, str(state))]
    if figures.input_hz is not None:
        words.append(f"{figures.input_hz:.1f} Hz in")
    if figures.answered_share is not None:
        words.append(f"{figures.answered_share:.0%} answered")
    return ", ".join(words)


__all__ = ["ERROR", "OK", "TARGET", "TOPIC", "WARN", "NodeDiagnostics", "NodeParts",
           "limits_of", "summary"]
