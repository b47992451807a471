# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Run-time parameter changes of the tracker node: refused with a reason, or applied and said.

Why apart from the node: a change passes three gates (rclpy's descriptor checks, the rules a
descriptor cannot state, then the part of the node that uses the value) and each accepted change
must say when it takes effect. The node registers, per parameter, the function that applies a
new value to the part now using it; a part that does not exist yet reads the parameter when it
is built, so a change is never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rclpy.parameter import Parameter

from rtmdnet_ros.node.parameters import PARAMETER_NAMES, refusal, type_refusal
from rtmdnet_ros.node.tracker_factory import change_note


class ParameterChanges:
    """The node's on-set (check) and post-set (apply) parameter callbacks."""

    def __init__(self, logger: Any, configured: Callable[[], bool],
                 apply_one: Callable[[str, Any], None]) -> None:
        """``apply_one(name, value)`` hands a value to the part of the node using it now."""
        self._logger = logger
        self._configured = configured
        self._apply_one = apply_one
        self._apply_on_check = False

    def attach(self, node: Any) -> None:
        """Register on ``node``: checks before acceptance, application after it.

        rclpy has already checked the descriptors' types, ranges and read-only flags by then.
        Humble has no post-set callback: there the on-set callback applies what it accepted.
        """
        post = getattr(node, "add_post_set_parameters_callback", None)  # Jazzy and later
        self._apply_on_check = post is None
        node.add_on_set_parameters_callback(self.check)
        if post is not None:
            post(self.apply)

    def note(self, param: Parameter) -> str:
        """When an accepted change takes effect, in words (for the reply and the log)."""
        return change_note(param.name, param.value, configured=self._configured())

    def check(self, params: Sequence[Parameter]) -> SetParametersResult:
        """Accept or refuse a change with a reason; nothing is applied here.

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
            notes.append(f"{param.name}{self.note(param)}")
        if self._apply_on_check:
            self.apply(params)
        return SetParametersResult(successful=True, reason="; ".join(notes))

    def apply(self, params: Sequence[Parameter]) -> None:
        """Hand each accepted value to the part using it, and log the change."""
        for param in params:
            if param.name not in PARAMETER_NAMES:
                continue
            self._apply_one(param.name, param.value)
            self._logger.info(f"parameter {param.name} set to {param.value!r}{self.note(param)}")


class TypeCheckedParameters:
    """Node mix-in: a value of the wrong type is refused with a sentence naming both types.

    ``ros2 param set`` ends in these methods (rclpy's parameter service); rclpy's own refusal
    would read "Wrong parameter type, expected '3' got '4'".
    """

    def set_parameters_atomically(self, parameter_list: list[Parameter]) -> SetParametersResult:
        """Refuse a value of the wrong type before rclpy's own checks."""
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
