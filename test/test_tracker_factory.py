# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The node's tracker factory without a ROS graph: real trackers on the CPU.

From the node's parameter values (the table's defaults, a few changed) to a Tracker: the device
and model said once, a run-time change kept for the next ``~/init``, the current tracker kept
when the change cannot be built.
"""

from __future__ import annotations

from typing import Any

import cv2
import pytest
import torch
from node_harness import require_ros

require_ros()  # the parameter table uses rclpy's types (no node, no graph)

from rtmdnet_ros.node.parameters import SPECS  # noqa: E402
from rtmdnet_ros.node.tracker_factory import (  # noqa: E402
    NodeSetupError,
    TrackerFactory,
    change_note,
)
from rtmdnet_ros.packaged_models import DEFAULT_MODEL  # noqa: E402
from rtmdnet_ros.score_scale import logit  # noqa: E402


class Lines:
    """A logger that keeps (level, line) pairs."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.lines.append(("info", message))

    def warning(self, message: str) -> None:
        self.lines.append(("warning", message))

    def error(self, message: str) -> None:
        self.lines.append(("error", message))

    def starting(self, prefix: str) -> list[tuple[str, str]]:
        return [(level, line) for level, line in self.lines if line.startswith(prefix)]


def values(**changed: Any) -> dict[str, Any]:
    """The node's parameter values: the table's defaults on the CPU, reference mode (small)."""
    table = {spec.name: spec.default for spec in SPECS}
    table.update(device="cpu", mode="reference", box_refiner="none")
    table.update(changed)
    return table


@pytest.fixture()
def torch_threads():
    """Put torch's and OpenCV's thread counts back after a test that sets them."""
    saved = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(saved[0])
    cv2.setNumThreads(saved[1])


def test_the_device_and_the_model_are_said_once_each():
    log = Lines()
    factory = TrackerFactory(values(n_candidates=64), log)
    assert factory.device == "cpu"
    ((level, line),) = log.starting("RT-MDNet tracker on")
    assert level == "info" and "cpu" in line, line
    tracker = factory.build()
    assert (tracker.options.mode, tracker.options.rtmdnet.n_candidates) == ("reference", 64)
    assert str(tracker.device) == "cpu" and tracker.seed == 0
    ((level, line),) = log.starting("model: ")
    packaged = f"packaged model {DEFAULT_MODEL}" if DEFAULT_MODEL.exists() else "no trained"
    assert line.startswith(f"model: {packaged}"), line
    assert "64 candidates" in line and "reference RT-MDNet, box refinement off" in line, line
    tracker.close()


def test_the_model_line_reads_the_trackers_choice():
    """Asked for another architecture than the packaged one, the tracker builds it untrained;
    the line says so (it once claimed the packaged model whenever that file existed)."""
    log = Lines()
    factory = TrackerFactory(values(), log)
    tracker = factory.build({"mode": "reference", "box_refiner": "none", "backbone_cut": "stage3"})
    assert not tracker.head_pretrained
    ((_, line),) = log.starting("model: ")
    assert line.startswith(f"model: no trained model for {tracker.options.network.backbone}"), line
    tracker.close()


def test_a_run_time_change_applies_from_the_next_tracker():
    log = Lines()
    factory = TrackerFactory(values(), log)
    first = factory.build()
    assert factory.next_tracker(first) is first  # nothing changed: the same tracker
    factory.change("n_candidates", 128)
    factory.change("lost_score_threshold", 0.7)
    factory.change("long_term_interval", 0)  # 0 = keep the current value
    factory.change("label", "car")  # not a tracker option
    second = factory.next_tracker(first)
    assert second is not first
    assert second.options.rtmdnet.n_candidates == 128
    assert second.options.rtmdnet.success_threshold == pytest.approx(logit(0.7))
    assert second.options.rtmdnet.long_term_interval == first.options.rtmdnet.long_term_interval
    assert second.overrides == {**first.overrides, "n_candidates": 128,
                                "success_threshold": pytest.approx(logit(0.7))}
    assert factory.next_tracker(second) is second  # taken once
    second.close()


def test_the_reply_says_when_a_change_applies():
    assert change_note("n_candidates", 128, configured=True) == " (applies from the next ~/init)"
    assert change_note("n_candidates", 128, configured=False) == " (applies at configure)"
    assert change_note("long_term_interval", 0, configured=True) == \
        " (0: the current value stays until restart)"
    assert change_note("lost_score_threshold", 0.4, configured=True) == \
        " (applies from the next ~/init)"
    assert change_note("label", "car", configured=True) == ""


def test_a_change_that_cannot_be_built_keeps_the_current_tracker():
    log = Lines()
    factory = TrackerFactory(values(), log)
    current = factory.build()
    factory.change("n_candidates", 1)  # fewer candidates than the top 5 the score averages
    assert factory.next_tracker(current) is current
    ((level, line),) = log.starting("changed tracker options not applied")
    assert level == "error" and "top_k cannot exceed n_candidates" in line, line
    assert factory.next_tracker(current) is current  # the failed change is not retried
    current.close()


def test_setup_errors_name_the_parameter(tmp_path):
    with pytest.raises(NodeSetupError, match="does not exist"):
        TrackerFactory(values(model_path=str(tmp_path / "missing.pt")), Lines())
    with pytest.raises(NodeSetupError, match="auto, cpu or cuda"):
        TrackerFactory(values(device="tpu"), Lines())


def test_the_thread_count_reaches_the_tracker_through_its_options(torch_threads):
    tracker = TrackerFactory(values(torch_threads=1), Lines()).build()
    try:
        assert tracker.options.execution.torch_threads == 1
        assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    finally:
        tracker.close()

