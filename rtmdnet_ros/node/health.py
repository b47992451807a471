# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A target's health figures and level, from counters and stamps, without ROS.

Why a separate, ROS-free module: what a robot monitor is told (OK, WARN, ERROR, and why) is a
rule set that must be right on real numbers, and tests check it with plain counts and clocks.
``/diagnostics`` (:mod:`~rtmdnet_ros.node.diagnostics`) only turns the result into messages.

Two parts per target:
- :class:`AnswerLog` is written by the worker thread each time an answer is published (a
  lock and a deque append: nothing is computed on the frame path);
- :class:`HealthWindow` samples the node's cumulative counters at each diagnostics tick and
  gives the figures over the last ``window_s`` seconds: the input rate, the share of arrived
  frames that were answered, stamp-to-detection percentiles and the frames dropped.
:func:`assess` turns figures into a level and the reasons for it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

# diagnostic_msgs/DiagnosticStatus levels, as plain ints so this module needs no ROS (a test
# checks them against the generated constants).
OK = 0
WARN = 1
ERROR = 2
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR"}

# The tracker's LOST state (track_session.LOST; the value is the same message constant).
_LOST = 2
# An answered share needs a few frames to mean anything: below this many arrivals in the
# window (a camera at 0.2 Hz, or one just started) no share is judged.
MIN_FRAMES_FOR_SHARE = 3
# Latencies kept per target: enough for a 10 s window at 100 Hz.
MAX_LATENCIES = 1000


@dataclass(frozen=True)
class Limits:
    """When a target's status turns WARN (the ``diagnostics_*`` parameters)."""

    window_s: float = 10.0  # figures are over this many seconds
    min_answered: float = 0.8  # share of arrived frames answered, below this: WARN
    max_image_age_s: float = 2.0  # no frame for longer: WARN
    max_lost_s: float = 5.0  # LOST for longer: WARN


@dataclass(frozen=True)
class AnswerSnapshot:
    """What :class:`AnswerLog` holds at one moment."""

    answered: int  # answers published since the log was made
    latencies: tuple[tuple[float, float], ...]  # (monotonic time, stamp-to-detection ms)
    lost_since: float | None  # monotonic time of the first LOST answer of the current loss


class AnswerLog:
    """The published answers of one target: count, stamp-to-detection latency, when LOST began.

    Written by the worker thread, read by the diagnostics timer; a lock keeps the two apart.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answered = 0
        self._latencies: deque[tuple[float, float]] = deque(maxlen=MAX_LATENCIES)
        self._lost_since: float | None = None

    def record(self, now: float, stamp_ns: int, wall_ns: int, state: int) -> None:
        """Note an answer published at monotonic ``now`` / wall clock ``wall_ns``."""
        latency_ms = (wall_ns - stamp_ns) / 1e6
        with self._lock:
            self._answered += 1
            self._latencies.append((now, latency_ms))
            if state != _LOST:
                self._lost_since = None
            elif self._lost_since is None:
                self._lost_since = now

    def snapshot(self) -> AnswerSnapshot:
        """Return the log's content (copied under the lock)."""
        with self._lock:
            return AnswerSnapshot(self._answered, tuple(self._latencies), self._lost_since)


@dataclass(frozen=True)
class Figures:
    """One target's figures over the window (None: not enough data to say)."""

    span_s: float  # how many seconds the figures cover (less than the window at first)
    arrived: int  # frames that reached the node (or were lost on the way) in the span
    answered: int  # answers published in the span
    answered_total: int  # since the log was made (activate)
    input_hz: float | None
    answered_share: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    dropped: int  # frames dropped in the span
    dropped_total: int
    image_age_s: float  # -1 before the first image
    lost_for_s: float | None  # seconds the target has been LOST, None when it is not


def percentile(values: list[float], q: float) -> float:
    """Return the ``q``-th percentile (0..100), interpolated linearly as numpy's default."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class HealthWindow:
    """Cumulative counters sampled at each tick; figures over the last ``window_s`` seconds.

    Counters are cumulative (the node's own totals), so a tick that comes late or a frame
    counted between two ticks loses nothing: a figure is the difference between the newest
    sample and the oldest one still inside the window.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = float(window_s)
        self._samples: deque[tuple[float, int, int, int]] = deque()

    def update(self, now: float, arrived: int, dropped: int, answers: AnswerSnapshot,
               image_age_s: float, state: int) -> Figures:
        """Add a sample taken at monotonic ``now`` and return the figures it gives.

        ``state`` is the target's state now: a loss ended by a reset (no answer since) is over.
        """
        samples = self._samples
        samples.append((now, arrived, answers.answered, dropped))
        while len(samples) > 1 and now - samples[1][0] >= self.window_s:
            samples.popleft()  # keep one sample at or just beyond the window's start
        start, arrived0, answered0, dropped0 = samples[0]
        span = now - start
        n_arrived = arrived - arrived0
        n_answered = answers.answered - answered0
        latencies = [ms for t, ms in answers.latencies if now - t <= self.window_s]
        return Figures(
            span_s=span,
            arrived=n_arrived,
            answered=n_answered,
            answered_total=answers.answered,
            input_hz=n_arrived / span if span > 0 else None,
            answered_share=(min(1.0, n_answered / n_arrived)
                            if n_arrived >= MIN_FRAMES_FOR_SHARE else None),
            latency_p50_ms=percentile(latencies, 50) if latencies else None,
            latency_p95_ms=percentile(latencies, 95) if latencies else None,
            dropped=dropped - dropped0,
            dropped_total=dropped,
            image_age_s=image_age_s,
            lost_for_s=(now - answers.lost_since
                        if state == _LOST and answers.lost_since is not None else None),
        )


def assess(figures: Figures, limits: Limits, topic: str = "the input") -> tuple[int, list[str]]:
    """Return the level of a running target and the reasons for a WARN (empty when OK)."""
    reasons = []
    if figures.image_age_s < 0:
        reasons.append(f"no image received yet on {topic}")
    elif figures.image_age_s > limits.max_image_age_s:
        reasons.append(f"no image for {figures.image_age_s:.0f} s on {topic} "
                       f"(diagnostics_max_image_age {limits.max_image_age_s:g} s)")
    share = figures.answered_share
    if share is not None and share < limits.min_answered:
        reasons.append(f"{share:.0%} of the frames answered in the last {figures.span_s:.0f} s "
                       f"({figures.answered} of {figures.arrived}; diagnostics_min_answered "
                       f"{limits.min_answered:.0%})")
    if figures.lost_for_s is not None and figures.lost_for_s > limits.max_lost_s:
        reasons.append(f"target lost for {figures.lost_for_s:.0f} s (diagnostics_max_lost "
                       f"{limits.max_lost_s:g} s)")
    return (WARN if reasons else OK), reasons
