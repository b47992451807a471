# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A detector's output as boxes to start a track on: reading, checking and choosing.

One place for the rules that say which detection starts (or restarts) a track, shared by the
node (live detections, clicks, ``~/init`` by class or point) and ``rtmdnet-bag`` (detections in
a recording), so both choose the same box from the same message. ROS-free: messages are read
field by field (rclpy's classes and rosbags' dataclasses alike, any vision_msgs layout), and
the choices work on plain :class:`Candidate` values, so they are tested without DDS.

Every candidate keeps its position in the array and the detector's own ``id``: a later
several-target node can match detections to tracks by them without changing these rules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rtmdnet_ros.ros_io.messages import bbox_to_xywh
from rtmdnet_ros.ros_io.stamps import header_stamp_ns

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Candidate:
    """One detection hypothesis: a box (x, y, w, h, pixels), its class and score."""

    box: Box
    class_id: str
    score: float
    index: int = 0  # position of the detection in its array
    detection_id: str = ""  # Detection2D.id, the detector's own tracking id when it has one

    @property
    def centre(self) -> tuple[float, float]:
        """The box centre in pixels."""
        x, y, w, h = self.box
        return x + 0.5 * w, y + 0.5 * h

    def contains(self, px: float, py: float) -> bool:
        """Whether the pixel (px, py) lies inside the box (edges included)."""
        x, y, w, h = self.box
        return x <= px <= x + w and y <= py <= y + h


@dataclass(frozen=True)
class DetectionFrame:
    """A whole Detection2DArray read: its image's stamp, the usable candidates, the refusals.

    One sentence for each detection that could not be used: a bad box is refused, not guessed.
    """

    stamp_ns: int
    candidates: tuple[Candidate, ...]
    problems: tuple[str, ...] = ()


def box_problem(box: Sequence[float]) -> str:
    """Why a detection's box cannot be a target ("" when it can): non-finite or empty."""
    x, y, w, h = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return f"box has a non-finite value: x={x} y={y} w={w} h={h}"
    if w <= 0 or h <= 0:
        return f"box size must be positive, got {w:g} x {h:g} px"
    return ""


def _hypotheses(detection: Any) -> Iterable[tuple[str, float]]:
    """(class_id, score) of each result; one unnamed, unscored result when there is none."""
    results = list(getattr(detection, "results", ()) or ())
    if not results:
        yield "", 0.0
        return
    for result in results:
        hyp = getattr(result, "hypothesis", result)  # vision_msgs >= 3, or Foxy's flat layout
        yield (str(getattr(hyp, "class_id", getattr(hyp, "id", ""))),
               float(getattr(hyp, "score", 0.0)))


def array_stamp_ns(msg: Any) -> int:
    """Return the stamp of the image the detections were computed on.

    The array's, else the first detection's: some detectors fill only one of the two.
    """
    stamp = header_stamp_ns(msg.header)
    detections = list(getattr(msg, "detections", ()) or ())
    if stamp == 0 and detections:
        stamp = header_stamp_ns(detections[0].header)
    return stamp


def read_detections(msg: Any) -> DetectionFrame:
    """Read a ``vision_msgs/Detection2DArray``: one candidate per detection and hypothesis."""
    candidates: list[Candidate] = []
    problems: list[str] = []
    for index, det in enumerate(getattr(msg, "detections", ()) or ()):
        box = bbox_to_xywh(det.bbox)
        why = box_problem(box)
        if why:
            problems.append(f"detection {index}: {why}")
            continue
        for class_id, score in _hypotheses(det):
            if not math.isfinite(score):
                problems.append(f"detection {index} ({class_id!r}): score is {score}")
                continue
            candidates.append(Candidate(box, class_id, score, index, str(getattr(det, "id", ""))))
    return DetectionFrame(array_stamp_ns(msg), tuple(candidates), tuple(problems))


def of_class(candidates: Iterable[Candidate], class_id: str | None,
             min_score: float = 0.0) -> list[Candidate]:
    """Return the candidates of ``class_id`` scoring at least ``min_score``, best first.

    ``class_id`` None: any class.
    """
    chosen = [c for c in candidates
              if (class_id is None or c.class_id == class_id) and c.score >= min_score]
    return sorted(chosen, key=lambda c: -c.score)


def best_of_class(candidates: Iterable[Candidate], class_id: str | None,
                  min_score: float = 0.0) -> Candidate | None:
    """Return the highest-scoring candidate of ``class_id`` (any class when None), or None."""
    chosen = of_class(candidates, class_id, min_score)
    return chosen[0] if chosen else None


def containing(candidates: Iterable[Candidate], px: float, py: float,
               min_score: float = 0.0) -> Candidate | None:
    """Return the candidate whose box contains the pixel, or None.

    Of nested boxes the smallest wins (a click on a person standing in front of a car means the
    person), then the higher score.
    """
    inside = [c for c in candidates if c.contains(px, py) and c.score >= min_score]
    if not inside:
        return None
    return min(inside, key=lambda c: (c.box[2] * c.box[3], -c.score))


def distance_in_sizes(box: Sequence[float], reference: Sequence[float]) -> float:
    """Centre distance between two boxes in sizes of ``reference`` (its mean side)."""
    x, y, w, h = (float(v) for v in box)
    rx, ry, rw, rh = (float(v) for v in reference)
    side = max(0.5 * (rw + rh), 1.0)
    return math.hypot(x + 0.5 * w - rx - 0.5 * rw, y + 0.5 * h - ry - 0.5 * rh) / side


def near_lost(candidates: Iterable[Candidate], class_id: str | None, lost_box: Sequence[float],
              radius: float, min_score: float = 0.0) -> list[Candidate]:
    """Return the candidates that may restart a lost track, nearest first.

    Of the tracked class (any when None), scoring at least ``min_score``, with the centre
    at most ``radius`` target sizes (the lost box's mean side) from the lost box's centre. The
    verifier still has to accept one: this is only where a detection may be the same target.
    """
    chosen = [c for c in of_class(candidates, class_id, min_score)
              if distance_in_sizes(c.box, lost_box) <= radius]
    return sorted(chosen, key=lambda c: distance_in_sizes(c.box, lost_box))


def point_problem(px: float, py: float, width: int, height: int) -> str:
    """Why a pixel cannot start a track on a ``width`` x ``height`` image ("" when it can)."""
    if not (math.isfinite(px) and math.isfinite(py)):
        return f"point has a non-finite value: x={px} y={py}"
    if not (0.0 <= px < width and 0.0 <= py < height):
        return f"point (x={px:.1f}, y={py:.1f}) lies outside the {width}x{height} image"
    return ""


def box_around(px: float, py: float, side: float, width: int, height: int) -> Box:
    """Return a ``side`` x ``side`` box centred on the pixel, clipped to the image."""
    half = 0.5 * float(side)
    x0, y0 = max(0.0, px - half), max(0.0, py - half)
    x1, y1 = min(float(width), px + half), min(float(height), py + half)
    return x0, y0, x1 - x0, y1 - y0
