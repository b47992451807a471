# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""When ``rtmdnet-bag`` starts a track, and on which box: ``--box``/``--start`` or detections.

One object answers "is there a box to start on at this frame?" so the frame loop never sees the
difference between a user's box at a time and a detector's boxes while IDLE (or LOST with
``--reinit``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from rosbags.interfaces import Connection
from rosbags.rosbag2 import Reader

from rtmdnet_ros.bag.reading import BagInputError, bag_errors
from rtmdnet_ros.ros_io.cli import one_line
from rtmdnet_ros.ros_io.detections import best_of_class, read_detections
from rtmdnet_ros.track_session import IDLE, LOST

Box = tuple[float, float, float, float]


def start_rule(start: str | None) -> Callable[[int, int], bool]:
    """Return ``ready(stamp, first_stamp)`` for ``--start``: a time after the first frame."""
    if start is None:
        return lambda stamp, first: True
    text = start.strip()
    try:
        if text.startswith("stamp:"):
            sec, _, frac = text[6:].partition(".")
            absolute = int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])
            return lambda stamp, first: stamp >= absolute
        offset = round(float(text) * 1e9)
    except ValueError:
        raise BagInputError(
            f"--start expects seconds after the first frame (e.g. 2.5) or stamp:SEC.NSEC, "
            f"got {start!r}"
        ) from None
    if offset < 0:
        raise BagInputError(f"--start must not be negative, got {start!r}")
    return lambda stamp, first: stamp - first >= offset


def detection_boxes(reader: Reader, conns: list[Connection], store: object,
                    class_id: str | None, first_only: bool) -> Iterator[tuple[int, Box]]:
    """Yield (stamp_ns, box) of the usable detector output, in bag order.

    One box per message: the highest-scoring detection of ``class_id`` (any class when None),
    chosen by the rule the node uses too (:mod:`rtmdnet_ros.ros_io.detections`); a detection
    with a bad box is never chosen. A first, light pass over the bag: only this small topic is
    deserialised.
    """
    for conn, _, raw in reader.messages(connections=conns):
        msg = store.deserialize_cdr(raw, conn.msgtype)  # type: ignore[attr-defined]
        found = read_detections(msg)
        best = best_of_class(found.candidates, class_id)
        if best is not None:
            yield found.stamp_ns, best.box
            if first_only:
                return


class StartSchedule:
    """The boxes a track starts on: ``--box`` once (at ``--start``), or detections by stamp.

    A detection is used on the first image whose stamp is at or after its own (the latest such
    detection when several are due) while the track is IDLE, or LOST with ``reinit``.
    """

    def __init__(self, box: Box | None, start: str | None,
                 detections: list[tuple[int, Box]], reinit: bool) -> None:
        self._box, self._ready, self._reinit = box, start_rule(start), reinit
        self.box_pending = box is not None
        self._detections = iter(sorted(detections, key=lambda item: item[0]))
        self._next = next(self._detections, None)

    @classmethod
    def from_detections(cls, reader: Reader, conns: list[Connection], store: object,
                        topic: str, class_id: str | None, reinit: bool) -> StartSchedule:
        """Read the detector's boxes (all with ``reinit``, else the first) or refuse."""
        try:
            found = list(detection_boxes(reader, conns, store, class_id, first_only=not reinit))
        except bag_errors() as exc:
            why = one_line(exc, with_type=True)
            raise BagInputError(f"detections on {topic} cannot be read: {why}") from None
        if not found:
            which = f" of class {class_id!r}" if class_id is not None else ""
            raise BagInputError(f"no detection{which} on {topic}: nothing to start on")
        return cls(None, None, found, reinit)

    def box_at(self, stamp: int, first_stamp: int, state: int) -> Box | None:
        """Return the box to start on at this image, or None to go on tracking."""
        candidate = None
        while self._next is not None and self._next[0] <= stamp:
            candidate, self._next = self._next, next(self._detections, None)
        if self.box_pending and self._ready(stamp, first_stamp):
            self.box_pending = False
            return self._box
        if candidate is not None and (state == IDLE or (state == LOST and self._reinit)):
            return candidate[1]
        return None
