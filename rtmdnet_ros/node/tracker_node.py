# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``rtmdnet_tracker`` ROS 2 node: camera images in, Detection2DArray + debug image out.

The node is the lifecycle wiring: parameters, services, the worker thread and the publishers.
The camera input (subscription, QoS adaptation, loss accounting, hints) is
:class:`~rtmdnet_ros.node.image_input.ImageInput`; trackers are built, and rebuilt after a
run-time option change, by :class:`~rtmdnet_ros.node.tracker_factory.TrackerFactory`.

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
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.task import Future
from std_srvs.srv import Trigger

from rtmdnet_ros.msg import TrackerStatus
from rtmdnet_ros.node.frame_cache import CachedFrame, FrameCache, stamp_to_ns
from rtmdnet_ros.node.image_input import ImageInput, InputSettings
from rtmdnet_ros.node.outputs import Output, advertise
from rtmdnet_ros.node.parameters import (
    PARAMETER_NAMES,
    TRACKER_OPTION_PARAMETERS,
    check_tracker_parameters,
    declare_all,
    refusal,
    type_refusal,
)
from rtmdnet_ros.node.problem_log import ProblemLog
from rtmdnet_ros.node.tracker_factory import NodeSetupError, TrackerFactory, change_note
from rtmdnet_ros.options import check_choice
from rtmdnet_ros.ros_io.image_conversion import (
    IMAGE_TRANSPORTS,
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

NODE_NAME = "rtmdnet_tracker"
WAITING_HINT_S = 3.0  # unconfigured this long without autostart: say what it waits for


def format_stamp(stamp_ns: int) -> str:
    """Write a stamp as ``sec.nanosec`` the way ``ros2 topic echo`` users read it."""
    return f"{stamp_ns // 1_000_000_000}.{stamp_ns % 1_000_000_000:09d}"


class TrackerNode(LifecycleNode):
    """RT-MDNet single-object tracker as a managed ROS 2 node (see the module docstring).

    Lifecycle (why each step holds what it holds):
    - unconfigured: parameters only (``ros2 param`` works, nothing is loaded);
    - configure: reads the parameters, chooses the device, loads the model (TrackerFactory),
      creates the frame cache, the track session, the image input (not yet subscribed) and the
      ``~/init``/``~/reset`` services; a bad model or device fails the transition with the
      reason logged and the node stays unconfigured;
    - activate: the publishers, the image subscription with its timers, the worker thread;
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
        # Configure to cleanup: the tracker builder, the session, the frame cache, the input.
        self._factory: TrackerFactory | None = None
        self._session: TrackSession | None = None
        self._cache: FrameCache | None = None
        self._input: ImageInput | None = None
        self._active = False
        self._outputs_lock = threading.RLock()  # publishers are created/destroyed under it
        self._outputs: dict[Output, Any] = {}
        self._init_srv: Any = None
        self._reset_srv: Any = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        # Worker problems (a frame that fails) once per period; the input has its own.
        self._log_problem = ProblemLog(self.get_logger()).report
        p = {name: self.get_parameter(name).value for name in PARAMETER_NAMES}
        self._label = p["label"]
        self._publish_debug = p["publish_debug"]
        # Reentrant: ~/reset is answered at once even while ~/init trains on the first frame.
        self._service_group = ReentrantCallbackGroup()
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

    def _change_note(self, param: Parameter) -> str:
        """When an accepted change takes effect, in words (for the reply and the log)."""
        return change_note(param.name, param.value, configured=self._session is not None)

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
            factory = TrackerFactory(p, self.get_logger())
            tracker = factory.build()
        except NodeSetupError as exc:
            self.setup_error = str(exc)
            self.get_logger().error(
                f"configure failed: {exc}. The node stays unconfigured: start it again with "
                "corrected parameters (device, cuda_fallback and model_path are read-only)")
            return TransitionCallbackReturn.FAILURE
        self.setup_error = ""
        self._factory = factory
        self._device = factory.device
        self._session = TrackSession(tracker, p["init_catch_up_frames"])
        self._cache = FrameCache(p["frame_cache_length"])
        self._input = ImageInput(self, self._cache, InputSettings(transport=p["image_transport"]))
        self._init_srv = self.create_service(InitTarget, "~/init", self._on_init,
                                             callback_group=self._service_group)
        self._reset_srv = self.create_service(Trigger, "~/reset", self._on_reset,
                                              callback_group=self._service_group)
        self.get_logger().info("configured: model loaded; activate to start tracking")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Advertise the outputs, subscribe and start the worker."""
        assert self._input is not None and self._session is not None
        with self._outputs_lock:
            self._outputs = advertise(self)
            self._active = True
        self._input.open()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name="rtmdnet_worker", daemon=True)
        self._worker.start()
        published = ", ".join(pub.topic_name for pub in self._outputs.values())
        self.get_logger().info(
            f"{self._input.describe()}; publishing {published}; services "
            f"{self._service_name('~/init')}, {self._service_name('~/reset')}")
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
        if self._input is not None:
            self._input.close()
        with self._outputs_lock:
            self._active = False
            for pub in self._outputs.values():
                self.destroy_publisher(pub)
            self._outputs = {}
        if self._session is not None:
            self._session.reset()

    def _cleanup(self) -> None:
        """Close and drop the tracker, the cache and the services."""
        for srv in (self._init_srv, self._reset_srv):
            if srv is not None:
                self.destroy_service(srv)
        self._init_srv = self._reset_srv = None
        self._factory = self._input = None
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
        try:
            check_choice("parameter image_transport", values["image_transport"],
                         IMAGE_TRANSPORTS)
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

    def _apply_parameters(self, params: Sequence[Parameter]) -> None:
        """Apply accepted changes (post-set callback; on Humble the on-set callback's end)."""
        session, cache, factory = self._session, self._cache, self._factory
        for param in params:
            name, value = param.name, param.value
            if name not in PARAMETER_NAMES:
                continue
            if name == "label":
                self._label = str(value)
            elif name == "publish_debug":
                self._publish_debug = bool(value)
            elif name == "frame_cache_length" and cache is not None:
                cache.resize(int(value))
            elif name == "init_catch_up_frames" and session is not None:
                session.catch_up_frames = int(value)
            elif (name == "lost_score_threshold" or name in TRACKER_OPTION_PARAMETERS) \
                    and factory is not None:
                factory.change(name, value)  # from the next ~/init
            self.get_logger().info(f"parameter {name} set to {value!r}{self._change_note(param)}")

    # ------------------------------------------------------------------ worker
    def _convert(self, frame: CachedFrame) -> np.ndarray:
        if frame.compressed:
            return compressed_msg_to_rgb(frame.msg)
        return image_msg_to_rgb(frame.msg)

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

    def _publish(self, output: Output, msg: Any) -> None:
        """Publish on an output unless the node was deactivated meanwhile.

        The publisher is looked up under the lock deactivation holds while destroying them, so
        the worker never publishes on a destroyed one.
        """
        with self._outputs_lock:
            pub = self._outputs.get(output)
            if pub is not None and self._active:
                pub.publish(msg)

    def _publish_answer(self, header: Any, answer: FrameOutcome) -> None:
        """Publish a frame's (or an init's) detections and the session's status."""
        session = self._session
        if session is None:
            return
        detections, status = answer_messages(header, answer, session.status(),
                                             self.frames_dropped, self._device)
        self._publish(Output.DETECTIONS, detections)
        self._publish(Output.STATUS, status)

    def _publish_status(self, header: Any) -> None:
        session = self._session
        if session is None:
            return
        st = session.status()
        self._publish(Output.STATUS, build_status(header, st.state, st.raw, st.track_id,
                                                 st.processing_ms, st.frames_processed,
                                                 self.frames_dropped, self._device))

    def _publish_debug_image(self, rgb: np.ndarray, header: Any, state: int,
                             box: np.ndarray | None, score: float, track_id: str,
                             label: str) -> None:
        pub = self._outputs.get(Output.DEBUG_IMAGE)
        if not self._publish_debug or pub is None or pub.get_subscription_count() == 0:
            return
        bgr = draw_debug(rgb_to_bgr(rgb), state, box, score, track_id, label)
        self._publish(Output.DEBUG_IMAGE, build_image(bgr, header))

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
            topic = self._input.topic_name if self._input is not None else "image"
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
                               lambda: cache.after(frame), next_tracker=self._factory.next_tracker,
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
                + (session.late_frames if session is not None else 0)
                + (self._input.lost if self._input is not None else 0))

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
