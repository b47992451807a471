# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Message types for rosbags without a ROS runtime: type stores and default-valued messages.

Why this module exists: rosbags' messages are dataclasses whose constructors require every field,
while the node's builders (``rtmdnet_ros.ros_io.messages``) start from a default message and set
fields, as rclpy's classes allow. :func:`default_message` bridges the two, so the bag tool reuses
the node's builders unchanged. rosbags ships the standard ROS 2 types but neither ``vision_msgs``
nor our ``TrackerStatus``: those are registered from their ``.msg`` files (:func:`find_msg_file`).

Two stores are used on purpose: the input is read with the definitions stored in the bag itself
(a Humble bag keeps Humble's layouts), the output is written with ours (Kilted + the files).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.interfaces import Connection, MessageDefinitionFormat
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore
from rosbags.typesys.base import Nodetype
from rosbags.typesys.store import Typestore

from rtmdnet_ros.ros_io.messages import MessageTypes

LOG = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
DETECTIONS = "vision_msgs/msg/Detection2DArray"
STATUS = "rtmdnet_ros/msg/TrackerStatus"
# vision_msgs types that Detection2DArray needs, in no particular order (registered together).
VISION_MSGS = (
    "Point2D", "Pose2D", "BoundingBox2D", "ObjectHypothesis", "ObjectHypothesisWithPose",
    "Detection2D", "Detection2DArray",
)

_BASE_DEFAULTS: dict[str, Any] = {"string": "", "bool": False}
_NUMPY_TYPES = {
    "bool": np.bool_, "byte": np.uint8, "char": np.uint8, "int8": np.int8, "uint8": np.uint8,
    "int16": np.int16, "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32,
    "int64": np.int64, "uint64": np.uint64, "float32": np.float32, "float64": np.float64,
}


class BagTypeError(ValueError):
    """A message type the tool cannot find or parse; the text says which and where it looked."""


def msg_search_dirs(package: str) -> list[Path]:
    """Where ``<package>/msg/*.msg`` may live, most specific first.

    A ROS installation (``AMENT_PREFIX_PATH``), this interpreter's prefix (the project venv, or a
    pip install with setup.py's data files), then the source tree (``msg/`` for our own package,
    ``tools/vision_msgs`` for the upstream vision_msgs definitions).
    """
    prefixes = [Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(Path(sys.prefix))
    dirs = [prefix / "share" / package / "msg" for prefix in prefixes]
    dirs.append(Path(sys.prefix) / "share" / "rtmdnet_ros" / package / "msg")
    dirs.append(REPO_ROOT / "msg" if package == "rtmdnet_ros" else REPO_ROOT / "tools" / package
                / "msg")
    return dirs


def find_msg_file(package: str, name: str) -> Path:
    """Return the ``.msg`` file of ``package/msg/name``; raise :class:`BagTypeError` if none."""
    dirs = msg_search_dirs(package)
    for folder in dirs:
        path = folder / f"{name}.msg"
        if path.is_file():
            return path
    raise BagTypeError(
        f"message definition {package}/msg/{name} not found (looked in "
        + ", ".join(str(d) for d in dirs) + ")"
    )


def _register(store: Typestore, typs: dict[str, Any]) -> None:
    """Register only the types the store lacks (rosbags refuses a differing redefinition)."""
    missing = {name: value for name, value in typs.items() if name not in store.fielddefs}
    if missing:
        store.register(missing)


def output_typestore() -> Typestore:
    """Return the store the output is written with: Kilted + vision_msgs + TrackerStatus."""
    store = get_typestore(Stores.ROS2_KILTED)
    typs: dict[str, Any] = {}
    for name in VISION_MSGS:
        text = find_msg_file("vision_msgs", name).read_text()
        typs.update(get_types_from_msg(text, f"vision_msgs/msg/{name}"))
    typs.update(get_types_from_msg(find_msg_file("rtmdnet_ros", "TrackerStatus").read_text(),
                                   STATUS))
    _register(store, typs)
    return store


def input_typestore(connections: Iterable[Connection]) -> Typestore:
    """Return a store with the definitions the bag carries, else Kilted's (old SQLite3 bags).

    Definitions that differ between connections of one type are a corrupt bag for our purpose:
    rosbags raises, and the caller reports it.
    """
    typs: dict[str, Any] = {}
    for connection in connections:
        msgdef = connection.msgdef
        if msgdef.format == MessageDefinitionFormat.MSG and msgdef.data:
            typs.update(get_types_from_msg(msgdef.data, connection.msgtype))
        elif msgdef.format == MessageDefinitionFormat.IDL and msgdef.data:
            sep = "=" * 80 + "\n"
            if msgdef.data.startswith(f"{sep}IDL: "):
                for part in msgdef.data.split(sep)[1:]:
                    typs.update(get_types_from_idl(part.split("\n", 1)[1]))
            else:
                typs.update(get_types_from_idl(msgdef.data))
    store = get_typestore(Stores.EMPTY)
    store.register(typs)
    fallback = get_typestore(Stores.ROS2_KILTED)
    _register(store, {k: v for k, v in fallback.fielddefs.items()})
    return store


def _default_field(store: Typestore, desc: tuple[Any, Any]) -> Any:
    kind, detail = desc
    if kind == Nodetype.BASE:
        name = detail[0]
        if name in _BASE_DEFAULTS:
            return _BASE_DEFAULTS[name]
        return 0.0 if name.startswith("float") else 0
    if kind == Nodetype.NAME:
        return default_message(store, detail)
    sub, length = detail
    if sub[0] == Nodetype.BASE and sub[1][0] in _NUMPY_TYPES:
        size = length if kind == Nodetype.ARRAY else 0
        return np.zeros(size, dtype=_NUMPY_TYPES[sub[1][0]])
    if kind == Nodetype.ARRAY:
        return [_default_field(store, sub) for _ in range(length)]
    return []


def default_message(store: Typestore, msgtype: str) -> Any:
    """Return ``msgtype`` with every field at its ROS default (0, "", empty, nested defaults)."""
    try:
        fields = store.fielddefs[msgtype][1]
    except KeyError:
        raise BagTypeError(f"message type {msgtype} is not known") from None
    values = {name: _default_field(store, desc) for name, desc in fields}
    return store.types[msgtype](**values)


def message_types(store: Typestore) -> MessageTypes:
    """Return the node builders' classes, made of rosbags dataclasses from ``store``."""

    def maker(msgtype: str) -> Any:
        default_message(store, msgtype)  # fail now, not on the first frame

        def make() -> Any:
            return default_message(store, msgtype)

        return make

    return MessageTypes(
        Detection2DArray=maker(DETECTIONS),
        Detection2D=maker("vision_msgs/msg/Detection2D"),
        ObjectHypothesisWithPose=maker("vision_msgs/msg/ObjectHypothesisWithPose"),
        TrackerStatus=maker(STATUS),
        Image=maker(IMAGE),
    )


def copy_header(store: Typestore, header: Any) -> Any:
    """Rebuild an input ``std_msgs/Header`` in the output store (stamp and frame_id kept)."""
    time_cls = store.types["builtin_interfaces/msg/Time"]
    header_cls = store.types["std_msgs/msg/Header"]
    return header_cls(stamp=time_cls(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec)),
                      frame_id=str(header.frame_id))
