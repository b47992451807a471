# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Shared plumbing of the ROS node tests: the node in its own process, a client on real DDS.

The tracker node runs as a subprocess started exactly as a user would start it
(``python -m rtmdnet_ros.node.tracker_node --ros-args --params-file config/tracker.yaml``), so its
log lines, memory and crashes are observed from outside. Each test module gets a ROS_DOMAIN_ID
no other test run on the machine holds (test/conftest.py) and localhost-only discovery, so
parallel runs on one machine do not see each other.
"""

from __future__ import annotations

import array
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from rtmdnet_ros.ros_io.stamps import stamp_to_ns as stamp_ns  # noqa: F401 (tests import it)

REPO_ROOT = Path(__file__).resolve().parents[1]
PARAMS_FILE = REPO_ROOT / "config" / "tracker.yaml"

def domain_id() -> int:
    """This test module's DDS domain: test/conftest.py gives every module its own."""
    return int(os.environ.get("ROS_DOMAIN_ID", "0"))


def ros_env() -> dict[str, str]:
    """Environment for node subprocesses: our domain, localhost only, unbuffered logs."""
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain_id()), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0",
               RCUTILS_COLORIZED_OUTPUT="0")
    return env


def require_ros() -> None:
    """Skip the calling test module without a ROS environment; fail instead under CI=true."""
    import importlib

    missing = []
    for module in ("rclpy", "vision_msgs.msg", "rtmdnet_ros.msg", "rtmdnet_ros.srv",
                   "std_srvs.srv", "sensor_msgs.msg", "diagnostic_msgs.msg"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing.append(f"{module} ({exc})")
    if missing:
        import pytest

        reason = "ROS 2 environment missing: " + ", ".join(missing) + " (run `make test`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason, allow_module_level=True)


CRASH_MARKERS = ("Traceback", "terminate called", "Segmentation fault", "core dumped")


def assert_clean(code: int, output: str, what: str) -> None:
    """Exit 0 and none of the signs of a crash at exit (an abort can still exit 0 in a child)."""
    assert code == 0, f"{what}: exit code {code}\n{output[-3000:]}"
    for marker in CRASH_MARKERS:
        assert marker not in output, f"{what}: '{marker}' in the output\n{output[-3000:]}"


CTRL_C_GAP_S = 0.02  # between the terminal's SIGINT and the one ros2 launch forwards


def own_group() -> None:
    """In a child: a process group of its own (so a test can signal it as a terminal would) and
    SIGINT at its default (a pytest started in the background hands it down ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setpgrp()


def ctrl_c(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """Ctrl-C as a user gives it under ``ros2 launch``: SIGINT to the whole process group (the
    terminal), then a second SIGINT to the process (launch passes its own on) while it is
    already stopping. Killed after ``timeout``; return the exit code (-9 when killed).

    The child must lead its own group (``preexec_fn=own_group``), or the test would signal
    itself.
    """
    if proc.poll() is None:
        assert os.getpgid(proc.pid) == proc.pid, "child not started with preexec_fn=own_group"
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(CTRL_C_GAP_S)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return int(proc.returncode)


class CollectedProcess:
    """A subprocess whose stdout and stderr are collected line by line by a reader thread."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None,
                 **popen: Any) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env or ros_env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1, **popen)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        """Everything the process printed so far."""
        with self._lock:
            return "\n".join(self.lines)

    def wait_for_log(self, pattern: str, timeout: float = 30.0, after: int = 0) -> str:
        """Wait for a log line matching ``pattern`` (searching from line ``after``)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.lines[after:]:
                    if regex.search(line):
                        return line
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited ({self.proc.returncode}):\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout} s:\n"
                             f"{self.log()[-4000:]}")


class NodeProcess(CollectedProcess):
    """The tracker node in a subprocess, with its stderr/stdout collected line by line."""

    def __init__(self, params: dict[str, Any] | None = None, name: str = "rtmdnet_tracker",
                 namespace: str = "", extra_args: list[str] | None = None) -> None:
        cmd = [sys.executable, "-m", "rtmdnet_ros.node.tracker_node", "--ros-args",
               "--params-file", str(PARAMS_FILE)]
        for key, value in (params or {}).items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            cmd += ["-p", f"{key}:={text}"]
        if namespace:
            cmd += ["-r", f"__ns:={namespace}"]
        cmd += extra_args or []
        super().__init__(cmd, REPO_ROOT, preexec_fn=own_group)

    def log_count(self, pattern: str) -> int:
        regex = re.compile(pattern)
        with self._lock:
            return sum(bool(regex.search(line)) for line in self.lines)

    def line_count(self) -> int:
        with self._lock:
            return len(self.lines)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_mb(self) -> float:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", text)
        assert match, text
        return int(match.group(1)) / 1024.0

    def stop(self) -> int:
        """Ctrl-C under launch (group SIGINT, then a second one: :func:`ctrl_c`)."""
        ctrl_c(self.proc, timeout=15)
        self._reader.join(timeout=5)
        return self.proc.returncode


class GraphClient:
    """A test-side rclpy node: publishes images, records outputs, calls the services."""

    def __init__(self, tracker: str = "/rtmdnet_tracker", image_topic: str = "/image") -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from rtmdnet_ros.msg import TrackerStatus
        from rtmdnet_ros.srv import InitTarget
        from sensor_msgs.msg import CompressedImage, Image
        from std_srvs.srv import Trigger
        from vision_msgs.msg import Detection2DArray

        self._saved_env = {k: os.environ.get(k) for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE",)}
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id())
        self.node = rclpy.create_node("test_client", context=self.context)
        reliable = QoSProfile(reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.VOLATILE,
                              history=HistoryPolicy.KEEP_LAST, depth=1000)
        self.image_pub = self.node.create_publisher(Image, image_topic, 5)
        self.compressed_pub = self.node.create_publisher(CompressedImage,
                                                         image_topic + "/compressed", 5)
        self.lock = threading.Lock()
        self.detections: list[tuple[float, Any]] = []
        self.statuses: list[tuple[float, Any]] = []
        self.debug_images: list[tuple[float, Any]] = []
        self.node.create_subscription(Detection2DArray, f"{tracker}/detections",
                                      lambda m: self._store(self.detections, m), reliable)
        self.node.create_subscription(TrackerStatus, f"{tracker}/status",
                                      lambda m: self._store(self.statuses, m), reliable)
        self._debug_sub = None
        self._debug_topic = f"{tracker}/debug_image"
        self._reliable = reliable
        self.init_client = self.node.create_client(InitTarget, f"{tracker}/init")
        self.reset_client = self.node.create_client(Trigger, f"{tracker}/reset")
        self.InitTarget = InitTarget
        self.Trigger = Trigger
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._running = True
        self._thread.start()

    def _spin(self) -> None:
        while self._running:
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # shutting down
                if self._running:
                    raise

    def _store(self, bucket: list, msg: Any) -> None:
        with self.lock:
            bucket.append((time.time(), msg))

    def subscribe_debug(self) -> None:
        from sensor_msgs.msg import Image

        if self._debug_sub is None:
            self._debug_sub = self.node.create_subscription(
                Image, self._debug_topic, lambda m: self._store(self.debug_images, m),
                self._reliable)

    def subscribe_diagnostics(self) -> list[tuple[float, Any]]:
        """Record /diagnostics; return the list it fills with (receive time, array)."""
        from diagnostic_msgs.msg import DiagnosticArray

        if not hasattr(self, "diagnostics"):
            self.diagnostics: list[tuple[float, Any]] = []
            self.node.create_subscription(DiagnosticArray, "/diagnostics",
                                          lambda m: self._store(self.diagnostics, m), 10)
        return self.diagnostics

    def clear(self) -> None:
        with self.lock:
            self.detections.clear()
            self.statuses.clear()
            self.debug_images.clear()

    def wait_connected(self, timeout: float = 30.0, compressed: bool = False) -> None:
        pub = self.compressed_pub if compressed else self.image_pub
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (pub.get_subscription_count() > 0 and self.init_client.service_is_ready()
                    and self.reset_client.service_is_ready()):
                return
            time.sleep(0.05)
        raise AssertionError("tracker node not discovered (subscription/services)")

    def header(self, frame_id: str = "camera", stamp_ns_value: int | None = None) -> Any:
        from builtin_interfaces.msg import Time
        from std_msgs.msg import Header

        if stamp_ns_value is None:
            stamp_ns_value = time.time_ns()
        return Header(stamp=Time(sec=stamp_ns_value // 1_000_000_000,
                                 nanosec=stamp_ns_value % 1_000_000_000), frame_id=frame_id)

    def publish_bgr(self, bgr: np.ndarray, frame_id: str = "camera",
                    stamp_ns_value: int | None = None) -> Any:
        from sensor_msgs.msg import Image

        from rtmdnet_ros.ros_io.image_conversion import fill_image_msg

        header = self.header(frame_id, stamp_ns_value)
        self.image_pub.publish(fill_image_msg(Image(), bgr, header))
        return header

    def first_answer(self, bgr: np.ndarray, stamp_ns_value: int, timeout: float = 60.0) -> Any:
        """Publish ``bgr`` until the node answers it; return the answered frame's header.

        The publisher matching the node's subscription (``wait_connected``) does not mean the
        node has matched the publisher yet, and the node's input then changes its QoS to the
        publisher's: a lone first frame can be lost on the way. A test whose frames go one by
        one starts after this. Each try has its own stamp (``stamp_ns_value`` upwards).
        """
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            header = self.publish_bgr(bgr, stamp_ns_value=stamp_ns_value + attempt)
            try:
                self.detection_for(header, timeout=1.0)
                return header
            except AssertionError:
                attempt += 1
                if time.monotonic() > deadline:
                    raise AssertionError(f"no frame answered within {timeout} s") from None

    def publish_raw(self, *, height: int, width: int, encoding: str, step: int, data: bytes,
                    is_bigendian: int = 0, frame_id: str = "camera") -> Any:
        from sensor_msgs.msg import Image

        msg = Image()
        msg.header = self.header(frame_id)
        msg.height, msg.width, msg.encoding = height, width, encoding
        msg.is_bigendian, msg.step = is_bigendian, step
        msg.data = array.array("B", data)
        self.image_pub.publish(msg)
        return msg.header

    def publish_compressed(self, data: bytes, fmt: str = "bgr8; jpeg compressed bgr8") -> Any:
        from sensor_msgs.msg import CompressedImage

        msg = CompressedImage()
        msg.header = self.header()
        msg.format = fmt
        msg.data = array.array("B", data)
        self.compressed_pub.publish(msg)
        return msg.header

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 30.0,
                   what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                value = predicate()
            if value:
                return value
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def detection_for(self, header: Any, timeout: float = 30.0) -> Any:
        key = stamp_ns(header.stamp)

        def find() -> Any:
            for _, msg in reversed(self.detections):
                if stamp_ns(msg.header.stamp) == key:
                    return msg
            return None

        return self.wait_until(find, timeout, f"detections for stamp {key}")

    def status_for(self, header: Any, timeout: float = 30.0) -> Any:
        key = stamp_ns(header.stamp)

        def find() -> Any:
            for _, msg in reversed(self.statuses):
                if stamp_ns(msg.header.stamp) == key:
                    return msg
            return None

        return self.wait_until(find, timeout, f"status for stamp {key}")

    def debug_for(self, header: Any, timeout: float = 30.0) -> Any:
        key = stamp_ns(header.stamp)

        def find() -> Any:
            for _, msg in reversed(self.debug_images):
                if stamp_ns(msg.header.stamp) == key:
                    return msg
            return None

        return self.wait_until(find, timeout, f"debug image for stamp {key}")

    def call(self, client: Any, request: Any, timeout: float) -> Any:
        """Call a service of the node and wait for the answer (fail after ``timeout``)."""
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise AssertionError(f"service {client.srv_name} did not answer in {timeout} s")
            time.sleep(0.01)
        return future.result()

    def init(self, box_xywh: tuple[float, float, float, float], stamp: Any = None,
             label: str = "", timeout: float = 120.0) -> Any:
        from rtmdnet_ros.ros_io.messages import set_bbox

        request = self.InitTarget.Request()
        set_bbox(request.box, box_xywh)
        if stamp is not None:
            request.stamp = stamp
        request.label = label
        return self.call(self.init_client, request, timeout)

    def reset(self, timeout: float = 30.0) -> Any:
        return self.call(self.reset_client, self.Trigger.Request(), timeout)

    def close(self) -> None:
        import rclpy

        self._running = False
        self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def running_graph(params: dict[str, Any], debug: bool = False) -> Iterator[tuple[Any, Any]]:
    """A tracker node process and a client connected to it; the node must exit cleanly."""
    node = NodeProcess(params)
    client = GraphClient()
    try:
        node.wait_for_log(r"listening on /image", timeout=120)
        client.wait_connected()
        if debug:
            client.subscribe_debug()
        yield node, client
    finally:
        client.close()
        code = node.stop()
        print(node.log()[-3000:])
        assert code in (0, -2), f"node exit code {code}"
