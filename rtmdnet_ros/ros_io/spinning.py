# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Spinning an executor through rclpy's destroy race.

Why: rclpy's executors build each wait set from every entity of the node, outside any lock an
entity's owner could take. An entity destroyed from a callback thread at that moment (the image
subscription handed over to the publishers' QoS, a lifecycle transition closing the inputs) makes
the building raise ``InvalidHandle`` out of ``spin``, and the process would end with a traceback
in the middle of a track (docs/node.md, "Threads and the executor"). Nothing has been taken from
the wait set when it raises; the next pass builds it again without the destroyed entity, so
spinning on loses nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

LOG = logging.getLogger(__name__)

# Passes that may fail in a row within RACE_WINDOW_S before the failure counts as a real fault.
# One destroyed entity fails one pass; a handful covers several destroyed in one transition.
RACE_RETRIES = 20
RACE_WINDOW_S = 1.0


def invalid_handle_error() -> type[BaseException]:
    """Return rclpy's InvalidHandle (one class on Humble, Jazzy and Kilted)."""
    from rclpy.impl.implementation_singleton import rclpy_implementation

    return rclpy_implementation.InvalidHandle


class RaceGuard:
    """Decides whether an ``InvalidHandle`` out of a spin is the destroy race or a real fault."""

    def __init__(self, retries: int = RACE_RETRIES, window_s: float = RACE_WINDOW_S) -> None:
        self._retries = retries
        self._window_s = window_s
        self._recent: list[float] = []
        self.survived = 0  # passes resumed after the race, for tests and logs

    def absorb(self, exc: BaseException) -> None:
        """Return when spinning may go on; re-raise ``exc`` when it keeps failing."""
        now = time.monotonic()
        self._recent = [t for t in self._recent if now - t < self._window_s] + [now]
        if len(self._recent) > self._retries:
            raise exc
        self.survived += 1
        LOG.debug("an entity was destroyed while the executor built its wait set: %s", exc)


def spin_until_done(executor: Any, future: Any, guard: RaceGuard | None = None) -> None:
    """``executor.spin_until_future_complete(future)``, resumed after the destroy race."""
    guard = guard or RaceGuard()
    invalid = invalid_handle_error()
    while not future.done():
        try:
            executor.spin_until_future_complete(future)
        except invalid as exc:
            guard.absorb(exc)


def spin_once(executor: Any, timeout_sec: float, guard: RaceGuard) -> None:
    """``executor.spin_once(timeout_sec)``, the destroy race absorbed by ``guard``."""
    try:
        executor.spin_once(timeout_sec=timeout_sec)
    except invalid_handle_error() as exc:
        guard.absorb(exc)
