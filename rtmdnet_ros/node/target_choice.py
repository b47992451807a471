# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Which cached frame and which box a detection, a class or a pixel starts a track on.

Why apart from the inputs: ``~/init`` by class or point, a click and the detector's own
messages must answer the same question the same way, and every answer must be about the frame
the detector (or the person clicking) saw, never whatever frame is newest: a detection is
matched to its frame by stamp through the frame cache, and one whose frame is gone is refused.
ROS-free (the cache holds the messages untouched), so the rules are tested without DDS.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from rtmdnet_ros.node.frame_cache import CachedFrame, FrameCache
from rtmdnet_ros.node.init_frame import find_init_frame
from rtmdnet_ros.ros_io.detections import (
    Box,
    DetectionFrame,
    best_of_class,
    box_around,
    containing,
    point_problem,
)
from rtmdnet_ros.ros_io.image_conversion import compressed_msg_to_rgb
from rtmdnet_ros.ros_io.stamps import format_stamp

# Detection arrays kept: more than any camera delivers within frame_cache_seconds' upper bound
# would be pointless, since a detection whose frame has left the cache can no longer be used.
MAX_DETECTION_FRAMES = 2000


@dataclass
class HandOffSettings:
    """The run-time values of the hand-off parameters (node/parameters.py says what each is)."""

    auto_init: bool = False
    init_class: str = ""
    init_min_score: float = 0.0
    reinit_when_lost: bool = False
    reinit_radius: float = 2.0
    click_box_size: float = 64.0


@dataclass(frozen=True)
class Choice:
    """A track start: the frame, the box on it, its class and how it was found.

    ``class_id`` is None for a box without one (a requested box, a click's box); ``how`` is in
    words, for the log and the service answer.
    """

    frame: CachedFrame
    box: Box
    class_id: str | None
    how: str


class DetectionStore:
    """The detector's recent arrays by stamp, safe across threads; oldest forgotten first."""

    def __init__(self, limit: int = MAX_DETECTION_FRAMES) -> None:
        self._lock = threading.Lock()
        self._frames: OrderedDict[int, DetectionFrame] = OrderedDict()
        self._limit = limit

    def put(self, found: DetectionFrame) -> None:
        """Keep an array (a second one for the same stamp replaces the first)."""
        with self._lock:
            self._frames.pop(found.stamp_ns, None)
            self._frames[found.stamp_ns] = found
            while len(self._frames) > self._limit:
                self._frames.popitem(last=False)

    def at(self, stamp_ns: int) -> DetectionFrame | None:
        """Return the array computed on the frame with this stamp, or None."""
        with self._lock:
            return self._frames.get(stamp_ns)

    def newest_stamps(self) -> list[int]:
        """Return the stamps of the kept arrays, newest arrival first."""
        with self._lock:
            return list(reversed(self._frames))

    def clear(self) -> None:
        """Forget every array (deactivate: the scene may change meanwhile)."""
        with self._lock:
            self._frames.clear()


