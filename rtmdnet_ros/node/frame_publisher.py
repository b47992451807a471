# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A camera stand-in: publishes a sequence folder, a video file or given frames at a set rate.

Each frame goes out as ``sensor_msgs/Image`` (``bgr8``) on ``image`` (or as JPEG
``sensor_msgs/CompressedImage`` on ``image/compressed``) with a fresh stamp from the node clock and
a configurable ``frame_id``, exactly what a camera driver would send. The node remembers which
stamp carried which frame index, so the demo and the tests can line detections up with ground
truth without guessing.

Run: ``frame_publisher --ros-args -p sequence:=/path/to/seq -p rate:=10`` (or
``-p video:=clip.mp4``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from rtmdnet_ros.node.transport import active_profile, profile_environment
from rtmdnet_ros.options import check_choice
from rtmdnet_ros.ros_io.image_conversion import IMAGE_TRANSPORTS, fill_image_msg
from rtmdnet_ros.ros_io.stamps import stamp_to_ns

# RELIABLE matches every subscriber (best-effort ones included); a short history keeps a slow
# subscriber from holding memory.
PUBLISH_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
    history=HistoryPolicy.KEEP_LAST,
    depth=5,
)


class FrameSource:
    """A finite list of frames read on demand (a sequence folder, a video, or arrays)."""

    def __init__(self, count: int, read: Callable[[int], np.ndarray],
                 groundtruth: np.ndarray | None = None, name: str = "frames") -> None:
        self.count = count
        self._read = read
        self.groundtruth = groundtruth
        self.name = name

    def __len__(self) -> int:
        return self.count

    def frame(self, index: int) -> np.ndarray:
        """Return frame ``index`` as HxWx3 uint8 BGR."""
        return self._read(index)

    @classmethod
    def from_arrays(cls, frames: Sequence[np.ndarray], groundtruth: np.ndarray | None = None,
                    name: str = "frames") -> FrameSource:
        """Wrap frames already in memory (BGR)."""
        return cls(len(frames), lambda i: frames[i], groundtruth, name)

    @classmethod
    def from_sequence(cls, path: str | Path, max_frames: int = 0) -> FrameSource:
        """Read a folder in the shared format (img/NNNN.jpg + groundtruth_rect.txt)."""
        from rtmdnet_ros.sequences import load_sequence

        seq = load_sequence(path)
        paths = seq.frame_paths[:max_frames] if max_frames > 0 else seq.frame_paths

        def read(i: int) -> np.ndarray:
            image = cv2.imread(str(paths[i]), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"unreadable frame {paths[i]}")
            return image

        return cls(len(paths), read, seq.groundtruth[: len(paths)], seq.name)

    @classmethod
    def from_video(cls, path: str | Path, max_frames: int = 0) -> FrameSource:
        """Decode a video file up front (demo clips are short; seeking is unreliable)."""
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise ValueError(f"cannot open video {path}")
        frames: list[np.ndarray] = []
        try:
            while max_frames <= 0 or len(frames) < max_frames:
                ok, image = capture.read()
                if not ok:
                    break
                frames.append(image)
        finally:
            capture.release()
        if not frames:
            raise ValueError(f"video {path} has no readable frames")
        return cls.from_arrays(frames, None, Path(path).stem)


