# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A callback's blocking work, run in a thread of its own and awaited by the executor.

Why: the node spins on one thread (a SingleThreadedExecutor; docs/node.md, "Threading, drops and
latency", says why not rclpy's multi-threaded one). A callback that may block, a track start
waiting for the step in progress and training on its first frame, would hold up every image and
every ``~/reset`` behind it. Wrapped here, the callback is a coroutine: its work runs in a thread
and the executor serves everything else until the result is back. A mutually exclusive group
still runs its callbacks one at a time, now including the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rclpy.task import Future

THREAD_NAME = "rtmdnet-start"


def offloaded(node: Any, work: Callable[..., Any]) -> Callable[..., Any]:
    """Return an async callback that runs ``work(*args)`` off the executor and returns its value.

    An exception in ``work`` is raised in the callback, as if it had run there. One worker
    thread per callback, kept between calls (a detector's arrays come at camera rate): calls
    of one callback run one after the other, as they would in the callback itself. Its thread
    is not a daemon: a start still inside torch when the interpreter exits could abort it, so
    the exit waits for the start instead (a step and a first-frame template at most).
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_NAME)

    async def callback(*args: Any) -> Any:
        future: Future = Future(executor=node.executor)
        # A done callback is scheduled through the executor's guard condition: the result wakes
        # the executor, which resumes this coroutine at once.
        future.add_done_callback(lambda _: None)

        def run() -> None:
            try:
                future.set_result(work(*args))
            except Exception as exc:  # handed to the awaiting callback
                future.set_exception(exc)

        pool.submit(run)
        return await future

    return callback
