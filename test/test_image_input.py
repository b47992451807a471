# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's image input on its own, in a real rclpy graph.

The input under test sits on a plain rclpy node in one DDS participant, the camera (real
publishers with RELIABLE or BEST_EFFORT QoS) in another, and what the input logs is read back
from ``/rosout`` as any ROS tool would. No tracker: each test takes seconds.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest
from node_harness import domain_id, require_ros

require_ros()

import rclpy  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import (  # noqa: E402
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from rtmdnet_ros.node.frame_cache import FrameCache  # noqa: E402
from rtmdnet_ros.node.image_input import HAS_MESSAGE_INFO, ImageInput, InputSettings  # noqa: E402

# Short periods, and every problem line logged (no rate limit) so each can be read back.
FAST = InputSettings(qos_check_s=0.1, no_image_warn_s=0.2, retire_s=2.0, log_repeat_s=0.0)
_NAMESPACES = itertools.count()


class RecordingCache(FrameCache):
    """A frame cache that also keeps every stamp handed to it, duplicates included."""

    def __init__(self) -> None:
        super().__init__(100)
        self.stamps: list[int] = []

    def put(self, stamp_ns: int, header: Any, msg: Any, compressed: bool = False) -> bool:
        self.stamps.append(stamp_ns)
        return super().put(stamp_ns, header, msg, compressed)


class Graph:
    """The input's node and a camera node, each in its own context (participant)."""

    def __init__(self, pinned_reliability: str = "") -> None:
        self.ns = f"/input_test_{next(_NAMESPACES)}"
        self._executors: list[SingleThreadedExecutor] = []
        # As a user pins it: -p qos_overrides./ns/image.subscription.reliability:=reliable
        overrides = ([Parameter(f"qos_overrides.{self.ns}/image.subscription.reliability",
                                value=pinned_reliability)] if pinned_reliability else [])
        self.node = self._node("tracker", overrides)
        self.camera = self._node("camera", [])
        self.logs: list[Log] = []
        # Transient local, as /rosout is offered: a line logged before the two ends matched
        # still arrives.
        self.camera.create_subscription(Log, "/rosout", self.logs.append, QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self.cache = RecordingCache()
        self.sequence = itertools.count(1)

    def _node(self, name: str, overrides: list[Parameter]) -> Any:
        context = Context()
        rclpy.init(context=context, domain_id=domain_id())
        node = rclpy.create_node(name, namespace=self.ns, context=context,
                                 parameter_overrides=overrides)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        self._executors.append(executor)
        return node

    def input(self, settings: InputSettings = FAST) -> ImageInput:
        image_input = ImageInput(self.node, self.cache, settings)
        image_input.open()
        return image_input

    def publisher(self, reliability: ReliabilityPolicy, msg_type: Any = Image,
                  topic: str = "image") -> Any:
        return self.camera.create_publisher(
            msg_type, topic, QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                                        reliability=reliability))

    def send(self, pub: Any) -> int:
        """Publish a tiny image with the next stamp; return that stamp in nanoseconds."""
        stamp = next(self.sequence) * 1_000_000
        msg = Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(12))
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        pub.publish(msg)
        return stamp

    def prime(self, pub: Any) -> None:
        """Send until a frame arrives (a best-effort one may go before both ends matched),
        then spin a moment more so that no frame is still on its way."""
        self.spin_until(lambda: self.cache.stamps, "a first frame", between=lambda: self.send(pub))
        deadline = time.monotonic() + 0.3
        self.spin_until(lambda: time.monotonic() > deadline, "the frames on their way")

    def burst(self, pub: Any, count: int) -> int:
        """Send ``count`` frames while the node does not spin; return the last stamp once the
        input has taken one of them."""
        before = len(self.cache.stamps)
        stamps = [self.send(pub) for _ in range(count)]
        time.sleep(0.3)
        self.spin_until(lambda: len(self.cache.stamps) > before, "a frame of the burst")
        return stamps[-1]

    def spin_until(self, predicate: Callable[[], Any], what: str, timeout: float = 10.0,
                   between: Callable[[], Any] | None = None) -> Any:
        """Spin both participants until ``predicate()`` holds; ``between`` runs every turn."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if between is not None:
                between()
            for executor in self._executors:
                executor.spin_once(timeout_sec=0.01)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def reliabilities(self) -> list[str]:
        """The reliability of each of the input's subscriptions, as the ROS graph reports them."""
        infos = self.camera.get_subscriptions_info_by_topic(f"{self.ns}/image")
        return sorted(info.qos_profile.reliability.name for info in infos
                      if info.node_name == "tracker")

    def logged(self, pattern: str, level: int) -> str | None:
        """The first line of the input's node on /rosout containing ``pattern`` at ``level``."""
        for entry in self.logs:
            if entry.name.endswith("tracker") and entry.level == level and pattern in entry.msg:
                return entry.msg
        return None

    def close(self) -> None:
        for executor in self._executors:
            context = executor.context
            for node in list(executor.get_nodes()):
                node.destroy_node()
            executor.shutdown()
            rclpy.try_shutdown(context=context)


