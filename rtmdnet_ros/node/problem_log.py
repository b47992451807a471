# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A rate limit for the node's recurring problem lines.

A broken camera or a lossy transport repeats its fault on every frame (30 a second): one line per
kind of problem and period says it clearly without burying every other line of the log. Shared
by the image input (transport losses, graph queries) and the worker (frames that fail).
"""

from __future__ import annotations

import math
import time
from typing import Any

LOG_REPEAT_S = 5.0  # the same problem is logged at most once per this many seconds


class ProblemLog:
    """Log each problem key at most once per ``repeat_s`` seconds, to the given ROS logger."""

    def __init__(self, logger: Any, repeat_s: float = LOG_REPEAT_S) -> None:
        self._logger = logger
        self._repeat_s = repeat_s
        self._last: dict[str, float] = {}

    def report(self, key: str, text: str, warning: bool = False) -> None:
        """Log ``text`` (an error, or a warning) unless ``key`` was logged within the period."""
        now = time.monotonic()
        if now - self._last.get(key, -math.inf) < self._repeat_s:
            return
        self._last[key] = now
        if warning:
            self._logger.warning(text)
        else:
            self._logger.error(text)
