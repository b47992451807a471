# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``rtmdnet_tracker`` ROS 2 node: camera images in, Detection2DArray + debug image out.

Threading model (why it looks like this):
- The image callback only stores the message in :class:`FrameCache` and returns, so DDS never
  backs up and the node always works on the newest frame; frames replaced before the worker took
  them are counted as dropped.
- One worker thread converts and tracks the newest frame, then publishes. Tracking can take
  longer than a frame period, and keeping it off the executor means services and parameter
  changes are answered while a frame is being tracked.
- Services live in their own callback group on a MultiThreadedExecutor. ``~/reset`` never waits
  for the tracker (it bumps a generation counter the worker checks); ``~/init`` takes the tracker
  lock, so it waits at most for the one tracking step in progress.

Start it with ``tracker_node --ros-args --params-file config/tracker.yaml`` or the launch file.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray

from rtmdnet_ros.device import CudaUnavailable, DeviceError, choose_device
from rtmdnet_ros.msg import TrackerStatus
from rtmdnet_ros.node.frame_cache import CachedFrame, FrameCache, stamp_to_ns
from rtmdnet_ros.node.image_conversion import (
    ImageConversionError,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    rgb_to_bgr,
)
from rtmdnet_ros.node.messages import (
    STATE_NAMES,
    bbox_to_xywh,
    build_detections,
    build_image,
    build_status,
    confidence_to_score,
    draw_debug,
)
from rtmdnet_ros.node.parameters import (
    PARAMETER_NAMES,
    TRACKER_OPTION_PARAMETERS,
    declare_all,
    refusal,
    tracker_option_overrides,
)
from rtmdnet_ros.node.transport import active_profile, adapted_reliability, transport_hint
from rtmdnet_ros.srv import InitTarget

try:  # Iron and later
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks
try:  # Iron and later hand a MessageInfo (publisher gid, sequence number) to 2-argument callbacks
    from rclpy.subscription import MessageInfo  # noqa: F401

    HAS_MESSAGE_INFO = True
except ImportError:  # Humble
    HAS_MESSAGE_INFO = False

NODE_NAME = "rtmdnet_tracker"

# Sensor-data QoS with depth 1: BEST_EFFORT accepts both reliable and best-effort publishers and
# a single-slot history means a slow node sees the newest frame, never a queue. This is the start
# value; the reliability then follows the publishers found on the topic (see _adapt_image_qos).
IMAGE_QOS = QoSProfile(
    reliability=ReliabilityPolicy.BEST_EFFORT,
    durability=DurabilityPolicy.VOLATILE,
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
)
# Outputs are RELIABLE so every subscriber (reliable or best-effort) matches.
OUTPUT_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
)
DEBUG_QOS = QoSProfile(
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
    history=HistoryPolicy.KEEP_LAST,
    depth=2,
)

QOS_CHECK_S = 0.5  # how often the image topic's publishers are looked at (a local graph query)
NO_IMAGE_WARN_S = 5.0  # how long without images before the node explains what it listens to
LOG_REPEAT_S = 5.0  # the same input problem is logged at most once per this many seconds


def format_stamp(stamp_ns: int) -> str:
    """Write a stamp as ``sec.nanosec`` the way ``ros2 topic echo`` users read it."""
    return f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"


class NodeSetupError(RuntimeError):
    """The node cannot start as configured (e.g. cuda requested without CUDA, no fallback)."""


def resolve_device(requested: str, cuda_fallback: bool) -> tuple[str, str]:
    """Pick the torch device; return (device, sentence to log).

    The rule is rtmdnet_ros/device.py's (never a silent CPU fallback); the node only turns a
    refusal into a start-up error that names the parameter to change.
    """
    try:
        choice = choose_device(requested, cuda_fallback)
    except CudaUnavailable as exc:
        raise NodeSetupError(f"{exc}; set device:=cpu or cuda_fallback:=true") from exc
    except DeviceError as exc:
        raise NodeSetupError(f"parameter {exc}") from exc
    return str(choice.device), choice.reason


