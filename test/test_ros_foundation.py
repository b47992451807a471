# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ROS 2 environment works: real rclpy nodes exchange our messages over Fast DDS.

Each round trip runs between a node in this process and a node in a child process
(test/ros_peer.py), so samples cross a DDS transport as between two ROS programs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DIR = Path(__file__).resolve().parent

try:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
except ImportError as err:  # not in the project's venv
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip(f"rclpy not importable ({err}): run `make test`", allow_module_level=True)

import ros_peer  # noqa: E402  (needs rclpy and the generated interfaces)
from rtmdnet_ros.msg import TrackerStatus  # noqa: E402
from rtmdnet_ros.srv import InitTarget  # noqa: E402

TIMEOUT_S = 30.0


@pytest.fixture
def node() -> Iterator[tuple[Node, SingleThreadedExecutor]]:
    """A node in its own context (init/shutdown per test keeps tests independent)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    test_node = Node(f"rtmdnet_test_{uuid.uuid4().hex[:8]}", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(test_node)
    try:
        yield test_node, executor
    finally:
        executor.shutdown()
        test_node.destroy_node()
        rclpy.shutdown(context=context)


@pytest.fixture
def peer() -> Iterator[Callable[..., subprocess.Popen]]:
    """Start test/ros_peer.py roles in child processes; stop them after the test."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, str(TEST_DIR / "ros_peer.py"), *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def spin_until(executor: SingleThreadedExecutor, done: Callable[[], bool], proc) -> None:
    """Spin until done() or the timeout; report the peer's output when it died or timed out."""
    deadline = time.monotonic() + TIMEOUT_S
    while not done():
        if proc.poll() is not None:
            pytest.fail(f"peer exited with {proc.returncode}: {proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.terminate()
            output = proc.communicate(timeout=10)[0]
            pytest.fail(f"nothing received within {TIMEOUT_S} s; peer said: {output}")
        executor.spin_once(timeout_sec=0.05)


def field_differences(a, b, path: str = "") -> list[str]:
    """List the fields whose values differ, recursing into nested messages and sequences.

    Messages compare equal with ==, but a failure should name the field that changed.
    """
    if hasattr(a, "get_fields_and_field_types"):
        diffs = []
        for name in a.get_fields_and_field_types():
            diffs += field_differences(getattr(a, name), getattr(b, name), f"{path}.{name}")
        return diffs
    if isinstance(a, (list, tuple)) or type(a).__name__ in ("array", "ndarray"):
        a_list, b_list = list(a), list(b)
        if len(a_list) != len(b_list):
            return [f"{path}: length {len(a_list)} != {len(b_list)}"]
        diffs = []
        for i, (x, y) in enumerate(zip(a_list, b_list, strict=True)):
            diffs += field_differences(x, y, f"{path}[{i}]")
            if len(diffs) > 5:
                break
        return diffs
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def receive_one(node_exec, peer, kind: str):
    """Subscribe to a new topic, start a peer publishing `kind` on it, return the first sample."""
    test_node, executor = node_exec
    msg_type, _ = ros_peer.MESSAGES[kind]
    topic = f"/rtmdnet_test/{kind}_{uuid.uuid4().hex[:8]}"
    received = []
    test_node.create_subscription(msg_type, topic, received.append, 10)
    proc = peer("publish", kind, topic)
    spin_until(executor, lambda: bool(received), proc)
    return received[0]


def test_image_crosses_dds_intact(node, peer):
    sent = ros_peer.make_image()
    got = receive_one(node, peer, "image")
    assert field_differences(sent, got) == []
    assert got == sent
    # The parts image converters rely on, spelled out.
    assert (got.height, got.width, got.step, got.encoding) == (480, 640, 1928, "bgr8")
    assert got.header.frame_id == "camera_optical_frame"
    assert (got.header.stamp.sec, got.header.stamp.nanosec) == (1_764_000_123, 456_789_012)
    assert bytes(got.data) == bytes(sent.data) and len(got.data) == 480 * 1928


def test_detection2d_array_crosses_dds_with_all_fields(node, peer):
    sent = ros_peer.make_detections()
    got = receive_one(node, peer, "detections")
    assert field_differences(sent, got) == []
    assert got == sent
    det = got.detections[1]
    assert det.id == "track-2" and det.header.frame_id == "camera_optical_frame"
    assert det.bbox.center.position.x == 322.25 and det.bbox.size_y == 50.25
    assert det.results[1].hypothesis.class_id == "class-2-1"
    assert det.results[1].hypothesis.score == 0.625
    assert list(det.results[1].pose.covariance) == [0.01 * (i + 1) + 1 for i in range(36)]


def test_tracker_status_crosses_dds_with_all_fields(node, peer):
    sent = ros_peer.make_status()
    got = receive_one(node, peer, "status")
    assert field_differences(sent, got) == []
    assert got.state == TrackerStatus.LOST and got.frames_processed == 2**40 + 3


def call_init_target(node_exec, peer_proc, client, request):
    """Call the peer's service and wait for the answer."""
    _, executor = node_exec
    future = client.call_async(request)
    spin_until(executor, future.done, peer_proc)
    return future.result()


def test_init_target_service_round_trips(node, peer):
    test_node, executor = node
    name = f"/rtmdnet_test/init_{uuid.uuid4().hex[:8]}"
    proc = peer("serve-init-target", name)
    client = test_node.create_client(InitTarget, name)
    spin_until(executor, client.service_is_ready, proc)

    request = InitTarget.Request(label="person")
    request.box.center.position.x = 101.5
    request.box.center.position.y = 202.25
    request.box.size_x = 40.0
    request.box.size_y = 80.5
    request.stamp.sec = 1_764_000_123
    request.stamp.nanosec = 456_789_012
    response = call_init_target(node, proc, client, request)
    expected = ros_peer.answer_init_target(request)
    assert (response.success, response.message, response.track_id) == expected
    assert response.success and response.track_id.startswith("person@1764000123.456789012:")

    # Zero stamp and empty label (the "newest frame" / "node's label" defaults) cross too.
    default_request = InitTarget.Request()
    default_request.box.size_x = 10.0
    default_request.box.size_y = 10.0
    response = call_init_target(node, proc, client, default_request)
    assert response.track_id == ros_peer.answer_init_target(default_request)[2]
    assert response.track_id.startswith("target@0.000000000:")

    # A refusal carries its reason.
    bad = InitTarget.Request()
    bad.box.size_x = 0.0
    bad.box.size_y = 5.0
    response = call_init_target(node, proc, client, bad)
    assert not response.success and response.track_id == ""
    assert "box size must be positive" in response.message


# vision_msgs 4.x (Humble through Kilted), transcribed from the upstream definitions as listed in
# shared/docs/ros2-conventions.md; .msg notation, package-local types unqualified.
UPSTREAM_VISION_MSGS = {
    "BoundingBox2D": [("center", "Pose2D"), ("size_x", "float64"), ("size_y", "float64")],
    "BoundingBox2DArray": [("header", "std_msgs/Header"), ("boxes", "BoundingBox2D[]")],
    "Detection2D": [
        ("header", "std_msgs/Header"),
        ("results", "ObjectHypothesisWithPose[]"),
        ("bbox", "BoundingBox2D"),
        ("id", "string"),
    ],
    "Detection2DArray": [("header", "std_msgs/Header"), ("detections", "Detection2D[]")],
    "ObjectHypothesis": [("class_id", "string"), ("score", "float64")],
    "ObjectHypothesisWithPose": [
        ("hypothesis", "ObjectHypothesis"),
        ("pose", "geometry_msgs/PoseWithCovariance"),
    ],
    "Point2D": [("x", "float64"), ("y", "float64")],
    "Pose2D": [("position", "Point2D"), ("theta", "float64")],
    "Classification": [("header", "std_msgs/Header"), ("results", "ObjectHypothesis[]")],
    "VisionInfo": [
        ("header", "std_msgs/Header"),
        ("method", "string"),
        ("database_location", "string"),
        ("database_version", "int32"),
    ],
    "LabelInfo": [
        ("header", "std_msgs/Header"),
        ("class_map", "VisionClass[]"),
        ("threshold", "float32"),
    ],
    "VisionClass": [("class_id", "uint16"), ("class_name", "string")],
}

# How rosidl_generator_py names .msg primitive types in get_fields_and_field_types().
PY_TYPE_NAMES = {"float64": "double", "float32": "float"}


def qualified(msg_type: str, package: str) -> str:
    """Return a .msg field type with its package, e.g. Pose2D -> vision_msgs/Pose2D."""
    base = msg_type.removesuffix("[]")
    if base[0].isupper() and "/" not in base:
        base = f"{package}/{base}"
    return base + ("[]" if msg_type.endswith("[]") else "")


def python_type_name(msg_type: str, package: str) -> str:
    """Return the rosidl Python spelling of a .msg field type (T[] -> sequence<T>)."""
    full = qualified(msg_type, package)
    base = full.removesuffix("[]")
    base = PY_TYPE_NAMES.get(base, base)
    return f"sequence<{base}>" if full.endswith("[]") else base


@pytest.mark.parametrize("name", sorted(UPSTREAM_VISION_MSGS))
def test_vision_msgs_types_match_upstream(name):
    import vision_msgs.msg

    msg_class = getattr(vision_msgs.msg, name)
    expected = {
        field: python_type_name(kind, "vision_msgs") for field, kind in UPSTREAM_VISION_MSGS[name]
    }
    fields = msg_class.get_fields_and_field_types()
    assert fields == expected
    assert list(fields) == list(expected)  # same order: the wire layout depends on it


def test_vision_msgs_definitions_match_upstream():
    """The installed .msg files (what rosidl parsed) declare the same fields, in order."""
    from ament_index_python.packages import get_package_share_directory
    from rosidl_adapter.parser import parse_message_file

    share = Path(get_package_share_directory("vision_msgs"))
    for name, fields in UPSTREAM_VISION_MSGS.items():
        spec = parse_message_file("vision_msgs", str(share / "msg" / f"{name}.msg"))
        got = [(field.name, str(field.type)) for field in spec.fields]
        assert got == [(f, qualified(t, "vision_msgs")) for f, t in fields], name


def test_own_interfaces_have_the_issue_fields():
    request = InitTarget.Request.get_fields_and_field_types()
    assert request == {
        "box": "vision_msgs/BoundingBox2D",
        "stamp": "builtin_interfaces/Time",
        "label": "string",
        "init_class": "string",  # or by the best detection of a class
        "use_point": "boolean",  # or by the detection (else a box) at a point
        "point_x": "double",
        "point_y": "double",
        "track_id": "string",  # which target (max_targets); empty = a new one
    }
    assert InitTarget.Response.get_fields_and_field_types() == {
        "success": "boolean",
        "message": "string",
        "track_id": "string",
    }
    assert TrackerStatus.get_fields_and_field_types() == {
        "header": "std_msgs/Header",
        "state": "uint8",
        "score": "float",
        "raw_score": "float",
        "track_id": "string",
        "processing_ms": "float",
        "frames_processed": "uint64",
        "frames_dropped": "uint64",
        "device": "string",
        "seconds_since_image": "float",
        "message": "string",
    }
    assert (TrackerStatus.IDLE, TrackerStatus.TRACKING, TrackerStatus.LOST) == (0, 1, 2)
