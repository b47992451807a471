# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""From the tracker node's parameter values to a :class:`rtmdnet_ros.tracker.Tracker`.

A tracker's options are fixed when it is built (Tracker's docstring), yet some node parameters
may change at run time: such a change gives a new tracker at the next ``~/init``, built like the
first (same model, device, seed) with the change on top. Both builds go through one
:class:`TrackerFactory` so they cannot differ, and the node is left with lifecycle wiring only.
No rclpy node here: the factory is tested on a real tracker without a ROS graph.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from rtmdnet_ros.device import CudaUnavailable, DeviceError, choose_device
from rtmdnet_ros.node.parameters import TRACKER_OPTION_PARAMETERS, tracker_option_overrides


class Logger(Protocol):
    """The part of a logger the factory uses (a ROS node's logger, or a ``logging.Logger``)."""

    def info(self, message: str) -> Any:
        """Log what was chosen or built."""

    def warning(self, message: str) -> Any:
        """Log a choice the user may not want (a CPU fallback)."""

    def error(self, message: str) -> Any:
        """Log a change that could not be applied."""


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


def change_note(name: str, value: Any, configured: bool) -> str:
    """When an accepted change of parameter ``name`` takes effect, in words (reply and log).

    Beside :meth:`TrackerFactory.change`, which is the rule these words describe.
    """
    if name == "lost_score_threshold":
        return " (applies from the next ~/init)" if configured else ""
    if name in TRACKER_OPTION_PARAMETERS:
        if int(value) <= 0:
            return " (0: the current value stays until restart)"
        return " (applies from the next ~/init)" if configured else " (applies at configure)"
    return ""


class TrackerFactory:
    """Builds the node's trackers and keeps run-time option changes for the next one.

    Made at configure from the parameter values: the device is chosen (and said) there, once,
    since it is fixed for the node's life. The read-only values (model, device, seed) are kept,
    so a later tracker is built exactly like the first; the thread count travels in the tracker
    options (``torch_threads``), applied by the tracker itself, the one place that sets it.
    """

    def __init__(self, values: Mapping[str, Any], logger: Logger) -> None:
        """Choose the device and check the model; raise NodeSetupError naming the parameter."""
        self._values = dict(values)
        self._logger = logger
        self.device, sentence = resolve_device(values["device"], values["cuda_fallback"])
        say = logger.warning if "falling back" in sentence else logger.info
        say(f"RT-MDNet tracker on {sentence}")
        self._model = values["model_path"] or None
        if self._model is not None and not Path(self._model).is_file():
            raise NodeSetupError(f"model_path '{self._model}' does not exist")
        self._seed = None if values["seed"] < 0 else int(values["seed"])
        # Option changes waiting for the next ~/init; written by the parameter callback, taken
        # by next_tracker under the session's tracker lock.
        self._pending: dict[str, Any] = {}
        self._lock = threading.Lock()

    def build_spare(self, current: Any) -> Any:
        """Build a second tracker like ``current``, to train a new track on beside a running one.

        Same model, device, seed and options, so a track started on it behaves as on the first.
        """
        started = time.perf_counter()
        tracker = self.build(dict(current.overrides), say=False)
        self._logger.info(f"second tracker built in {time.perf_counter() - started:.1f} s: a "
                          "new track is trained on it while the running one goes on")
        return tracker

    def build_target(self, current: Any) -> Any:
        """Build the tracker of one more target, like ``current`` (several targets)."""
        started = time.perf_counter()
        tracker = self.build(dict(current.overrides), say=False)
        self._logger.info(f"tracker for one more target built in "
                          f"{time.perf_counter() - started:.1f} s")
        return tracker

    def build(self, overrides: dict[str, Any] | None = None, say: bool = True) -> Any:
        """Build the tracker the parameters describe, and log what it loaded (``say``).

        ``overrides``, when given, replace the parameters' tracker options: the next tracker
        after a run-time change keeps the current tracker's overrides plus the change.
        """
        from rtmdnet_ros.tracker import Tracker

        started = time.perf_counter()
        if overrides is None:
            overrides = tracker_option_overrides(self._values)
        try:
            # The parameters override only what they set, over the model file's own options.
            tracker = Tracker(model=self._model, device=self.device, seed=self._seed,
                              overrides=overrides)
        except ValueError as exc:
            raise NodeSetupError(f"cannot load the tracker: {exc}") from exc
        options = tracker.options
        self.device = str(tracker.device)
        if not say:
            return tracker
        self._logger.info(
            f"model: {self._model_source(tracker)}; loaded in "
            f"{time.perf_counter() - started:.1f} s; {options.rtmdnet.n_candidates} candidates, "
            f"long-term update every {options.rtmdnet.long_term_interval} frames, "
            f"{options.execution.update_mode} updates, "
            + ("composite tracker (Siamese proposer + RT-MDNet verifier)"
               if options.mode == "composite" else
               "reference RT-MDNet, box refinement "
               + ("on (NanoTrack v3 head)" if tracker.box_refinement else "off")))
        return tracker

    def _model_source(self, tracker: Any) -> str:
        """Which network the tracker loaded, as the tracker decided it (never guessed here).

        Without model_path the tracker takes the packaged model unless the options ask for
        another architecture; ``head_pretrained`` says which it did.
        """
        from rtmdnet_ros.packaged_models import DEFAULT_MODEL

        if self._model is not None:
            return self._model
        if tracker.head_pretrained:
            return f"packaged model {DEFAULT_MODEL}"
        return (f"no trained model for {tracker.options.network.backbone}: ImageNet backbone + "
                "seeded random head")

    def change(self, name: str, value: Any) -> None:
        """Keep an accepted run-time parameter change for the next tracker.

        Only the tracker options among the parameters count (``lost_score_threshold`` and
        ``TRACKER_OPTION_PARAMETERS``; 0 keeps the current value), mapped as at configure.
        """
        with self._lock:
            self._pending.update(tracker_option_overrides({name: value}))

    def next_tracker(self, current: Any) -> Any:
        """Before an init, the tracker to use: ``current``, or a new one with the changes.

        Called by the track session under its tracker lock. The new tracker keeps the current
        overrides with the changes on top; if it cannot be built the current one stays.
        """
        with self._lock:
            if not self._pending:
                return current
            overrides = {**current.overrides, **self._pending}
            self._pending = {}
        try:
            tracker = self.build(overrides)
        except NodeSetupError as exc:
            self._logger.error(f"changed tracker options not applied: {exc}")
            return current
        current.close()
        return tracker


def free_memory(device: str) -> None:
    """Give the memory of dropped trackers back (cleanup, after their session is closed).

    On CUDA the cached blocks go back to the driver, or the next configure would find the
    device memory still taken.
    """
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()
