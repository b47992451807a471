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

A managed (lifecycle) node: configure loads the model, activate subscribes and publishes,
deactivate pauses with the model kept, cleanup frees it (TrackerNode's docstring). The track's
state machine lives in the ROS-free :mod:`rtmdnet_ros.track_session`.

Start it with ``tracker_node --ros-args --params-file config/tracker.yaml`` (``autostart``
drives it to active) or the launch file.
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
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.task import Future
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2DArray

from rtmdnet_ros.device import CudaUnavailable, DeviceError, choose_device
from rtmdnet_ros.msg import TrackerStatus
from rtmdnet_ros.node.frame_cache import CachedFrame, FrameCache, stamp_to_ns
from rtmdnet_ros.node.parameters import (
    PARAMETER_NAMES,
    TRACKER_OPTION_PARAMETERS,
    check_tracker_parameters,
    declare_all,
    lost_threshold_to_raw,
    refusal,
    tracker_option_overrides,
    type_refusal,
)
from rtmdnet_ros.node.transport import active_profile, adapted_reliability, transport_hint
from rtmdnet_ros.ros_io.image_conversion import (
    ImageConversionError,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    rgb_to_bgr,
)
from rtmdnet_ros.ros_io.messages import (
    answer_messages,
    bbox_to_xywh,
    build_image,
    build_status,
    draw_debug,
)
from rtmdnet_ros.srv import InitTarget
from rtmdnet_ros.track_session import STATE_NAMES, FrameOutcome, TrackSession

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
WAITING_HINT_S = 3.0  # unconfigured this long without autostart: say what it waits for
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


class TrackerNode(LifecycleNode):
    """RT-MDNet single-object tracker as a managed ROS 2 node (see the module docstring).

    Lifecycle (why each step holds what it holds):
    - unconfigured: parameters only (``ros2 param`` works, nothing is loaded);
    - configure: reads the parameters, chooses the device, loads the model, creates the frame
      cache, the track session and the ``~/init``/``~/reset`` services; a bad model or device
      fails the transition with the reason logged and the node stays unconfigured;
    - activate: the image subscription, the publishers, the timers and the worker thread;
    - deactivate: all of those go, the loaded model stays (a fast re-activate); the track is
      reset since the scene may have changed meanwhile;
    - cleanup: the tracker is closed (its update worker stopped) and freed with its device
      memory; shutdown tears down whatever exists and ends the process's spin.
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        declare_all(self)
        self._warn_unknown_parameters()
        self.autostart = bool(self.get_parameter("autostart").value)
        self.setup_error = ""  # the reason of the last failed configure, for main()'s exit line
        self.finished = Future()  # done when the node is shut down: main() stops spinning
        self._device = ""
        self._session: TrackSession | None = None
        self._cache: FrameCache | None = None
        self._active = False
        self._outputs_lock = threading.RLock()  # publishers are created/destroyed under it
        self._det_pub: Any = None
        self._status_pub: Any = None
        self._debug_pub: Any = None
        self._image_sub: Any = None
        self._retiring_sub: Any = None  # the previous subscription, kept until the new matches
        self._init_srv: Any = None
        self._reset_srv: Any = None
        self._hint_timer: Any = None
        self._qos_timer: Any = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._transport_lost = 0  # frames lost before the callback (publisher sequence gaps)
        self._last_sequence: dict[bytes, int] = {}
        self._log_times: dict[str, float] = {}
        self._pending_options: dict[str, Any] = {}
        p = {name: self.get_parameter(name).value for name in PARAMETER_NAMES}
        self._label = p["label"]
        self._publish_debug = p["publish_debug"]
        self._image_group = MutuallyExclusiveCallbackGroup()
        # Reentrant: ~/reset is answered at once even while ~/init trains on the first frame.
        self._service_group = ReentrantCallbackGroup()
        self._compressed = p["image_transport"] == "compressed"
        self._image_topic = "image/compressed" if self._compressed else "image"
        self._image_type = CompressedImage if self._compressed else Image
        # Validation before acceptance, application after it (rclpy has already checked the
        # descriptors' types, ranges and read-only flags by the time either runs).
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if hasattr(self, "add_post_set_parameters_callback"):  # Jazzy and later
            self.add_post_set_parameters_callback(self._apply_parameters)
            self._apply_after_acceptance = True
        else:  # Humble: the last on-set callback applies what it accepted
            self._apply_after_acceptance = False
        # Without autostart, say what the node waits for, but only if nothing has configured it
        # a few seconds later: under `ros2 launch ... autostart:=true` the launch file sends the
        # transitions at once, and a "waiting" line there read like a fault.
        self._waiting_timer = (self.create_timer(WAITING_HINT_S, self._say_waiting)
                               if not self.autostart else None)

    def _say_waiting(self) -> None:
        """Log once, still unconfigured after WAITING_HINT_S, what the node waits for."""
        if self._waiting_timer is not None and not self._waiting_timer.is_canceled():
            # Cancelled, not destroyed: destroying a timer inside its own callback on a
            # MultiThreadedExecutor can crash the process later.
            self._waiting_timer.cancel()
            if self._session is None:
                self.get_logger().info(
                    "unconfigured: waiting for the configure and activate transitions (a "
                    "launch file or lifecycle manager sends them; by hand: ros2 lifecycle set "
                    f"{self.get_fully_qualified_name()} configure)")

    def set_parameters_atomically(self, parameter_list: list[Parameter]) -> SetParametersResult:
        """Refuse a value of the wrong type with a sentence naming parameter and types.

        ``ros2 param set`` ends here (rclpy's parameter service); rclpy's own refusal would read
        "Wrong parameter type, expected '3' got '4'".
        """
        for param in parameter_list:
            reason = type_refusal(param)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return super().set_parameters_atomically(parameter_list)

    def set_parameters(self, parameter_list: list[Parameter]) -> list[SetParametersResult]:
        """Refuse like :meth:`set_parameters_atomically`, one result per parameter."""
        results = []
        for param in parameter_list:
            reason = type_refusal(param)
            results.append(SetParametersResult(successful=False, reason=reason)
                           if reason is not None else super().set_parameters([param])[0])
        return results

    def _service_name(self, name: str) -> str:
        """Fully qualified service name for logs (resolve_service_name is missing on Humble)."""
        resolve = getattr(self, "resolve_service_name", None)
        return resolve(name) if resolve is not None else name

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> bool:
        """Configure and activate (``autostart``); False with ``setup_error`` set on failure."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters and load the model; a failure leaves the node unconfigured."""
        if self._waiting_timer is not None:  # configured before the hint was due: no hint
            self._waiting_timer.cancel()
        try:
            p = self._params()
            self._device, device_sentence = resolve_device(p["device"], p["cuda_fallback"])
            if "falling back" in device_sentence:
                self.get_logger().warning(f"RT-MDNet tracker on {device_sentence}")
            else:
                self.get_logger().info(f"RT-MDNet tracker on {device_sentence}")
            tracker = self._make_tracker(p)
        except NodeSetupError as exc:
            self.setup_error = str(exc)
            self.get_logger().error(
                f"configure failed: {exc}. The node stays unconfigured: start it again with "
                "corrected parameters (device, cuda_fallback and model_path are read-only)")
            return TransitionCallbackReturn.FAILURE
        self.setup_error = ""
        self._pending_options = {}
        self._session = TrackSession(tracker, p["init_catch_up_frames"])
        self._cache = FrameCache(p["frame_cache_length"])
        self._transport_lost = 0
        self._init_srv = self.create_service(InitTarget, "~/init", self._on_init,
                                             callback_group=self._service_group)
        self._reset_srv = self.create_service(Trigger, "~/reset", self._on_reset,
                                              callback_group=self._service_group)
        self.get_logger().info("configured: model loaded; activate to start tracking")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe, advertise the outputs and start the worker."""
        assert self._cache is not None and self._session is not None
        p = self._params()
        self._start_time = time.monotonic()
        self._next_hint = 0.0
        self._last_stamp_ns = -1
        self._image_bytes = 0  # size of the last image message, for the transport hint
        self._retiring_sub = None
        self._retire: tuple[int, float] = (0, 0.0)  # (publishers to match, deadline)
        with self._outputs_lock:
            self._det_pub = self.create_publisher(
                Detection2DArray, "~/detections", OUTPUT_QOS,
                qos_overriding_options=QoSOverridingOptions.with_default_policies())
            self._status_pub = self.create_publisher(TrackerStatus, "~/status", OUTPUT_QOS)
            self._debug_pub = self.create_publisher(Image, "~/debug_image", DEBUG_QOS)
            self._active = True
        self._image_sub = self._subscribe_images(IMAGE_QOS, first=True)
        # The reliability follows the publishers unless the user set it (qos_overrides).
        self._adaptive_qos = not self._reliability_overridden()
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
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop processing and publishing; the model stays loaded."""
        self._deactivate()
        self.get_logger().info("deactivated: not subscribed, not publishing; model kept")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model and its device memory; back to unconfigured."""
        self._cleanup()
        self.get_logger().info("cleaned up: model and device memory freed")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Tear down whatever the current state holds and let main() stop spinning."""
        self._deactivate()
        self._cleanup()
        self.get_logger().info("shut down (finalized)")
        if not self.finished.done():
            self.finished.set_result(True)
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything after a transition raised, and go back to unconfigured."""
        self.get_logger().error("a lifecycle transition raised; cleaning up to unconfigured")
        self._deactivate()
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def _deactivate(self) -> None:
        """Stop the worker first (it publishes), then the inputs and outputs."""
        self._stop.set()
        if self._cache is not None:
            self._cache.wake()
        worker = self._worker
        if worker is not None and worker.is_alive() and worker is not threading.current_thread():
            worker.join(timeout=30.0)
        self._worker = None
        for timer in (self._hint_timer, self._qos_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self._hint_timer = self._qos_timer = None
        for sub in (self._image_sub, self._retiring_sub):
            if sub is not None:
                self.destroy_subscription(sub)
        self._image_sub = self._retiring_sub = None
        with self._outputs_lock:
            self._active = False
            for pub in (self._det_pub, self._status_pub, self._debug_pub):
                if pub is not None:
                    self.destroy_publisher(pub)
            self._det_pub = self._status_pub = self._debug_pub = None
        if self._session is not None:
            self._session.reset()

    def _cleanup(self) -> None:
        """Close and drop the tracker, the cache and the services."""
        for srv in (self._init_srv, self._reset_srv):
            if srv is not None:
                self.destroy_service(srv)
        self._init_srv = self._reset_srv = None
        session, self._session = self._session, None
        if self._cache is not None:
            self._cache.close()
        self._cache = None
        if session is None:
            return
        session.close()
        del session
        import gc

        gc.collect()
        if self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

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
        try:
            check_tracker_parameters(values)  # the options' own check (update_mode, mode, ...)
        except ValueError as exc:
            raise NodeSetupError(str(exc)) from exc
        return values

    def _on_set_parameters(self, params: Sequence[Parameter]) -> SetParametersResult:
        """Accept or refuse a run-time change with a reason; nothing is applied here.

        rclpy has already enforced the descriptors (type, range, read-only) before this runs;
        what is left are the rules a descriptor cannot state (a label must not be blank).
        """
        notes = []
        for param in params:
            if param.name.startswith("qos_overrides.") or param.name == "use_sim_time":
                continue  # qos overrides are read-only by construction; rclpy refuses changes
            reason = refusal(param)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
            notes.append(f"{param.name}{self._change_note(param)}")
        if not self._apply_after_acceptance:
            self._apply_parameters(params)
        return SetParametersResult(successful=True, reason="; ".join(notes))

    def _change_note(self, param: Parameter) -> str:
        """When an accepted change takes effect, in words (for the reply and the log)."""
        if param.name == "lost_score_threshold":
            return " (applies from the next ~/init)" if self._session is not None else ""
        if param.name in TRACKER_OPTION_PARAMETERS:
            if int(param.value) <= 0:
                return " (0: the current value stays until restart)"
            if self._session is not None:
                return " (applies from the next ~/init)"
            return " (applies at configure)"
        return ""

    def _apply_parameters(self, params: Sequence[Parameter]) -> None:
        """Apply accepted changes (post-set callback; on Humble the on-set callback's end)."""
        session, cache = self._session, self._cache
        for param in params:
            name, value = param.name, param.value
            if name not in PARAMETER_NAMES:
                continue
            if name == "label":
                self._label = str(value)
            elif name == "publish_debug":
                self._publish_debug = bool(value)
            elif name == "lost_score_threshold" and session is not None:
                self._pending_options["success_threshold"] = lost_threshold_to_raw(value)
            elif name == "frame_cache_length" and cache is not None:
                cache.resize(int(value))
            elif name == "init_catch_up_frames" and session is not None:
                session.catch_up_frames = int(value)
            elif name in TRACKER_OPTION_PARAMETERS and int(value) > 0 and session is not None:
                self._pending_options[name] = int(value)
            self.get_logger().info(f"parameter {name} set to {value!r}{self._change_note(param)}")

    # ------------------------------------------------------------------ tracker
    def _make_tracker(self, p: dict[str, Any], overrides: dict[str, Any] | None = None) -> Any:
        """Build the tracker the parameters describe.

        ``overrides``, when given, replace the parameters' tracker options: the next tracker
        after a run-time change keeps the current tracker's overrides plus the change.
        """
        from rtmdnet_ros import onnx_runtime
        from rtmdnet_ros.tracker import DEFAULT_MODEL, Tracker

        if p["torch_threads"] > 0:
            # torch, OpenCV and the tracker's onnxruntime session: one thread count.
            onnx_runtime.set_frame_threads(int(p["torch_threads"]))
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
            f"{time.perf_counter() - started:.1f} s; {tracker.options.rtmdnet.n_candidates} "
            f"candidates, long-term update every {tracker.options.rtmdnet.long_term_interval} "
            f"frames, {tracker.options.execution.update_mode} updates, "
            + ("composite tracker (Siamese proposer + RT-MDNet verifier)"
               if tracker.options.mode == "composite" else
               "reference RT-MDNet, box refinement "
               + ("on (NanoTrack v3 head)" if tracker.box_refinement else "off")))
        self._device = str(tracker.device)
        return tracker

    def _next_tracker(self, current: Any) -> Any:
        """Before an init, build the next tracker with the run-time changed tracker options.

        A tracker's options are fixed when it is built (Tracker's docstring), so a change gives
        a new tracker: same model, device and seed, the changes over the current overrides.
        Called by the session under its tracker lock.
        """
        if not self._pending_options:
            return current
        overrides = {**current.overrides, **self._pending_options}
        self._pending_options = {}
        try:
            tracker = self._make_tracker(self._params(), overrides)
        except NodeSetupError as exc:
            self.get_logger().error(f"changed tracker options not applied: {exc}")
            return current
        current.close()
        return tracker

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
            f"{len(publishers)} publisher(s) offering {offered}; the input follows its "
            f"publishers (normal: qos_overrides.{topic}.subscription.reliability would pin "
            "it instead)")

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
            if (self._retiring_sub is None and self._image_sub.qos_profile.reliability
                    == ReliabilityPolicy.RELIABLE):
                # A reliable reader loses nothing in transport: these frames were replaced in
                # its depth-1 history while this process was busy, by design (the node tracks the
                # newest frame). Counted in frames_dropped, and no warning that points at the
                # camera's transport, which is fine.
                return
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
        assert self._session is not None and self._cache is not None
        frame = self._session.next_catch_up()
        if frame is not None:
            return frame
        return self._cache.take_newest(timeout=0.1)

    def _work(self) -> None:
        stop = self._stop
        while not stop.is_set():
            frame = self._next_frame()
            if frame is None or stop.is_set():
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
        assert self._session is not None
        started = time.perf_counter()
        stamp = format_stamp(frame.stamp_ns)
        try:
            rgb = self._convert(frame)
        except ImageConversionError as exc:
            self._log_problem(
                f"convert:{str(exc)[:40]}",
                f"dropping frame {stamp} (frame_id '{frame.header.frame_id}'): {exc}")
            return
        out = self._session.track(frame.sequence, frame.header, rgb, started)
        if out.skipped == "size":
            shape = out.track_shape or (0, 0)
            self._log_problem(
                "size",
                f"frame {stamp} is {rgb.shape[1]}x{rgb.shape[0]} but track {out.track_id} "
                f"started on {shape[1]}x{shape[0]}: frame skipped; call ~/init for the "
                "new size or ~/reset")
        if out.skipped is not None:
            return
        if out.changed:
            self.get_logger().info(
                f"track {out.track_id}: {STATE_NAMES[out.previous]} -> {STATE_NAMES[out.state]} "
                f"(score {out.score:.2f}, raw {out.raw:+.2f}) at {stamp}")
        self._publish_answer(frame.header, out)
        self._publish_debug_image(rgb, frame.header, out.state, out.box, out.score, out.track_id,
                                  out.label)

    def _publish(self, which: str, msg: Any) -> None:
        """Publish on an output unless the node was deactivated meanwhile."""
        with self._outputs_lock:
            pub = getattr(self, which)
            if pub is not None and self._active:
                pub.publish(msg)

    def _publish_answer(self, header: Any, answer: FrameOutcome) -> None:
        """Publish a frame's (or an init's) detections and the session's status."""
        session = self._session
        if session is None:
            return
        detections, status = answer_messages(header, answer, session.status(),
                                             self.frames_dropped, self._device)
        self._publish("_det_pub", detections)
        self._publish("_status_pub", status)

    def _publish_status(self, header: Any) -> None:
        session = self._session
        if session is None:
            return
        st = session.status()
        self._publish("_status_pub", build_status(header, st.state, st.raw, st.track_id,
                                                  st.processing_ms, st.frames_processed,
                                                  self.frames_dropped, self._device))

    def _publish_debug_image(self, rgb: np.ndarray, header: Any, state: int,
                             box: np.ndarray | None, score: float, track_id: str,
                             label: str) -> None:
        pub = self._debug_pub
        if not self._publish_debug or pub is None or pub.get_subscription_count() == 0:
            return
        bgr = draw_debug(rgb_to_bgr(rgb), state, box, score, track_id, label)
        self._publish("_debug_pub", build_image(bgr, header))

    # ------------------------------------------------------------------ services
    def _refuse(self, response: Any, reason: str) -> Any:
        self.get_logger().warning(f"~/init refused: {reason}")
        response.success = False
        response.message = reason
        response.track_id = ""
        return response

    def _on_init(self, request: Any, response: Any) -> Any:
        """Start tracking the requested box, on the frame it was drawn on when a stamp is given."""
        session, cache = self._session, self._cache
        if not self._active or session is None or cache is None:
            return self._refuse(response, "the node is not active: activate it (ros2 lifecycle "
                                          f"set {self.get_fully_qualified_name()} activate)")
        x, y, w, h = bbox_to_xywh(request.box)
        stamp_ns = stamp_to_ns(request.stamp)
        if cache.received == 0:
            topic = self._image_sub.topic_name if self._image_sub is not None else "image"
            return self._refuse(
                response,
                f"no image received yet on {topic}: start the camera "
                "(or check the topic name and image_transport) and call ~/init again")
        frame = cache.newest() if stamp_ns == 0 else cache.find(stamp_ns)
        if frame is None:
            count, oldest, newest = cache.stamp_range()
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
        label = request.label.strip() or self._label
        started = time.perf_counter()
        outcome = session.init(rgb, (x, y, w, h), frame.sequence, frame.header, label,
                               lambda: cache.after(frame), next_tracker=self._next_tracker,
                               started=cache.discard_pending_up_to)
        if not outcome.success:
            return self._refuse(response, outcome.reason)
        elapsed = time.perf_counter() - started
        track_id = outcome.track_id
        self._publish_answer(frame.header, outcome.answer)
        cache.wake()
        where = "newest frame" if stamp_ns == 0 else "cached frame"
        self.get_logger().info(
            f"track {track_id} ({label}) started on the {where} {format_stamp(frame.stamp_ns)} "
            f"at x={x:.1f} y={y:.1f} w={w:.1f} h={h:.1f} in {elapsed:.2f} s; "
            f"{outcome.catch_up} cached frame(s) to catch up")
        response.success = True
        response.message = (f"tracking started on the {where} {format_stamp(frame.stamp_ns)} "
                            f"(initialisation {elapsed:.2f} s)")
        response.track_id = track_id
        return response

    def _on_reset(self, request: Any, response: Any) -> Any:
        """Stop tracking without waiting for the tracking step in progress."""
        response.success = True
        session = self._session
        if session is None:
            response.message = "already idle: no target was being tracked"
            return response
        out = session.reset()
        if out.initialising:
            response.message = "initialisation in progress cancelled; state IDLE"
            self.get_logger().info("~/reset during ~/init: the new track will not start")
        elif out.was == TrackerStatus.IDLE:
            response.message = "already idle: no target was being tracked"
            self.get_logger().info("~/reset while idle: nothing to stop")
        else:
            response.message = f"track {out.track_id} stopped ({STATE_NAMES[out.was]} -> IDLE)"
            self.get_logger().info(f"track {out.track_id}: {STATE_NAMES[out.was]} -> IDLE (reset)")
            self._publish_status(out.header)  # the state change; the next frame's array is empty
        return response

    # ------------------------------------------------------------------ state for tests/tools
    @property
    def device(self) -> str:
        """The torch device the tracker runs on (empty until configured)."""
        return self._device

    @property
    def frames_dropped(self) -> int:
        """Count the frames never tracked.

        Replaced before the worker took them, outdated by an init, or lost before the callback
        (publisher sequence gaps).
        """
        cache, session = self._cache, self._session
        return ((cache.dropped if cache is not None else 0)
                + (session.late_frames if session is not None else 0) + self._transport_lost)

    def destroy_node(self) -> None:
        """Stop the worker before the publishers it uses go away, then close the tracker.

        The tracker's own threads (an asynchronous online update) stop before the process
        ends: a thread still inside torch at interpreter exit can abort it.
        """
        if hasattr(self, "_outputs_lock"):  # the constructor may have failed half-way
            self._deactivate()
            self._cleanup()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point ``tracker_node``: spin the node on a MultiThreadedExecutor.

    With ``autostart`` (the default) the node configures and activates itself; a failed
    configure then exits 1 with one line, as a plain ``ros2 run`` user expects. With
    ``autostart:=false`` it waits for lifecycle transitions and a failed configure leaves it up
    and unconfigured. Exit 0 on Ctrl-C whatever the node is doing (idle, tracking, inside an
    update or an init) and after the shutdown transition; 2 for malformed ``--ros-args``.
    """
    from rtmdnet_ros.ros_io.cli import fail, init_ros, one_line, stop_ros, user_errors

    # The core logs through `logging` (model loading, seeds): show it beside the ROS log.
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(levelname)s: %(message)s")
    code = init_ros(NODE_NAME, args)
    if code is not None:
        return code
    node: TrackerNode | None = None
    executor: MultiThreadedExecutor | None = None
    try:
        node = TrackerNode()
        if node.autostart and not node.start():
            return fail(NODE_NAME, f"cannot start: {node.setup_error or 'activation failed'}")
        executor = MultiThreadedExecutor(num_threads=4)
        executor.add_node(node)
        executor.spin_until_future_complete(node.finished)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (NodeSetupError, *user_errors()) as exc:
        return fail(NODE_NAME, f"cannot start: {one_line(exc)}")
    finally:
        stop_ros(executor, [node] if node is not None else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