class TrackerNode(Node):
    """RT-MDNet single-object tracker as a ROS 2 node (see the module docstring)."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_all(self)
        self._warn_unknown_parameters()
        p = self._params()

        self._device, device_sentence = resolve_device(p["device"], p["cuda_fallback"])
        if "falling back" in device_sentence:
            self.get_logger().warning(f"RT-MDNet tracker on {device_sentence}")
        else:
            self.get_logger().info(f"RT-MDNet tracker on {device_sentence}")
        self._tracker_lock = threading.Lock()  # guards self._tracker
        self._state_lock = threading.Lock()  # guards the small state below
        self._tracker = self._make_tracker(p)
        self._state = TrackerStatus.IDLE
        self._generation = 0  # bumped by init/reset; a result from an older generation is void
        self._track_id = ""
        self._track_label = ""
        self._track_shape: tuple[int, int] | None = None
        self._next_track_number = 1
        self._last_box: np.ndarray | None = None
        self._last_raw_score = 0.0
        self._last_header = Header()
        self._catch_up: list[CachedFrame] = []
        self._frames_processed = 0
        self._initialising = False
        self._late_frames = 0  # frames that waited out an init and were older than its frame
        self._transport_lost = 0  # frames lost before the callback (publisher sequence gaps)
        self._last_sequence: dict[bytes, int] = {}
        self._track_start_seq = 0
        self._last_processing_ms = 0.0
        self._log_times: dict[str, float] = {}
        self._pending_options: dict[str, Any] = {}
        self._label = p["label"]
        self._publish_debug = p["publish_debug"]
        self._lost_threshold = p["lost_score_threshold"]
        self._catch_up_frames = p["init_catch_up_frames"]
        self._start_time = time.monotonic()
        self._next_hint = 0.0

        self._cache = FrameCache(p["frame_cache_length"])
        self._image_group = MutuallyExclusiveCallbackGroup()
        # Reentrant: ~/reset is answered at once even while ~/init trains on the first frame.
        self._service_group = ReentrantCallbackGroup()
        self._compressed = p["image_transport"] == "compressed"
        self._image_topic = "image/compressed" if self._compressed else "image"
        self._image_type = CompressedImage if self._compressed else Image
        self._image_sub = self._subscribe_images(IMAGE_QOS, first=True)
        # The reliability follows the publishers unless the user set it (qos_overrides).
        self._adaptive_qos = not self._reliability_overridden()
        self._retiring_sub: Any = None  # the previous subscription, kept until the new matches
        self._retire: tuple[int, float] = (0, 0.0)  # (publishers to match, deadline)
        self._last_stamp_ns = -1
        self._image_bytes = 0  # size of the last image message, for the transport hint
        self._det_pub = self.create_publisher(
            Detection2DArray, "~/detections", OUTPUT_QOS,
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self._status_pub = self.create_publisher(TrackerStatus, "~/status", OUTPUT_QOS)
        self._debug_pub = self.create_publisher(Image, "~/debug_image", DEBUG_QOS)
        self._init_srv = self.create_service(InitTarget, "~/init", self._on_init,
                                             callback_group=self._service_group)
        self._reset_srv = self.create_service(Trigger, "~/reset", self._on_reset,
                                              callback_group=self._service_group)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._hint_timer = self.create_timer(NO_IMAGE_WARN_S, self._no_image_hint,
                                             callback_group=self._image_group)
        self._qos_timer = (self.create_timer(QOS_CHECK_S, self._adapt_image_qos,
                                             callback_group=self._image_group)
                           if self._adaptive_qos else None)

        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="rtmdnet_worker", daemon=True)
        self._worker.start()
        qos = self._image_sub.qos_profile
        adapt = ("adapts to the publishers" if self._adaptive_qos
                 else "set by qos_overrides")
        profile = active_profile() or "none (Fast DDS defaults)"
        self.get_logger().info(
            f"listening on {self._image_sub.topic_name} ({p['image_transport']}, "
            f"{qos.reliability.name} depth {qos.depth}, reliability {adapt}; DDS profile "
            f"{profile}); publishing {self._det_pub.topic_name}, "
            f"{self._status_pub.topic_name}, "
            f"{self._debug_pub.topic_name}; services {self._service_name('~/init')}, "
            f"{self._service_name('~/reset')}"
        )

    def _service_name(self, name: str) -> str:
        """Fully qualified service name for logs (resolve_service_name is missing on Humble)."""
        resolve = getattr(self, "resolve_service_name", None)
        return resolve(name) if resolve is not None else name

    # ------------------------------------------------------------------ parameters
    def _warn_unknown_parameters(self) -> None:
        """Name YAML/command-line parameters this node does not have (a typo is otherwise silent).

        rclpy keeps undeclared overrides without a word; ``_parameter_overrides`` is rclpy's own
        record of them (read defensively, it is not public API).
        """
        overrides = getattr(self, "_parameter_overrides", {}) or {}
        declared = set(self._parameters)
        for name in sorted(set(overrides) - declared):
            if name.startswith("qos_overrides."):
                continue
            self.get_logger().warning(
                f"parameter '{name}' was given but {self.get_name()} has no such parameter "
                f"(ignored; known: {', '.join(PARAMETER_NAMES)})")

    def _params(self) -> dict[str, Any]:
        values = {name: self.get_parameter(name).value for name in PARAMETER_NAMES}
        if values["image_transport"] not in ("raw", "compressed"):
            raise NodeSetupError(
                f"parameter image_transport must be raw or compressed, not "
                f"'{values['image_transport']}'")
        if values["update_mode"] not in ("async", "sync"):
            raise NodeSetupError(
                f"parameter update_mode must be async or sync, not '{values['update_mode']}'")
        if values["box_refiner"] not in ("auto", "nanotrack_v3", "none"):
            raise NodeSetupError(
                f"parameter box_refiner must be auto, nanotrack_v3 or none, not "
                f"'{values['box_refiner']}'")
        return values

    def _on_set_parameters(self, params: Sequence[Parameter]) -> SetParametersResult:
        """Apply a run-time change or refuse it with a reason; nothing is silently ignored."""
        changes: dict[str, Any] = {}
        for param in params:
            if param.name.startswith("qos_overrides.") or param.name == "use_sim_time":
                continue  # qos overrides are read-only by construction; rclpy refuses changes
            reason = refusal(param)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
            changes[param.name] = param.value
        # Everything validated: apply all together.
        notes = []
        for name, value in changes.items():
            note = ""
            if name == "label":
                self._label = str(value)
            elif name == "publish_debug":
                self._publish_debug = bool(value)
            elif name == "lost_score_threshold":
                self._lost_threshold = float(value)
            elif name == "frame_cache_length":
                self._cache.resize(int(value))
            elif name == "init_catch_up_frames":
                self._catch_up_frames = int(value)
            elif name in TRACKER_OPTION_PARAMETERS:
                if int(value) > 0:
                    self._pending_options[name] = int(value)
                    note = " (applies from the next ~/init)"
                else:
                    note = " (0: the current value stays until restart)"
            notes.append(f"{name}{note}")
            self.get_logger().info(f"parameter {name} set to {value!r}{note}")
        return SetParametersResult(successful=True, reason="; ".join(notes))

    # ------------------------------------------------------------------ tracker
    def _make_tracker(self, p: dict[str, Any], overrides: dict[str, Any] | None = None) -> Any:
        """Build the tracker the parameters describe.

        ``overrides``, when given, replace the parameters' tracker options: the next tracker
        after a run-time change keeps the current tracker's overrides plus the change.
        """
        import torch

        from rtmdnet_ros.tracker import DEFAULT_MODEL, Tracker

        if p["torch_threads"] > 0:
            torch.set_num_threads(int(p["torch_threads"]))
        model = p["model_path"] or None
        if model is not None and not Path(model).is_file():
            raise NodeSetupError(f"model_path '{model}' does not exist")
        seed = None if p["seed"] < 0 else int(p["seed"])
        if model is not None:
            what = model
        elif DEFAULT_MODEL.exists():
            what = f"packaged model {DEFAULT_MODEL}"
        else:
            what = "no trained model shipped yet: ImageNet backbone + seeded random head"
        started = time.perf_counter()
        if overrides is None:
            overrides = tracker_option_overrides(p)
        try:
            # The parameters override only what they set, over the model file's own options.
            tracker = Tracker(model=model, device=self._device, seed=seed, overrides=overrides)
        except ValueError as exc:
            raise NodeSetupError(f"cannot load the tracker: {exc}") from exc
        self.get_logger().info(
            f"model: {what}; loaded in "
            f"{time.perf_counter() - started:.1f} s; {tracker.options.n_candidates} candidates, "
            f"long-term update every {tracker.options.long_term_interval} frames, "
            f"{tracker.options.update_mode} updates, box refinement "
            + ("on (NanoTrack v3 head)" if tracker.box_refinement else
               "off (RT-MDNet's box; small targets' boxes shrink: see box_refiner)"))
        self._device = str(tracker.device)
        return tracker

    def _apply_pending_options(self) -> None:
        """Before an init, build the next tracker with the run-time changed tracker options.

        A tracker's options are fixed when it is built (Tracker's docstring), so a change gives
        a new tracker: same model, device and seed, the changes over the current overrides.
        """
        if not self._pending_options:
            return
        overrides = {**self._tracker.overrides, **self._pending_options}
        self._pending_options = {}
        try:
            tracker = self._make_tracker(self._params(), overrides)
        except NodeSetupError as exc:
            self.get_logger().error(f"changed tracker options not applied: {exc}")
            return
        self._tracker.close()
        self._tracker = tracker

    # ------------------------------------------------------------------ input
    def _subscribe_images(self, qos: QoSProfile, first: bool = False) -> Any:
        """Create the image subscription.

        The first one declares the ``qos_overrides.<topic>.subscription.*`` parameters and
        applies the user's values; a later one (the reliability adapted) reuses the profile those
        values produced, since the parameters exist by then.
        """
        return self.create_subscription(
            self._image_type,
            self._image_topic,
            self._on_image_with_info if HAS_MESSAGE_INFO else self._on_image,
            qos,
            callback_group=self._image_group,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos),
            qos_overriding_options=(QoSOverridingOptions.with_default_policies() if first
                                    else None),
        )

    def _reliability_overridden(self) -> bool:
        """Whether the user gave ``qos_overrides.<topic>.subscription.reliability`` explicitly."""
        name = f"qos_overrides.{self._image_sub.topic_name}.subscription.reliability"
        return name in (getattr(self, "_parameter_overrides", {}) or {})

    def _adapt_image_qos(self) -> None:
        """Follow the publishers' reliability the way ``ros2 topic echo`` chooses it.

        RELIABLE when every publisher offers it (lost fragments of a large image are then
        repaired instead of losing the frame), BEST_EFFORT as soon as one offers less (a
        reliable subscription would not match it). Re-checked every QOS_CHECK_S so cameras that
        appear, restart or change later are followed; depth and the rest stay as configured.
        The new subscription is made before the old one goes, and the old one is kept until the
        new one has matched the publishers, so no frame is lost in the change (the few that
        arrive twice meanwhile are recognised by their publisher sequence number or stamp).
        """
        if self._retiring_sub is not None:
            wanted_matches, deadline = self._retire
            if (self._image_sub.get_publisher_count() >= wanted_matches
                    or time.monotonic() > deadline):
                self.destroy_subscription(self._retiring_sub)
                self._retiring_sub = None
            return
        topic = self._image_sub.topic_name
        try:
            publishers = self.get_publishers_info_by_topic(topic)
        except Exception as exc:  # the graph query failing must not stop the node
            self._log_problem("qos-query", f"cannot list the publishers on {topic}: {exc}")
            return
        wanted = adapted_reliability(info.qos_profile.reliability for info in publishers)
        current = self._image_sub.qos_profile
        if wanted is None or current.reliability.name.lower() == wanted:
            return
        qos = QoSProfile(
            reliability=(ReliabilityPolicy.RELIABLE if wanted == "reliable"
                         else ReliabilityPolicy.BEST_EFFORT),
            durability=current.durability, history=current.history, depth=current.depth)
        self._retiring_sub = self._image_sub
        self._retire = (len(publishers), time.monotonic() + 5.0)
        self._image_sub = self._subscribe_images(qos)
        offered = ", ".join(sorted({info.qos_profile.reliability.name for info in publishers}))
        self.get_logger().info(
            f"input QoS on {topic} now {qos.reliability.name} depth {qos.depth}: "
            f"{len(publishers)} publisher(s) offering {offered} (set "
            f"qos_overrides.{topic}.subscription.reliability to fix it)")

    def _on_image(self, msg: Any) -> None:
        """Store the frame and return: the worker decides what to track."""
        stamp = stamp_to_ns(msg.header.stamp)
        if self._retiring_sub is not None and stamp == self._last_stamp_ns:
            return  # the same frame through the other subscription while the QoS changes
        self._last_stamp_ns = stamp
        self._cache.put(stamp, msg.header, msg, self._compressed)

    def _on_image_with_info(self, msg: Any, info: Any) -> None:
        """Iron and later: also see the publisher's sequence number (losses before the node)."""
        if self._already_seen(info):
            return
        self._on_image(msg)
        self._image_bytes = len(msg.data)
        self._count_transport_losses(info)

    def _already_seen(self, info: Any) -> bool:
        """Whether this publisher's message came before, through the other subscription."""
        if self._retiring_sub is None:
            return False
        try:
            seq = info["publication_sequence_number"]
            last = self._last_sequence.get(bytes(info["publisher_gid"]["data"]))
        except (KeyError, TypeError):
            return False
        return seq is not None and last is not None and seq <= last

    def _count_transport_losses(self, info: Any) -> None:
        """Count frames lost before the callback from gaps in each publisher's sequence numbers.

        Best-effort delivery with history depth 1 may discard frames inside DDS (overwritten, or
        a fragment of a large image lost); they never reach the callback, but the publisher's
        sequence numbers show them. Needs the message info of Iron and later.
        """
        try:
            seq = info["publication_sequence_number"]
            gid = bytes(info["publisher_gid"]["data"])
        except (KeyError, TypeError):
            return
        if seq is None:
            return
        last = self._last_sequence.get(gid)
        if len(self._last_sequence) > 64 and last is None:
            self._last_sequence.clear()  # publishers come and go; keep the table small
        self._last_sequence[gid] = int(seq)
        if last is not None and 1 < seq - last < 1_000_000:
            lost = int(seq - last - 1)
            self._transport_lost += lost
            self._log_problem(
                "transport",
                f"{self._transport_lost} frame(s) lost before reaching the node so far "
                f"({lost} just now, from publisher sequence gaps); counted in frames_dropped. "
                f"Fix: {transport_hint(self._image_bytes)}",
                warning=True)

    def _on_incompatible_qos(self, event: Any) -> None:
        if self._adaptive_qos:
            # A best-effort publisher joined while we were reliable: the next QoS check (at
            # most QOS_CHECK_S away) follows it; nothing for the user to do.
            self.get_logger().info(
                f"a publisher on {self._image_sub.topic_name} offers QoS the input does not "
                "accept yet; the input reliability follows it")
            return
        self.get_logger().error(
            f"a publisher on {self._image_sub.topic_name} has QoS incompatible with this "
            f"subscription (policy id {event.last_policy_kind}, {event.total_count} so far); "
            "override with qos_overrides.<topic>.subscription.* parameters")

    def _no_image_hint(self) -> None:
        """Explain, once per period, why nothing arrives: the top complaint about nodes."""
        if self._cache.received:
            self._hint_timer.cancel()
            return
        now = time.monotonic()
        if now < self._next_hint:
            return
        self._next_hint = now + 3.0 * (now - self._start_time)  # 5 s, 15 s, 45 s, ...
        topic = self._image_sub.topic_name
        other = topic[: -len("/compressed")] if self._compressed else topic + "/compressed"
        here = self.count_publishers(topic)
        there = self.count_publishers(other)
        hint = (f"no image received on {topic} after "
                f"{time.monotonic() - self._start_time:.0f} s: {here} publisher(s) on it")
        if there:
            hint += (f"; {there} publisher(s) on {other}: set image_transport:="
                     f"{'raw' if self._compressed else 'compressed'} to read that one")
        if here:
            hint += ("; publishers exist but send nothing that arrives: check that they "
                     "publish, and their QoS (an incompatible-QoS error is logged if it is "
                     f"that); if they send images larger than 512 kB: {transport_hint()}")
        elif not there:
            hint += "; check the topic name/remapping (image:=/your/camera/topic) and namespace"
        self.get_logger().warning(hint)

    def _log_problem(self, key: str, text: str, warning: bool = False) -> None:
        """Log an input problem clearly, but not 30 times a second."""
        now = time.monotonic()
        if now - self._log_times.get(key, -math.inf) >= LOG_REPEAT_S:
            self._log_times[key] = now
            if warning:
                self.get_logger().warning(text)
            else:
                self.get_logger().error(text)

    def _convert(self, frame: CachedFrame) -> np.ndarray:
        if frame.compressed:
            return compressed_msg_to_rgb(frame.msg)
        return image_msg_to_rgb(frame.msg)

    # ------------------------------------------------------------------ worker
    def _next_frame(self) -> CachedFrame | None:
        with self._state_lock:
            if self._catch_up:
                return self._catch_up.pop(0)
        return self._cache.take_newest(timeout=0.1)

    def _work(self) -> None:
        while not self._stop.is_set():
            frame = self._next_frame()
            if frame is None or self._stop.is_set():
                continue
            try:
                self._process(frame)
            except Exception as exc:  # the node must stay up whatever one frame does
                if not self.context.ok():
                    break  # Ctrl-C shut the context down under this frame: just stop
                self._log_problem(
                    f"failed:{type(exc).__name__}",
                    f"frame {format_stamp(frame.stamp_ns)} failed: {type(exc).__name__}: {exc}")

    def _process(self, frame: CachedFrame) -> None:
        started = time.perf_counter()
        stamp = format_stamp(frame.stamp_ns)
        try:
            rgb = self._convert(frame)
        except ImageConversionError as exc:
            self._log_problem(
                f"convert:{str(exc)[:40]}",
                f"dropping frame {stamp} (frame_id '{frame.header.frame_id}'): {exc}")
            return
        header = frame.header
        box: np.ndarray | None = None
        raw = 0.0
        # Idle frames wait for the tracker lock too: frames arriving during an init are caught
        # up from the cache afterwards instead of being answered "idle" first.
        with self._tracker_lock:
            with self._state_lock:
                generation, state = self._generation, self._state
                track_id, label, shape = self._track_id, self._track_label, self._track_shape
                if state != TrackerStatus.IDLE and frame.sequence <= self._track_start_seq:
                    # Taken before the init it then waited for: older than the track's start.
                    self._late_frames += int(frame.sequence < self._track_start_seq)
                    return
            if state != TrackerStatus.IDLE:
                if rgb.shape[:2] != shape:
                    self._log_problem(
                        "size",
                        f"frame {stamp} is {rgb.shape[1]}x{rgb.shape[0]} but track {track_id} "
                        f"started on {shape[1]}x{shape[0]}: frame skipped; call ~/init for the "
                        "new size or ~/reset")
                    return
                result = self._tracker.update(rgb)
                raw = float(result.score)
                box = np.asarray(result.box_xywh, dtype=np.float64)
        score = confidence_to_score(raw) if state != TrackerStatus.IDLE else 0.0
        with self._state_lock:
            if generation != self._generation:
                return
            if state != TrackerStatus.IDLE:
                state = (TrackerStatus.TRACKING if score > self._lost_threshold
                         else TrackerStatus.LOST)
                self._frames_processed += 1
            previous, self._state = self._state, state
            self._last_box, self._last_raw_score, self._last_header = box, raw, header
            self._last_processing_ms = (time.perf_counter() - started) * 1000.0
        if previous != state:
            self.get_logger().info(
                f"track {track_id}: {STATE_NAMES[previous]} -> {STATE_NAMES[state]} "
                f"(score {score:.2f}, raw {raw:+.2f}) at {stamp}")
        published_box = box if state == TrackerStatus.TRACKING else None
        self._det_pub.publish(build_detections(header, published_box, score, label, track_id))
        self._publish_status(header)
        self._publish_debug_image(rgb, header, state, box, score, track_id, label)

    def _publish_status(self, header: Any) -> None:
        with self._state_lock:
            status = build_status(header, self._state, self._last_raw_score, self._track_id,
                                  self._last_processing_ms, self._frames_processed,
                                  self.frames_dropped, self._device)
        self._status_pub.publish(status)

    def _publish_debug_image(self, rgb: np.ndarray, header: Any, state: int,
                             box: np.ndarray | None, score: float, track_id: str,
                             label: str) -> None:
        if not self._publish_debug or self._debug_pub.get_subscription_count() == 0:
            return
        bgr = draw_debug(rgb_to_bgr(rgb), state, box, score, track_id, label)
        self._debug_pub.publish(build_image(bgr, header))

    # ------------------------------------------------------------------ services
    def _refuse(self, response: Any, reason: str) -> Any:
        self.get_logger().warning(f"~/init refused: {reason}")
        response.success = False
        response.message = reason
        response.track_id = ""
        return response

    def _on_init(self, request: Any, response: Any) -> Any:
        """Start tracking the requested box, on the frame it was drawn on when a stamp is given."""
        x, y, w, h = bbox_to_xywh(request.box)
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            return self._refuse(response, f"box has a non-finite value: x={x} y={y} w={w} h={h}")
        if w <= 0 or h <= 0:
            return self._refuse(response, f"box size must be positive, got {w} x {h} px")
        stamp_ns = stamp_to_ns(request.stamp)
        if self._cache.received == 0:
            return self._refuse(
                response,
                f"no image received yet on {self._image_sub.topic_name}: start the camera "
                "(or check the topic name and image_transport) and call ~/init again")
        if stamp_ns == 0:
            frame = self._cache.newest()
        else:
            frame = self._cache.find(stamp_ns)
        if frame is None:
            count, oldest, newest = self._cache.stamp_range()
            return self._refuse(
                response,
                f"stamp {format_stamp(stamp_ns)} is not in the frame cache ({count} frames from "
                f"{format_stamp(oldest)} to {format_stamp(newest)}); use a recent stamp, zero "
                "for the newest frame, or raise frame_cache_length")
        try:
            rgb = self._convert(frame)
        except ImageConversionError as exc:
            return self._refuse(response, f"the frame {format_stamp(frame.stamp_ns)} "
                                          f"cannot be read: {exc}")
        height, width = rgb.shape[:2]
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            return self._refuse(
                response, f"box (x={x:.1f}, y={y:.1f}, w={w:.1f}, h={h:.1f}) lies outside "
                          f"the {width}x{height} image")
        label = request.label.strip() or self._label
        started = time.perf_counter()
        with self._tracker_lock:
            with self._state_lock:
                self._generation += 1
                generation = self._generation
                self._catch_up = []
                self._state = TrackerStatus.IDLE
                self._initialising = True
            try:
                self._apply_pending_options()
                self._tracker.init(rgb, (x, y, w, h))
            except ValueError as exc:
                return self._refuse(response, f"tracker rejected the box: {exc}")
            finally:
                with self._state_lock:
                    self._initialising = False
            later = self._cache.after(frame)
            with self._state_lock:
                if generation != self._generation:  # ~/reset arrived during the training
                    return self._refuse(response, "~/reset was called during initialisation")
                track_id = str(self._next_track_number)
                self._next_track_number += 1
                self._track_id, self._track_label = track_id, label
                self._track_shape = (height, width)
                self._track_start_seq = frame.sequence
                self._state = TrackerStatus.TRACKING
                self._last_box = np.array([x, y, w, h], dtype=np.float64)
                self._last_raw_score = 0.0
                self._last_header = frame.header
                self._frames_processed += 1
                self._catch_up = self._pick_catch_up(later)
            if later:
                self._cache.discard_pending_up_to(later[-1].sequence)
            else:
                self._cache.discard_pending_up_to(frame.sequence)
        elapsed = time.perf_counter() - started
        # The init frame's own answer: the given box, score 1 (it is the user's ground truth).
        self._det_pub.publish(build_detections(frame.header, (x, y, w, h), 1.0, label, track_id))
        self._publish_status(frame.header)
        self._cache.wake()
        where = "newest frame" if stamp_ns == 0 else "cached frame"
        self.get_logger().info(
            f"track {track_id} ({label}) started on the {where} {format_stamp(frame.stamp_ns)} "
            f"at x={x:.1f} y={y:.1f} w={w:.1f} h={h:.1f} in {elapsed:.2f} s; "
            f"{len(self._catch_up)} cached frame(s) to catch up")
        response.success = True
        response.message = (f"tracking started on the {where} {format_stamp(frame.stamp_ns)} "
                            f"(initialisation {elapsed:.2f} s)")
        response.track_id = track_id
        return response

    def _pick_catch_up(self, later: list[CachedFrame]) -> list[CachedFrame]:
        """Evenly spaced frames from those after the init frame, always ending at the newest."""
        if not later:
            return []
        n = min(self._catch_up_frames, len(later))
        if n <= 0:
            return [later[-1]]
        idx = sorted({round(i) for i in np.linspace(0, len(later) - 1, n + 1)[1:]})
        return [later[i] for i in idx]

    def _on_reset(self, request: Any, response: Any) -> Any:
        """Stop tracking without waiting for the tracking step in progress."""
        with self._state_lock:
            was, track_id = self._state, self._track_id
            self._generation += 1
            self._catch_up = []
            self._state = TrackerStatus.IDLE
            self._track_id = ""
            self._track_shape = None
            self._last_box = None
            self._last_raw_score = 0.0
            header = self._last_header
            initialising = self._initialising
        response.success = True
        if initialising:
            response.message = "initialisation in progress cancelled; state IDLE"
            self.get_logger().info("~/reset during ~/init: the new track will not start")
        elif was == TrackerStatus.IDLE:
            response.message = "already idle: no target was being tracked"
            self.get_logger().info("~/reset while idle: nothing to stop")
        else:
            response.message = f"track {track_id} stopped ({STATE_NAMES[was]} -> IDLE)"
            self.get_logger().info(f"track {track_id}: {STATE_NAMES[was]} -> IDLE (reset)")
            self._publish_status(header)  # the state change; the next frame's array is empty
        return response

    # ------------------------------------------------------------------ state for tests/tools
    @property
    def device(self) -> str:
        """The torch device the tracker runs on."""
        return self._device

    @property
    def frames_dropped(self) -> int:
        """Count the frames never tracked.

        Replaced before the worker took them, outdated by an init, or lost before the callback
        (publisher sequence gaps).
        """
        return self._cache.dropped + self._late_frames + self._transport_lost

    def destroy_node(self) -> None:
        """Stop the worker before the publishers it uses go away."""
        # The constructor may have failed half-way (e.g. no CUDA): stop only what exists.
        if hasattr(self, "_stop"):
            self._stop.set()
            self._cache.close()
            if self._worker.is_alive() and self._worker is not threading.current_thread():
                self._worker.join(timeout=10.0)
        # The tracker's own threads (an asynchronous online update) stop before the process
        # ends: a thread still inside torch at interpreter exit can abort it.
        close = getattr(getattr(self, "_tracker", None), "close", None)
        if callable(close):
            locked = self._tracker_lock.acquire(timeout=10.0)  # not behind a step in progress
            try:
                close()
            finally:
                if locked:
                    self._tracker_lock.release()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point ``tracker_node``: spin the node on a MultiThreadedExecutor.

    Exit 0 on Ctrl-C whatever the node is doing (idle, tracking, inside an update or an init);
    1 with one line when the parameters or the model are wrong; 2 for malformed ``--ros-args``.
    """
    from rtmdnet_ros.node.cli import fail, init_ros, one_line, stop_ros, user_errors

    # The core logs through `logging` (model loading, seeds): show it beside the ROS log.
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(levelname)s: %(message)s")
    code = init_ros(NODE_NAME, args)
    if code is not None:
        return code
    node: TrackerNode | None = None
    executor: MultiThreadedExecutor | None = None
    try:
        node = TrackerNode()
        executor = MultiThreadedExecutor(num_threads=4)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (NodeSetupError, *user_errors()) as exc:
        return fail(NODE_NAME, f"cannot start: {one_line(exc)}")
    finally:
        stop_ros(executor, [node] if node is not None else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
