# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One verification at a time beside the frame path (``composite_verify_aside``).

Why: on a live camera the classifier's pass costs several Siamese passes, and a frame that waits
for it makes the frames behind it late or dropped. Run aside, the frame path answers every frame
from the Siamese network and the verdict reaches the track a frame or two later
(composite/policy.py applies it; docs/tracker.md, "Verification aside").

Each job runs in a thread of its own that ends with the job, not in a long-lived daemon: a
daemon thread still inside torch at interpreter exit can abort the process, and an idle
non-daemon thread would keep it from exiting. ``close`` waits for the job in progress.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

THREAD_NAME = "rtmdnet-verify"


class AsideRunner:
    """Runs one job at a time in its own thread; its result waits for ``take``.

    ``submit`` refuses a job while one runs or while a result has not been taken, so a verdict
    is never overwritten by a newer one before the frame path has applied it. ``nice``: the
    job thread's scheduling niceness (Linux), so on busy cores the frame path keeps precedence.
    """

    def __init__(self, nice: int = 0) -> None:
        self._nice = int(nice)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._result: tuple[Any, Any] | None = None
        self._error: BaseException | None = None
        self._generation = 0  # bumped by close(): a job started before it is void

    @property
    def idle(self) -> bool:
        """Whether a job may be submitted (none runs and no result waits)."""
        with self._lock:
            return self._is_idle()

    def _is_idle(self) -> bool:
        running = self._thread is not None and self._thread.is_alive()
        return not running and self._result is None and self._error is None

    def submit(self, job: Callable[[], Any], context: Any = None) -> bool:
        """Start ``job()`` in a new thread; False (nothing started) when not idle.

        ``context`` comes back with the result: what the caller needs to apply it.
        """
        with self._lock:
            if not self._is_idle():
                return False
            generation = self._generation
            self._thread = threading.Thread(target=self._run, args=(job, context, generation),
                                            name=THREAD_NAME)
            self._thread.start()
        return True

    def _run(self, job: Callable[[], Any], context: Any, generation: int) -> None:
        if self._nice:
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
            except (AttributeError, OSError):  # not Linux, or not allowed: keep the default
                pass
        try:
            result = job()
        except BaseException as exc:  # surfaced by take(), in the frame path's thread
            with self._lock:
                if generation == self._generation:
                    self._error = exc
            return
        with self._lock:
            if generation == self._generation:
                self._result = (result, context)

    def take(self) -> tuple[Any, Any] | None:
        """Return (result, context) of the finished job, once; None while none is finished.

        Raises RuntimeError (chained to the job's exception) when the job failed.
        """
        with self._lock:
            done, self._result = self._result, None
            error, self._error = self._error, None
        if error is not None:
            raise RuntimeError(f"the verification beside the frame path failed: {error}") \
                from error
        return done

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job in progress has finished; whether it did within ``timeout``."""
        with self._lock:
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def close(self, timeout: float | None = None) -> bool:
        """Wait for the job in progress and drop its result; whether it ended in time.

        The runner stays usable: the next ``submit`` starts a new thread.
        """
        with self._lock:
            self._generation += 1
            self._result = None
            self._error = None
        ended = self.wait(timeout)
        with self._lock:
            if ended:
                self._thread = None
        return ended
