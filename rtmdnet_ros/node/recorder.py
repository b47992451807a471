# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Records what the tracker node did: an annotated video and a summary with real figures.

Subscribes to the images, the tracker's ``detections`` and ``status``. Latency is measured from
the image stamp to the moment the detection arrives here (same machine clock), which is what a
downstream consumer experiences. Frames the tracker dropped show up in the video with no box, and
in the summary through the tracker's own ``frames_dropped`` counter.

Ground truth (optional) is matched by frame index: either given as a stamp -> index function (the
demo hands over the frame publisher's record) or taken from the order in which images arrived.

Run: ``tracking_recorder --ros-args -r detections:=/rtmdnet_tracker/detections
-r status:=/rtmdnet_tracker/status -p output:=out/run.mp4``.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from rtmdnet_ros.msg import TrackerStatus
from rtmdnet_ros.ros_io.image_conversion import ImageConversionError, image_msg_to_bgr
from rtmdnet_ros.ros_io.messages import bbox_to_xywh
from rtmdnet_ros.ros_io.stamps import stamp_to_ns

IMAGE_QOS = QoSProfile(reliability=ReliabilityPolicy.BEST_EFFORT,
                       durability=DurabilityPolicy.VOLATILE,
                       history=HistoryPolicy.KEEP_LAST, depth=50)
RESULT_QOS = QoSProfile(reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE,
                        history=HistoryPolicy.KEEP_LAST, depth=100)
IMAGE_BUFFER = 120  # images kept while waiting for their detection


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (x, y, w, h) boxes; 0 when either is missing or degenerate."""
    from rtmdnet_ros.geometry import iou

    if a is None or b is None or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return 0.0
    return float(iou(np.asarray(a, float), np.asarray(b, float)))


@dataclass
class FrameRecord:
    """What happened to one image: its detection (if any) and when it arrived."""

    stamp_ns: int
    index: int | None = None
    box: np.ndarray | None = None  # None: no detection message, or an empty one
    score: float = 0.0
    answered: bool = False  # a detection message (possibly empty) arrived for this stamp
    latency_ms: float = math.nan
    header_ok: bool = True


@dataclass
class Summary:
    """The figures the demo prints."""

    frames_seen: int = 0
    frames_answered: int = 0
    frames_with_box: int = 0
    frames_dropped: int = 0
    tracking_fps: float = 0.0
    latency_ms_mean: float = math.nan
    latency_ms_p50: float = math.nan
    latency_ms_p95: float = math.nan
    mean_iou: float = math.nan
    mean_iou_answered: float = math.nan
    header_mismatches: int = 0
    video: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [
            f"frames received by the recorder : {self.frames_seen}",
            f"frames answered by the tracker  : {self.frames_answered} "
            f"({self.frames_with_box} with a box)",
            f"frames dropped by the tracker   : {self.frames_dropped}",
            f"tracking rate (median interval) : {self.tracking_fps:.1f} FPS",
            f"latency image stamp -> detection: mean {self.latency_ms_mean:.1f} ms, "
            f"median {self.latency_ms_p50:.1f} ms, p95 {self.latency_ms_p95:.1f} ms",
        ]
        if not math.isnan(self.mean_iou):
            out.append(f"mean IoU with ground truth      : {self.mean_iou:.3f} over all published "
                       f"frames, {self.mean_iou_answered:.3f} over answered frames")
        out.append(f"detection headers != image      : {self.header_mismatches}")
        if self.video:
            out.append(f"annotated video                 : {self.video}")
        return out


class TrackingRecorder(Node):
    """Collects images, detections and status; writes the video; computes the summary."""

    def __init__(self, *, node_name: str = "tracking_recorder",
                 stamp_to_index: Callable[[int], int | None] | None = None,
                 groundtruth: np.ndarray | None = None, image_topic: str = "image",
                 detections_topic: str = "detections", status_topic: str = "status",
                 **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.declare_parameter("output", "", ParameterDescriptor(
            description="Annotated video to write (.mp4 = mp4v, .avi = MJPG); empty = none."))
        self.declare_parameter("fps", 10.0, ParameterDescriptor(
            description="Frame rate written into the video file."))
        self.declare_parameter("groundtruth", "", ParameterDescriptor(
            description="groundtruth_rect.txt matched to images in arrival order (optional)."))
        self._output = str(self.get_parameter("output").value)
        self._fps = float(self.get_parameter("fps").value)
        gt_path = str(self.get_parameter("groundtruth").value)
        if groundtruth is None and gt_path:
            from rtmdnet_ros.sequences import parse_groundtruth

            groundtruth = parse_groundtruth(Path(gt_path).read_text(), gt_path)
        self.groundtruth = groundtruth
        self._stamp_to_index = stamp_to_index
        self._lock = threading.Lock()
        self._images: OrderedDict[int, Any] = OrderedDict()  # stamp -> Image (not yet written)
        self.records: OrderedDict[int, FrameRecord] = OrderedDict()
        self._arrivals = 0
        self._answer_times: list[float] = []
        self._last_status: TrackerStatus | None = None
        self.status_count = 0
        self._writer: cv2.VideoWriter | None = None
        self._last_box: np.ndarray | None = None
        self.create_subscription(Image, image_topic, self._on_image, IMAGE_QOS)
        self.create_subscription(Detection2DArray, detections_topic, self._on_detections,
                                 RESULT_QOS)
        self.create_subscription(TrackerStatus, status_topic, self._on_status, RESULT_QOS)

    @property
    def last_status(self) -> TrackerStatus | None:
        """The newest ``TrackerStatus`` received (device, counters), or None."""
        with self._lock:
            return self._last_status

    # ------------------------------------------------------------------ callbacks
    def _on_image(self, msg: Image) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        with self._lock:
            index = (self._stamp_to_index(stamp) if self._stamp_to_index is not None
                     else self._arrivals)
            self._arrivals += 1
            record = self.records.get(stamp)
            if record is None:
                record = self.records[stamp] = FrameRecord(stamp)
            record.index = index
            self._images[stamp] = msg
            while len(self._images) > IMAGE_BUFFER:
                self._write_oldest()

    def _on_detections(self, msg: Detection2DArray) -> None:
        now_ns = time.time_ns()
        stamp = stamp_to_ns(msg.header.stamp)
        with self._lock:
            record = self.records.get(stamp)
            if record is None:
                record = self.records[stamp] = FrameRecord(stamp)
            record.answered = True
            record.latency_ms = (now_ns - stamp) / 1e6
            self._answer_times.append(time.monotonic())
            if msg.detections:
                det = msg.detections[0]
                record.box = np.array(bbox_to_xywh(det.bbox))
                results = det.results
                if results:
                    hyp = getattr(results[0], "hypothesis", results[0])
                    record.score = float(hyp.score)
                record.header_ok = (stamp_to_ns(det.header.stamp) == stamp
                                    and det.header.frame_id == msg.header.frame_id)
            else:
                record.box = None
            image = self._images.get(stamp)
            if image is not None:
                record.header_ok = record.header_ok and image.header.frame_id == \
                    msg.header.frame_id
                # Everything up to this stamp is settled: write it out in order.
                while self._images and next(iter(self._images)) <= stamp:
                    self._write_oldest()

    def _on_status(self, msg: TrackerStatus) -> None:
        with self._lock:
            self._last_status = msg
            self.status_count += 1

    # ------------------------------------------------------------------ video
    def _resent_later(self, stamp: int) -> bool:
        """Whether a newer copy of this frame (same index, new stamp) waits in the buffer.

        The demo repeats its first frame until the tracker has seen it; the video keeps one
        picture per frame, the last copy (the one the tracker answered), as the summary does.
        """
        record = self.records.get(stamp)
        if record is None or record.index is None:
            return False
        for other in self._images:
            newer = self.records.get(other)
            if newer is not None and newer.index == record.index:
                return True
        return False

    def _write_oldest(self) -> None:
        stamp, msg = self._images.popitem(last=False)
        if not self._output or self._resent_later(stamp):
            return
        try:
            bgr = image_msg_to_bgr(msg)
        except ImageConversionError as exc:
            self.get_logger().error(f"cannot draw frame: {exc}")
            return
        record = self.records.get(stamp)
        if record is not None and record.box is not None:
            x, y, w, h = record.box
            cv2.rectangle(bgr, (round(x), round(y)), (round(x + w), round(y + h)), (0, 220, 0), 2)
            cv2.putText(bgr, f"{record.score:.2f}", (max(0, round(x)), max(12, round(y) - 4)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 220, 0), 1, cv2.LINE_AA)
            text = "tracked"
        elif record is not None and record.answered:
            text = "lost / idle"
        else:
            text = "not processed (dropped)"
        if record is not None and self.groundtruth is not None and record.index is not None \
                and record.index < len(self.groundtruth):
            gx, gy, gw, gh = self.groundtruth[record.index]
            if np.all(np.isfinite([gx, gy, gw, gh])):
                cv2.rectangle(bgr, (round(gx), round(gy)), (round(gx + gw), round(gy + gh)),
                              (255, 160, 0), 1)
        cv2.putText(bgr, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
        if self._writer is None:
            path = Path(self._output)
            path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi"
                                              else "mp4v"))
            self._writer = cv2.VideoWriter(str(path), fourcc, self._fps,
                                           (bgr.shape[1], bgr.shape[0]))
            if not self._writer.isOpened():
                self.get_logger().error(f"cannot write video {path}; no video will be saved")
                self._output = ""
                return
        self._writer.write(bgr)

    def finish(self) -> Summary:
        """Flush the video and return the summary (call once, after the run)."""
        with self._lock:
            while self._images:
                self._write_oldest()
            if self._writer is not None:
                self._writer.release()
                self._writer = None
            return self._summary()

    def _summary(self) -> Summary:
        records = [r for r in self.records.values() if r.index is not None or r.answered]
        # One record per frame index (a frame re-sent with a new stamp counts once; the
        # answered copy wins).
        by_index: dict[int, FrameRecord] = {}
        for r in records:
            if r.index is not None and (r.index not in by_index or r.answered):
                by_index[r.index] = r
        seen = list(by_index.values())
        answered = [r for r in records if r.answered]
        latencies = np.array([r.latency_ms for r in answered if math.isfinite(r.latency_ms)])
        summary = Summary(
            frames_seen=len(seen),
            frames_answered=len(answered),
            frames_with_box=sum(r.box is not None for r in answered),
            frames_dropped=int(self._last_status.frames_dropped) if self._last_status else 0,
            header_mismatches=sum(not r.header_ok for r in answered),
            video=self._output,
        )
        if len(self._answer_times) > 2:
            # Median interval between answers: the steady rate, not skewed by the wait for
            # the init service before playback starts.
            gaps = np.diff(np.asarray(self._answer_times))
            gap = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 0.0
            summary.tracking_fps = 1.0 / gap if gap > 0 else 0.0
        if latencies.size:
            summary.latency_ms_mean = float(latencies.mean())
            summary.latency_ms_p50 = float(np.percentile(latencies, 50))
            summary.latency_ms_p95 = float(np.percentile(latencies, 95))
        if self.groundtruth is not None and seen:
            def iou_of(r: FrameRecord) -> float:
                if r.index is None or r.index >= len(self.groundtruth):
                    return math.nan
                gt = self.groundtruth[r.index]
                if not np.all(np.isfinite(gt)):
                    return math.nan
                return box_iou(r.box, gt)

            # Dropped frames count with the box last reported before them (what a consumer
            # holding the latest detection would use); never-answered frames before any answer
            # count as 0.
            all_ious, answered_ious, last_box = [], [], None
            for r in sorted(seen, key=lambda rec: rec.index):
                if r.answered:
                    last_box = r.box
                    value = iou_of(r)
                    if not math.isnan(value):
                        answered_ious.append(value)
                gt_ok = r.index < len(self.groundtruth) and np.all(
                    np.isfinite(self.groundtruth[r.index]))
                if gt_ok:
                    all_ious.append(box_iou(last_box, self.groundtruth[r.index]))
            summary.mean_iou = float(np.mean(all_ious)) if all_ious else math.nan
            summary.mean_iou_answered = (float(np.mean(answered_ious)) if answered_ious
                                         else math.nan)
        return summary


def main(args: list[str] | None = None) -> int:
    """Entry point ``tracking_recorder``: record until Ctrl-C, then print the summary.

    Exit 0 on Ctrl-C (after the summary); 1 with one line for an unreadable ground-truth file or
    a refused parameter; 2 for malformed ``--ros-args``.
    """
    from rtmdnet_ros.ros_io.cli import fail, init_ros, one_line, stop_ros, user_errors

    code = init_ros("tracking_recorder", args)
    if code is not None:
        return code
    node: TrackingRecorder | None = None
    executor = SingleThreadedExecutor()
    try:
        node = TrackingRecorder()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except user_errors() as exc:
        return fail("tracking_recorder", one_line(exc))
    finally:
        # The executor has stopped: no callback can touch the recorder while it finishes.
        executor.shutdown()
        if node is not None:
            try:
                print("\n".join(node.finish().lines()), flush=True)
            except KeyboardInterrupt:  # a second Ctrl-C while the video is flushed
                pass
        stop_ros(None, [node] if node is not None else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
