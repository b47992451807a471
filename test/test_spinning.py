# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's executor loop survives rclpy's destroy race (rtmdnet_ros/ros_io/spinning.py).

The race: a subscription's event handler destroyed by a callback thread while the executor adds
it to the wait set raises ``InvalidHandle`` out of ``spin`` (it ended a tracking node during a
QoS hand-over). The first tests make rclpy's executor meet exactly that failure on a real node,
once, with a waitable that raises it where rclpy's event handler does; the last one destroys and
re-creates real subscriptions from a callback thread while frames of messages flow.
"""

from __future__ import annotations

import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.task import Future  # noqa: E402
from rclpy.waitable import NumberOfEntities, Waitable  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from rtmdnet_ros.ros_io.spinning import RaceGuard, invalid_handle_error, spin_until_done  # noqa: E402

try:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks


class DestroyedWhileAdded(Waitable):
    """Fails in ``add_to_wait_set`` as a destroyed event handler does, ``times`` times.

    Then it leaves the node, as the destroyed handler has left it by the next pass.
    """

    def __init__(self, node, times: int = 1) -> None:
        super().__init__(node.default_callback_group)
        self._node = node
        self.left = times

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc) -> None:
        pass

    def is_ready(self, wait_set) -> bool:
        return False

    def take_data(self):
        return None

    async def execute(self, taken_data) -> None:
        return None

    def get_num_entities(self) -> NumberOfEntities:
        return NumberOfEntities()

    def add_to_wait_set(self, wait_set) -> None:
        if self.left > 0:
            self.left -= 1
            if self.left == 0:
                self._node.remove_waitable(self)
            raise invalid_handle_error()(
                "cannot use Destroyable because destruction was requested")


@pytest.fixture
def node():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("spinning_test", context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    yield node, executor
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)


def ticks_then_done(node, count: int) -> Future:
    """A future a timer completes after ``count`` ticks: proof that spinning went on."""
    done = Future()
    ticks = [0]

    def tick() -> None:
        ticks[0] += 1
        if ticks[0] >= count and not done.done():
            done.set_result(ticks[0])

    node.create_timer(0.01, tick)
    return done


def test_rclpy_spin_ends_on_the_race(node):
    """Without the guard the failure leaves spin: what ended the node."""
    n, executor = node
    n.add_waitable(DestroyedWhileAdded(n))
    with pytest.raises(invalid_handle_error()):
        executor.spin_until_future_complete(ticks_then_done(n, 5), timeout_sec=10.0)


def test_spinning_goes_on_after_the_race(node):
    n, executor = node
    waitable = DestroyedWhileAdded(n, times=3)
    n.add_waitable(waitable)
    guard = RaceGuard()
    done = ticks_then_done(n, 5)
    spin_until_done(executor, done, guard)
    assert done.result() >= 5
    assert guard.survived == 3
    assert waitable not in n.waitables


def test_a_failure_that_keeps_coming_is_raised(node):
    n, executor = node
    n.add_waitable(DestroyedWhileAdded(n, times=1000))
    guard = RaceGuard(retries=4, window_s=60.0)
    with pytest.raises(invalid_handle_error()):
        spin_until_done(executor, ticks_then_done(n, 5), guard)
    assert guard.survived == 4


def test_subscriptions_destroyed_from_a_callback_thread_while_messages_flow(node):
    """Real entities: subscriptions with event handlers re-made every few ms, as a hand-over.

    Other publishers (each with its event handlers) make the wait set as long to build as a
    tracker node's, so some runs meet the race; the tests above make sure of it.
    """
    n, executor = node
    publisher = n.create_publisher(String, "race", 10)
    others = [n.create_publisher(String, f"other_{i}", 1) for i in range(40)]
    received: list[str] = []
    lock = threading.Lock()
    state = {"sub": None, "swaps": 0}
    deadline = time.monotonic() + 60.0
    done = Future()

    def on_message(msg: String) -> None:
        with lock:
            received.append(msg.data)

    def swap() -> None:
        old = state["sub"]
        state["sub"] = n.create_subscription(
            String, "race", on_message, 10,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=lambda event: None))
        if old is not None:
            n.destroy_subscription(old)
        state["swaps"] += 1
        publisher.publish(String(data=str(state["swaps"])))
        if (state["swaps"] >= 100 or time.monotonic() > deadline) and not done.done():
            timer.cancel()
            done.set_result(True)

    timer = n.create_timer(0.003, swap)
    spin_until_done(executor, done)
    assert state["swaps"] >= 100
    # The last subscription still receives: the node kept spinning through every swap.
    with lock:
        before = len(received)
    publisher.publish(String(data="last"))
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
        with lock:
            if "last" in received[before:]:
                break
    assert "last" in received
    del others  # alive until here: part of every wait set built