class FramePublisher(Node):
    """Publishes a :class:`FrameSource` at ``rate`` Hz; remembers stamp -> frame index."""

    def __init__(self, source: FrameSource | None = None, *, node_name: str = "frame_publisher",
                 autostart: bool = True, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.declare_parameter("sequence", "", ParameterDescriptor(
            description="Sequence folder (img/ + groundtruth_rect.txt) to publish."))
        self.declare_parameter("video", "", ParameterDescriptor(
            description="Video file to publish (when no sequence is given)."))
        self.declare_parameter("rate", 10.0, ParameterDescriptor(
            description="Frames per second.",
            floating_point_range=[FloatingPointRange(from_value=0.1, to_value=1000.0, step=0.0)]))
        self.declare_parameter("frame_id", "camera", ParameterDescriptor(
            description="header.frame_id of every image."))
        self.declare_parameter("transport", "raw", ParameterDescriptor(
            description="raw: sensor_msgs/Image on 'image'; compressed: JPEG on "
                        "'image/compressed'.",
            additional_constraints=" | ".join(IMAGE_TRANSPORTS)))
        self.declare_parameter("loop", False, ParameterDescriptor(
            description="Start again after the last frame."))
        self.declare_parameter("max_frames", 0, ParameterDescriptor(
            description="Publish at most this many frames (0 = all)."))
        rate = float(self.get_parameter("rate").value)
        self.frame_id = str(self.get_parameter("frame_id").value)
        self.loop = bool(self.get_parameter("loop").value)
        transport = self.get_parameter("transport").value
        check_choice("parameter transport", transport, IMAGE_TRANSPORTS)
        self.compressed = transport == "compressed"
        if source is None:
            source = self._source_from_parameters()
        self.source = source
        if self.compressed:
            self._pub = self.create_publisher(CompressedImage, "image/compressed", PUBLISH_QOS)
        else:
            self._pub = self.create_publisher(Image, "image", PUBLISH_QOS)
        self._lock = threading.Lock()
        self._next = 0
        self.published = 0
        self.stamps: dict[int, int] = {}  # stamp ns -> frame index
        self.headers: list[Any] = []
        self.done = threading.Event()
        # (create_timer's own autostart argument is missing on Humble)
        self._timer = self.create_timer(1.0 / rate, self._tick)
        if not autostart:
            self._timer.cancel()
        self.get_logger().info(
            f"publishing {len(source)} frames of '{source.name}' on {self._pub.topic_name} at "
            f"{rate:g} Hz, frame_id '{self.frame_id}'; DDS profile "
            f"{active_profile() or 'none (Fast DDS defaults)'}")

    def _source_from_parameters(self) -> FrameSource:
        sequence = str(self.get_parameter("sequence").value)
        video = str(self.get_parameter("video").value)
        limit = int(self.get_parameter("max_frames").value)
        if sequence:
            return FrameSource.from_sequence(sequence, limit)
        if video:
            return FrameSource.from_video(video, limit)
        raise ValueError("set parameter 'sequence' (a sequence folder) or 'video' (a video file)")

    def skip_to(self, index: int) -> None:
        """Continue timer publishing from frame ``index``."""
        with self._lock:
            self._next = index

    def start(self) -> None:
        """Start (or resume) the timer-driven publishing."""
        self._timer.reset()

    def wind_down(self, executor: SingleThreadedExecutor, seconds: float) -> None:
        """Stop publishing, then spin ``seconds`` more so the frames in flight reach subscribers.

        Also the safe order at Ctrl-C: destroying the node while DDS still delivers a large
        frame to a reliable reader can crash the process (docs/node.md, "Run it").
        """
        self._timer.cancel()
        end = time.monotonic() + seconds
        while rclpy.ok() and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)

    def _tick(self) -> None:
        if self.publish_next() is None:
            self._timer.cancel()

    def publish_next(self) -> Any | None:
        """Publish the next frame now; return its header, or None when the source is done."""
        with self._lock:
            if self._next >= len(self.source):
                if not self.loop:
                    self.done.set()
                    return None
                self._next = 0
            index = self._next
            self._next += 1
        header = self.publish_frame(index)
        if index == len(self.source) - 1 and not self.loop:
            self.done.set()
        return header

    def publish_frame(self, index: int) -> Any:
        """Publish frame ``index`` now with a fresh stamp (also used to repeat a frame)."""
        image = self.source.frame(index)
        header = self._make_header()
        if self.compressed:
            msg = CompressedImage()
            msg.header = header
            msg.format = "bgr8; jpeg compressed bgr8"
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise ValueError(f"JPEG encoding of frame {index} failed")
            msg.data = data.tobytes()
        else:
            msg = fill_image_msg(Image(), image, header)
        with self._lock:
            self.stamps[stamp_to_ns(header.stamp)] = index
            self.headers.append(header)
            self.published += 1
        self._pub.publish(msg)
        return header

    def _make_header(self) -> Any:
        from std_msgs.msg import Header

        header = Header()
        header.stamp = self.get_clock().now().to_msg()
        header.frame_id = self.frame_id
        return header

    def index_of(self, stamp_ns: int) -> int | None:
        """Return the frame index a stamp was published with (None if not ours)."""
        with self._lock:
            return self.stamps.get(stamp_ns)

    def subscriber_count(self) -> int:
        """Return how many subscribers matched the image topic."""
        return self._pub.get_subscription_count()


def main(args: list[str] | None = None) -> int:
    """Entry point ``frame_publisher``: publish until the source ends (or forever with loop).

    Exit 0 at the end of the source and on Ctrl-C; 1 with one line for a missing or unreadable
    source or a refused parameter; 2 for malformed ``--ros-args``.
    """
    from rtmdnet_ros.ros_io.cli import fail, init_ros, one_line, stop_ros, user_errors

    # A camera's frames cross into the tracker's process through the publisher's shared-memory
    # segment: with Fast DDS's 512 kB default a 640x480 frame goes over UDP instead and frames
    # are lost (the node's own warning). This stand-in therefore uses the shipped profile by
    # itself, unless the user's environment names one; a real driver needs it set (README).
    if not active_profile():
        os.environ.update(profile_environment())
    code = init_ros("frame_publisher", args)
    if code is not None:
        return code
    node: FramePublisher | None = None
    executor = SingleThreadedExecutor()
    try:
        node = FramePublisher()
        executor.add_node(node)
        while rclpy.ok() and not node.done.is_set():
            executor.spin_once(timeout_sec=0.1)
        node.wind_down(executor, 0.5)  # the last frames reach slow subscribers
    except (KeyboardInterrupt, ExternalShutdownException):
        if node is not None:  # later SIGINTs are ignored (ros_io.cli.interrupt_once)
            with contextlib.suppress(ExternalShutdownException):
                node.wind_down(executor, 0.3)
    except user_errors() as exc:
        return fail("frame_publisher", one_line(exc))
    finally:
        stop_ros(executor, [node] if node is not None else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