class TargetChoice:
    """Turns a class or a pixel (with a stamp, or zero for the newest frame) into a Choice."""

    def __init__(self, cache: FrameCache, store: DetectionStore) -> None:
        self._cache = cache
        self._store = store

    def frame_of(self, stamp_ns: int) -> CachedFrame | str:
        """Return the cached frame a detection with this stamp was computed on, or why not."""
        frame = self._cache.find(stamp_ns) if stamp_ns else None
        if frame is not None:
            return frame
        if stamp_ns == 0:
            return "it has no stamp (header.stamp zero): it cannot be matched to a frame"
        count, oldest, newest = self._cache.stamp_range()
        if oldest <= stamp_ns <= newest:  # within the cached span: that frame never came
            return (f"its frame {format_stamp(stamp_ns)} never reached this node (lost before "
                    f"it, or not from its camera): the {count} cached frames from "
                    f"{format_stamp(oldest)} to {format_stamp(newest)} do not include it")
        return (f"its frame {format_stamp(stamp_ns)} is not in the frame cache ({count} frames "
                f"from {format_stamp(oldest)} to {format_stamp(newest)}); a detector slower "
                "than frame_cache_seconds, or stamps not copied from the image")

    def by_class(self, class_id: str, stamp_ns: int, topic: str, max_age_s: float,
                 min_score: float) -> Choice | str:
        """Choose the highest-scoring detection of ``class_id`` on the stamped frame.

        Stamp zero: on the newest frame that has detections and arrived at most ``max_age_s``
        ago.
        """
        if stamp_ns:
            frame = find_init_frame(self._cache, stamp_ns, topic, max_age_s)
            if isinstance(frame, str):
                return frame
            stamps = [stamp_ns]
        else:
            frame = None
            stamps = [s for s in self._store.newest_stamps() if self._cache.find(s) is not None]
            if not stamps:
                return ("no detections of a cached frame have arrived: is the detector "
                        "running, and does it copy the image stamps (detections_topic)?")
            frame = self._cache.find(stamps[0])
            assert frame is not None
            age = self._cache.age(frame)
            if age > max_age_s:
                return (f"the newest detections are of a frame that arrived {age:.1f} s ago "
                        f"(max_init_frame_age {max_age_s:g} s): is the detector running?")
            stamps = stamps[:1]
        found = self._store.at(stamps[0])
        if found is None:
            return (f"no detections arrived for the frame {format_stamp(stamps[0])}: give the "
                    "stamp of a frame the detector has answered, or zero for the newest")
        best = best_of_class(found.candidates, class_id, min_score)
        if best is None:
            seen = sorted({c.class_id for c in found.candidates})
            return (f"no detection of class {class_id!r} scoring at least {min_score:g} on the "
                    f"frame {format_stamp(found.stamp_ns)} (classes there: "
                    f"{', '.join(map(repr, seen)) or 'none'})")
        assert frame is not None
        return Choice(frame, best.box, best.class_id,
                      f"the {best.class_id!r} detection (score {best.score:.2f})")

    def by_point(self, px: float, py: float, stamp_ns: int, topic: str, max_age_s: float,
                 box_side: float, min_score: float, exact: bool = True) -> Choice | str:
        """Choose the detection containing the pixel on the stamped frame, else a box there.

        Stamp zero: the newest frame. Without a detection containing the pixel, a ``box_side``
        box centred on it, clipped to the image.

        ``exact`` False (a viewer's click, which may carry the time of the click rather than
        the image's stamp): a stamp of no cached frame means the newest frame at or before it,
        the one on screen then.
        """
        frame: CachedFrame | str | None = None
        if not exact and stamp_ns and self._cache.find(stamp_ns) is None:
            frame = self._cache.at_or_before(stamp_ns)
        if frame is None:
            frame = find_init_frame(self._cache, stamp_ns, topic, max_age_s)
        if isinstance(frame, str):
            return frame
        width, height = frame_size(frame)
        why = point_problem(px, py, width, height)
        if why:
            return why
        found = self._store.at(frame.stamp_ns)
        hit = containing(found.candidates, px, py, min_score) if found is not None else None
        if hit is not None:
            return Choice(frame, hit.box, hit.class_id,
                          f"the {hit.class_id!r} detection containing ({px:.0f}, {py:.0f})")
        return Choice(frame, box_around(px, py, box_side, width, height), None,
                      f"a {box_side:g} px box around ({px:.0f}, {py:.0f})")


def frame_size(frame: CachedFrame) -> tuple[int, int]:
    """Return (width, height) of a cached frame (a compressed one is decoded for it)."""
    msg = frame.msg
    if not frame.compressed:
        return int(msg.width), int(msg.height)
    rgb = compressed_msg_to_rgb(msg)
    return int(rgb.shape[1]), int(rgb.shape[0])