@pytest.fixture()
def graph():
    created: list[Graph] = []

    def make(**kwargs: Any) -> Graph:
        created.append(Graph(**kwargs))
        return created[-1]

    yield make
    for g in created:
        g.close()




needs_message_info = pytest.mark.skipif(
    not HAS_MESSAGE_INFO, reason="Humble hands no publisher sequence numbers to callbacks")


@needs_message_info
def test_frames_lost_before_the_callback_are_counted_and_explained(graph):
    g = graph()
    image_input = g.input()
    pub = g.publisher(ReliabilityPolicy.BEST_EFFORT)
    g.prime(pub)
    lost = image_input.lost
    # Five frames while the node does not spin: its depth-1 best-effort history keeps only the
    # newest, so four never reach the callback; the publisher's sequence numbers show the gap.
    last = g.burst(pub, 5)
    assert g.cache.stamps[-1] == last and image_input.lost == lost + 4
    line = g.spin_until(lambda: g.logged("(4 just now, from publisher sequence gaps)", Log.WARN),
                        "the transport warning")
    assert "frame(s) lost before reaching the node so far" in line and "Fix: " in line, line
    # a best-effort publisher: kept (waited for: the camera's view of the graph may lag)
    assert g.spin_until(g.reliabilities, "the input in the graph") == ["BEST_EFFORT"]
    image_input.close()
    g.spin_until(lambda: g.camera.count_subscribers(f"{g.ns}/image") == 0,
                 "the subscription to go")


@needs_message_info
def test_input_hands_over_to_the_publishers_reliability_without_duplicates(graph):
    g = graph()
    image_input = g.input()
    assert "BEST_EFFORT depth 1, reliability adapts to the publishers" in image_input.describe()
    reliable = g.publisher(ReliabilityPolicy.RELIABLE)
    topic = f"{g.ns}/image"

    def handed_over(wanted: str) -> bool:
        # The new subscription alone is left, with the wanted reliability.
        return g.reliabilities() == [wanted]

    # While the input changes subscriptions, a frame every few turns (time for both
    # subscriptions to take it): each must reach the cache once.
    turns = itertools.count()

    def paced() -> None:
        if next(turns) % 4 == 0:
            g.send(reliable)

    g.spin_until(lambda: handed_over("RELIABLE"), "RELIABLE", between=paced)
    line = g.spin_until(lambda: g.logged(f"input QoS on {topic} now RELIABLE depth 1", Log.INFO),
                        "the hand-over line")
    assert "1 publisher(s) offering RELIABLE" in line
    best_effort = g.publisher(ReliabilityPolicy.BEST_EFFORT)
    g.spin_until(lambda: handed_over("BEST_EFFORT"), "BEST_EFFORT", between=paced)
    before = len(g.cache.stamps)
    sent = g.send(best_effort)
    g.spin_until(lambda: sent in g.cache.stamps, "the best-effort publisher's frame")
    assert len(g.cache.stamps) > before
    assert len(g.cache.stamps) == len(set(g.cache.stamps)), "a frame was handed over twice"
    assert g.cache.received == len(g.cache.stamps)
    image_input.close()


