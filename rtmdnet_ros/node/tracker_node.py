# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The ``rtmdnet_tracker`` ROS 2 node: camera images in, Detection2DArray + debug image out.

The node is the lifecycle wiring: it declares the parameters and creates, in each transition,
the parts that do the work: the camera input (:mod:`~rtmdnet_ros.node.image_input`), the frame
cache, the worker thread (:mod:`~rtmdnet_ros.node.frame_worker`), the publishers
(:mod:`~rtmdnet_ros.node.outputs`), the services (:mod:`~rtmdnet_ros.node.track_services`) and
the tracker builder (:mod:`~rtmdnet_ros.node.tracker_factory`), the targets' sessions
(:mod:`~rtmdnet_ros.node.targets`, ``max_targets``); ``/diagnostics`` throughout.

Threads: the image callback only stores frames, one worker thread tracks the newest (its
module says why); one executor thread serves every callback, and a start (``~/init``, a detection,
a click) runs off it and is awaited (:mod:`~rtmdnet_ros.node.offload`), so frames and ``~/reset``
are served while a track starts.

A managed (lifecycle) node (TrackerNode's docstring); the track's state machine: the ROS-free
:mod:`rtmdnet_ros.track_session`; the health figures: :mod:`~rtmdnet_ros.node.health`.

Start it with ``tracker_node --ros-args --params-file config/tracker.yaml`` or the launch file.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.task import Future
from std_srvs.srv import Trigger

from rtmdnet_ros.node.diagnostics import NodeDiagnostics, NodeParts
from rtmdnet_ros.node.frame_cache import FrameCache
from rtmdnet_ros.node.frame_worker import FrameWorker
from rtmdnet_ros.node.heartbeat import Heartbeat, image_age
from rtmdnet_ros.node.image_input import ImageInput, InputSettings
from rtmdnet_ros.node.offload import offloaded
from rtmdnet_ros.node.outputs import NodeOutputs
from rtmdnet_ros.node.parameter_changes import ParameterChanges, TypeCheckedParameters
from rtmdnet_ros.node.parameters import (
    HAND_OFF_PARAMETERS,
    PARAMETER_NAMES,
    TRACKER_OPTION_PARAMETERS,
    declare_all,
    named_parameter,
    problem_line,
    read_values,
    unknown_parameters,
)
from rtmdnet_ros.node.problem_log import ProblemLog
from rtmdnet_ros.node.target_inputs import TargetInputs
from rtmdnet_ros.node.targets import Targets, session_builder
from rtmdnet_ros.node.track_services import TrackServices
from rtmdnet_ros.node.tracker_factory import NodeSetupError, TrackerFactory, free_memory
from rtmdnet_ros.srv import InitTarget, ResetTarget

NODE_NAME = "rtmdnet_tracker"
PARAMETER_LIST = ", ".join(PARAMETER_NAMES)
WAITING_HINT_S = 3.0  # unconfigured this long without autostart: say what it waits for


class TrackerNode(TypeCheckedParameters, LifecycleNode):
    """RT-MDNet single-object tracker as a managed ROS 2 node (see the module docstring).

    Lifecycle (why each step holds what it holds): unconfigured = parameters only (``ros2
    param`` works, nothing is loaded; ``/diagnostics`` from start to end, so a failed configure
    shows as ERROR); configure reads the parameters, chooses the device, loads the model
    (TrackerFactory), creates the frame cache, the track session, the image input (not yet
    subscribed) and the services, or fails with the reason logged and the node unconfigured;
    activate: the publishers, the subscription with its timers, the worker; deactivate: those
    go, the model stays (a fast re-activate), the track is reset (the scene may have changed);
    cleanup closes and frees the tracker with its device memory; shutdown tears down the rest.
    """

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        # A refused value leaves the node up, unconfigured: configure says why in one line.
        self._parameter_problems = declare_all(self)
        # The waiting hint and a configure can both report one problem: one line for it.
        self._setup_problems = ProblemLog(self.get_logger())
        for name in unknown_parameters(self):
            self.get_logger().warning(f"parameter '{name}' was given but {self.get_name()} has "
                                      f"no such parameter (ignored; known: {PARAMETER_LIST})")
        self.autostart = bool(self.get_parameter("autostart").value)
        self.finished = Future()  # done when the node is shut down: main() stops spinning
        self._device = ""
        # Configure to cleanup: builder, sessions, cache, input, services; activate: the rest.
        self._factory: TrackerFactory | None = None
        self._all: Targets | None = None  # every target's session (max_targets)
        self._cache: FrameCache | None = None
        self._input: ImageInput | None = None
        self._track: TrackServices | None = None
        self._targets: TargetInputs | None = None  # detector and click inputs
        self._outputs: NodeOutputs | None = None
        self._worker: FrameWorker | None = None
        self._heartbeat: Heartbeat | None = None
        self._service_handles: list[Any] = []
        self._service_group = ReentrantCallbackGroup()  # ~/reset while an ~/init runs
        ParameterChanges(self.get_logger(), lambda: self._all is not None,
                         self._apply).attach(self)
        # Without autostart: what it waits for, if nothing configured it (launch does at once).
        self._waiting_timer = (self.create_timer(WAITING_HINT_S, self._say_waiting)
                               if not self.autostart else None)
        self._diagnostics = NodeDiagnostics(self, lambda: NodeParts(
            self._all.first if self._all else None, self._cache, self._input, self._outputs,
            self._all))

    def _say_waiting(self) -> None:
        """Log once, still unconfigured after WAITING_HINT_S, what the node waits for."""
        if self._waiting_timer is not None and not self._waiting_timer.is_canceled():
            # Cancelled: destroyed in its own callback, a timer can crash a multithreaded executor.
            self._waiting_timer.cancel()
            if self._parameter_problems:
                problem = self._parameter_problems[0]
                self._setup_problems.report(problem, problem_line(problem))
            elif self._all is None:
                self.get_logger().info(
                    "unconfigured: waiting for the configure and activate transitions (a "
                    "launch file or lifecycle manager sends them; by hand: ros2 lifecycle set "
                    f"{self.get_fully_qualified_name()} configure)")

    def _service_name(self, name: str) -> str:
        """Fully qualified service name for logs (resolve_service_name is missing on Humble)."""
        resolve = getattr(self, "resolve_service_name", None)
        return resolve(name) if resolve is not None else name

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> bool:
        """Configure and activate (``autostart``); False when either fails (logged)."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters and load the model; a failure leaves the node unconfigured."""
        if self._waiting_timer is not None:  # configured before the hint was due: no hint
            self._waiting_timer.cancel()
        try:
            if self._parameter_problems:
                raise NodeSetupError(self._parameter_problems[0])
            try:
                p = read_values(self)
            except ValueError as exc:
                raise NodeSetupError(str(exc)) from exc
            factory = TrackerFactory(p, self.get_logger())
            tracker = factory.build()
        except NodeSetupError as exc:
            self._setup_problems.report(str(exc), problem_line(str(exc)))
            self._diagnostics.problem = f"configure failed: {exc}"
            return TransitionCallbackReturn.FAILURE
        self._diagnostics.problem = ""
        self._factory, self._device = factory, factory.device
        self._all = Targets(p["max_targets"], session_builder(tracker, factory))
        self._cache = FrameCache(p["frame_cache_seconds"], p["frame_cache_max_mb"])
        self._input = ImageInput(self, self._cache, InputSettings(transport=p["image_transport"]))
        self._track = TrackServices(self._all, self._cache, factory, self,
                                       lambda: self._input.topic_name if self._input else "")
        self._track.label, self._track.max_frame_age = p["label"], p["max_init_frame_age"]
        self._service_handles = [
            self.create_service(kind, name, handle, callback_group=self._service_group)
            for kind, name, handle in ((InitTarget, "~/init", offloaded(self, self._on_init)),
                                       (Trigger, "~/reset", self._on_reset),
                                       (ResetTarget, "~/reset_target", self._on_reset))]
        self._targets = TargetInputs(self, self._track, self._all.first, self._cache, p)
        self.get_logger().info("configured: model loaded; activate to start tracking")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Advertise the outputs, subscribe and start the worker."""
        assert self._input and self._all and self._cache and self._track and self._targets
        cache, topic = self._cache, lambda: self._input.topic_name if self._input else ""
        outputs = NodeOutputs(self, self._device, lambda: self.frames_dropped,
                              lambda: image_age(cache),
                              bool(self.get_parameter("publish_debug").value))
        outputs.open()
        self._outputs = self._track.outputs = outputs
        self._input.open()
        self._targets.open()
        self._heartbeat = Heartbeat(self, outputs, self._all, cache, topic,
                                    float(self.get_parameter("status_rate").value))
        self._worker = FrameWorker(self._all, self._cache, outputs, self.get_logger(),
                                   lambda: not self.context.ok())
        self._worker.start()
        self.get_logger().info(
            f"{self._input.describe()}; publishing {', '.join(outputs.topics())}; services "
            f"{', '.join(self._service_name(n) for n in ('~/init', '~/reset_target', '~/reset'))}"
            f"{self._targets.describe()}")
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
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()
        for part in (self._input, self._targets):
            if part is not None:
                part.close()
        heartbeat, self._heartbeat = self._heartbeat, None
        if heartbeat is not None:
            heartbeat.stop()
        outputs, self._outputs = self._outputs, None
        if self._track is not None:
            self._track.outputs = None
        if outputs is not None:
            outputs.close()
        if self._all is not None:
            self._all.reset_all()

    def _cleanup(self) -> None:
        """Close and drop the tracker, the cache and the services."""
        for srv in self._service_handles:
            self.destroy_service(srv)
        self._service_handles = []
        self._factory = self._input = self._track = self._targets = None
        targets, self._all = self._all, None
        if self._cache is not None:
            self._cache.close()
        self._cache = None
        if targets is not None:
            targets.close()
            del targets
            free_memory(self._device)

    # ------------------------------------------------------------------ parameters
    def _apply(self, name: str, value: Any) -> None:
        """Hand an accepted change to the part using it now (a part built later reads it)."""
        self._parameter_problems = [p for p in self._parameter_problems
                                    if named_parameter(p) != name]
        if name == "label" and self._track is not None:
            self._track.label = str(value)
        elif name == "publish_debug" and self._outputs is not None:
            self._outputs.publish_debug = bool(value)
        elif name in ("frame_cache_seconds", "frame_cache_max_mb") and self._cache is not None:
            self._cache.resize(**{name.removeprefix("frame_cache_"): float(value)})
        elif name == "max_init_frame_age" and self._track is not None:
            self._track.max_frame_age = float(value)
        elif name == "status_rate" and self._heartbeat is not None:
            self._heartbeat.set_rate(float(value))
        elif name in HAND_OFF_PARAMETERS and self._targets is not None:
            self._targets.apply(name, value)
        elif (name == "lost_score_threshold" or name in TRACKER_OPTION_PARAMETERS) \
                and self._factory is not None:
            self._factory.change(name, value)  # from the next ~/init

    # ------------------------------------------------------------------ services
    def _on_init(self, request: Any, response: Any) -> Any:
        services = self._track  # it refuses while inactive; it exists as long as the service
        return services.on_init(request, response) if services is not None else response

    def _on_reset(self, request: Any, response: Any) -> Any:  # ~/reset, ~/reset_target
        if (services := self._track) is not None:
            return services.on_reset_target(request, response)
        response.success, response.message = True, "already idle: no target was being tracked"
        return response

    # ------------------------------------------------------------------ state for tests/tools
    @property
    def device(self) -> str:
        """The torch device the tracker runs on (empty until configured)."""
        return self._device

    @property
    def frames_dropped(self) -> int:
        """Frames no target saw; each status adds its own ``frames_unanswered``."""
        cache = self._cache
        return ((cache.dropped if cache is not None else 0)
                + (self._input.lost if self._input is not None else 0))

    def destroy_node(self) -> None:
        """Stop the worker before the publishers it uses go away, then close the tracker.

        The tracker's own threads stop before the process ends: one still inside torch at
        interpreter exit can abort it.
        """
        if hasattr(self, "_service_group"):  # the constructor may have failed half-way
            self._deactivate()
            self._cleanup()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point ``tracker_node``: spin the node (its module docstring says on what).

    With ``autostart`` (the default) the node configures and activates itself, else it waits for
    lifecycle transitions. A failed configure (a bad parameter, a missing model) leaves it up,
    unconfigured, with one line saying why (an exiting node would end a launch with launch's
    exception text; a lifecycle manager expects a node it can configure again). Exit 0 on
    Ctrl-C and after the shutdown transition; 2 for malformed ``--ros-args``.
    """
    from rtmdnet_ros.node.allocator import limit_allocator_growth
    from rtmdnet_ros.ros_io.cli import fail, init_ros, one_line, stop_ros, user_errors
    from rtmdnet_ros.ros_io.spinning import spin_until_done

    limit_allocator_growth()  # before any thread: each keeps the arena it first got
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(levelname)s: %(message)s")
    code = init_ros(NODE_NAME, args)
    if code is not None:
        return code
    node: TrackerNode | None = None
    executor: SingleThreadedExecutor | None = None
    try:
        node = TrackerNode()
        if node.autostart:
            node.start()  # a failure is logged in one line; the node stays up, unconfigured
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spin_until_done(executor, node.finished)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (NodeSetupError, *user_errors()) as exc:
        return fail(NODE_NAME, f"cannot start: {one_line(exc)}")
    finally:
        stop_ros(executor, [node] if node is not None else [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