@needs_message_info
def test_frames_replaced_around_the_hand_over_to_reliable_raise_no_transport_warning(graph):
    """Frames replaced in the depth-1 histories while the node is busy as a reliable camera
    starts: counted, and blamed on nothing. The best-effort input's first gap makes it follow
    its reliable publisher at once, and while both subscriptions are open the one that stays,
    reliable, judges: the camera's transport lost nothing."""
    g = graph()
    # No periodic QoS check within the test: only a sequence gap starts the hand-over, and the
    # old subscription stays until the end.
    image_input = g.input(InputSettings(qos_check_s=600.0, no_image_warn_s=0.2,
                                        retire_s=600.0, log_repeat_s=0.0))
    pub = g.publisher(ReliabilityPolicy.RELIABLE)
    topic = f"{g.ns}/image"
    g.spin_until(lambda: g.node.count_publishers(topic) == 1, "the node to see the camera")
    g.prime(pub)
    lost = image_input.lost
    last = g.burst(pub, 5)  # the best-effort input, or a hand-over the priming already began
    assert g.cache.stamps[-1] == last and image_input.lost == lost + 4
    assert image_input.handing_over
    g.spin_until(lambda: g.reliabilities() == ["BEST_EFFORT", "RELIABLE"], "both subscriptions")
    last = g.burst(pub, 5)  # both subscriptions open
    assert g.cache.stamps[-1] == last and image_input.lost == lost + 8
    assert image_input.handing_over
    assert len(g.cache.stamps) == len(set(g.cache.stamps)), "a frame was handed over twice"
    # /rosout keeps one node's lines in order: once this one is back, any warning is too.
    g.node.get_logger().info("end of the bursts")
    g.spin_until(lambda: g.logged("end of the bursts", Log.INFO), "the last line")
    assert g.logged(f"input QoS on {topic} now RELIABLE depth 1", Log.INFO)
    assert g.logged("lost before reaching the node", Log.WARN) is None
    image_input.close()


@needs_message_info
def test_a_reliable_input_counts_replaced_frames_without_a_transport_warning(graph):
    g = graph()
    image_input = g.input()
    pub = g.publisher(ReliabilityPolicy.RELIABLE)
    g.spin_until(lambda: g.reliabilities() == ["RELIABLE"], "RELIABLE")
    g.prime(pub)
    lost = image_input.lost
    last = g.burst(pub, 5)
    # Replaced in the depth-1 history while the node was busy: counted, but nothing points at
    # the camera's transport (a reliable reader loses nothing there).
    assert g.cache.stamps[-1] == last and image_input.lost == lost + 4
    g.spin_until(lambda: g.logged("input QoS on", Log.INFO), "the hand-over line")
    assert g.logged("lost before reaching the node", Log.WARN) is None
    image_input.close()


def test_no_image_hint_names_the_other_transport(graph):
    g = graph()
    g.publisher(ReliabilityPolicy.BEST_EFFORT, CompressedImage, "image/compressed")
    compressed = f"{g.ns}/image/compressed"
    g.spin_until(lambda: g.node.count_publishers(compressed) == 1, "the compressed publisher")
    image_input = g.input()
    line = g.spin_until(lambda: g.logged("no image received", Log.WARN), "the hint")
    assert line.startswith(f"no image received on {g.ns}/image after 0 s: 0 publisher(s) on it")
    assert f"1 publisher(s) on {compressed}: set image_transport:=compressed" in line
    image_input.close()


def test_a_pinned_reliability_reports_an_incompatible_publisher(graph):
    g = graph(pinned_reliability="reliable")
    image_input = g.input()
    assert "RELIABLE depth 1, reliability set by qos_overrides" in image_input.describe()
    g.publisher(ReliabilityPolicy.BEST_EFFORT)
    line = g.spin_until(lambda: g.logged("incompatible with this subscription", Log.ERROR),
                        "the incompatible-QoS error")
    assert line.startswith(f"a publisher on {g.ns}/image has QoS incompatible")
    # pinned: never adapted (waited for: the camera's view of the graph may lag)
    assert g.spin_until(g.reliabilities, "the input in the graph") == ["RELIABLE"]
    image_input.close()
