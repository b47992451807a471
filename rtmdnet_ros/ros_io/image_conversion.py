# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""ROS image messages <-> NumPy arrays, without cv_bridge and without rclpy.

cv_bridge is not on any registry here, its Python side mis-reads padded rows whose ``step`` is
not a multiple of the pixel size, and it broke with NumPy 2. This module reads the message fields
directly (anything with ``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``, ``data``
works, so it is unit-testable with plain objects) and produces what the tracker core takes:
HxWx3 ``uint8`` **RGB**. The node draws its debug image in BGR (OpenCV's order) and publishes it
as ``bgr8``.

Every malformed input raises :class:`ImageConversionError` (a ``ValueError``) with a message that
names the problem, so the node can log one clear line and drop just that frame.
"""

from __future__ import annotations

import array
import re
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = [
    "ImageConversionError",
    "EncodingInfo",
    "encoding_info",
    "image_msg_to_array",
    "image_msg_to_rgb",
    "image_msg_to_bgr",
    "compressed_msg_to_rgb",
    "array_to_rgb",
    "rgb_to_bgr",
    "fill_image_msg",
    "bgr_to_image_fields",
]


# The image_transport names this package reads (the node) and writes (the frame publisher).
IMAGE_TRANSPORTS = ("raw", "compressed")


class ImageConversionError(ValueError):
    """An image message that cannot be turned into pixels; the text says why."""


@dataclass(frozen=True)
class EncodingInfo:
    """How one ROS encoding is laid out in memory and how to reach RGB from it."""

    dtype: np.dtype
    channels: int
    kind: str  # "rgb", "bgr", "rgba", "bgra", "mono", "bayer_XXXX", "uyvy", "yuyv", "generic"


_U8 = np.dtype(np.uint8)
_U16 = np.dtype(np.uint16)

# The named encodings of sensor_msgs/image_encodings.hpp that a camera driver may send.
_NAMED: dict[str, EncodingInfo] = {
    "rgb8": EncodingInfo(_U8, 3, "rgb"),
    "bgr8": EncodingInfo(_U8, 3, "bgr"),
    "rgba8": EncodingInfo(_U8, 4, "rgba"),
    "bgra8": EncodingInfo(_U8, 4, "bgra"),
    "mono8": EncodingInfo(_U8, 1, "mono"),
    "rgb16": EncodingInfo(_U16, 3, "rgb"),
    "bgr16": EncodingInfo(_U16, 3, "bgr"),
    "rgba16": EncodingInfo(_U16, 4, "rgba"),
    "bgra16": EncodingInfo(_U16, 4, "bgra"),
    "mono16": EncodingInfo(_U16, 1, "mono"),
    # YUV 4:2:2, two bytes per pixel. "yuv422" is UYVY byte order, "yuv422_yuy2" is YUYV;
    # Jazzy added the clearer aliases "uyvy" and "yuyv".
    "yuv422": EncodingInfo(_U8, 2, "uyvy"),
    "uyvy": EncodingInfo(_U8, 2, "uyvy"),
    "yuv422_yuy2": EncodingInfo(_U8, 2, "yuyv"),
    "yuyv": EncodingInfo(_U8, 2, "yuyv"),
}
for _pattern in ("rggb", "bggr", "gbrg", "grbg"):
    _NAMED[f"bayer_{_pattern}8"] = EncodingInfo(_U8, 1, f"bayer_{_pattern}")
    _NAMED[f"bayer_{_pattern}16"] = EncodingInfo(_U16, 1, f"bayer_{_pattern}")

# ROS names a Bayer pattern by its top-left 2x2 block; OpenCV's classic constants name it by the
# block starting at pixel (1, 1). Checked against a synthetic mosaic in the tests.
_BAYER_TO_RGB = {
    "bayer_rggb": cv2.COLOR_BayerBG2RGB,
    "bayer_bggr": cv2.COLOR_BayerRG2RGB,
    "bayer_gbrg": cv2.COLOR_BayerGR2RGB,
    "bayer_grbg": cv2.COLOR_BayerGB2RGB,
}

_GENERIC_RE = re.compile(r"^(8U|8S|16U|16S|32S|32F|64F)C([1-9][0-9]*)$")
_GENERIC_DTYPES = {
    "8U": np.dtype(np.uint8),
    "8S": np.dtype(np.int8),
    "16U": np.dtype(np.uint16),
    "16S": np.dtype(np.int16),
    "32S": np.dtype(np.int32),
    "32F": np.dtype(np.float32),
    "64F": np.dtype(np.float64),
}

# 16 bit -> 8 bit: full range onto full range, as cv_bridge does (255 / 65535).
_SCALE_16_TO_8 = 255.0 / 65535.0


def encoding_info(encoding: str) -> EncodingInfo:
    """Look an encoding up; unknown names are an error rather than a guess."""
    info = _NAMED.get(encoding)
    if info is not None:
        return info
    match = _GENERIC_RE.match(encoding)
    if match is not None:
        return EncodingInfo(_GENERIC_DTYPES[match.group(1)], int(match.group(2)), "generic")
    raise ImageConversionError(f"unrecognized encoding '{encoding}'")


def _buffer(data: Any) -> np.ndarray:
    """View the message's byte payload without copying when the container allows it."""
    if isinstance(data, (bytes, bytearray, memoryview, array.array, np.ndarray)):
        return np.frombuffer(data, dtype=np.uint8)
    # A plain list of ints (some hand-built messages): one copy is unavoidable.
    return np.asarray(data, dtype=np.uint8)


def image_msg_to_array(msg: Any) -> tuple[np.ndarray, EncodingInfo]:
    """Return the pixels of a ``sensor_msgs/Image`` in native byte order, shape (H, W, C).

    Validates like the C++ cv_bridge (``step >= width * bpp`` and ``height * step == len(data)``)
    and strips row padding byte-wise before reinterpreting the pixel type, so a ``step`` that is
    not a multiple of the pixel size still reads correctly.
    """
    encoding = str(msg.encoding)
    info = encoding_info(encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"zero-size image ({width}x{height}, encoding '{encoding}')")
    row_bytes = width * info.channels * info.dtype.itemsize
    raw = _buffer(msg.data)
    if step < row_bytes:
        raise ImageConversionError(
            f"image is wrongly formed: step {step} < width*bytes_per_pixel {row_bytes} "
            f"({width}x{height} {encoding})"
        )
    if raw.size != height * step:
        raise ImageConversionError(
            f"image is wrongly formed: height*step = {height}*{step} = {height * step} "
            f"!= len(data) = {raw.size} ({width}x{height} {encoding})"
        )
    if info.kind in ("uyvy", "yuyv") and width % 2:
        raise ImageConversionError(f"{encoding} needs an even width, got {width}")
    rows = raw.reshape(height, step)
    if step != row_bytes:
        rows = rows[:, :row_bytes]
    dtype = info.dtype
    if dtype != _U8:
        # View with the message's byte order, then convert to native order.
        wire = dtype.newbyteorder(">" if msg.is_bigendian else "<")
        if not rows.flags.c_contiguous:
            # Padded rows sliced above: NumPy < 1.23 (Humble's 1.21) views only contiguous
            # arrays as a wider dtype; a copy of the pixel bytes costs less than the conversion.
            rows = np.ascontiguousarray(rows)
        rows = rows.view(wire)
        if wire != dtype:
            rows = rows.astype(dtype)
    pixels = rows.reshape(height, width, info.channels)
    return pixels, info


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Bring any depth onto 0..255 so colour conversion and the tracker see uint8."""
    dtype = pixels.dtype
    if dtype == np.uint8:
        return pixels
    if dtype == np.uint16:
        return cv2.convertScaleAbs(np.ascontiguousarray(pixels), alpha=_SCALE_16_TO_8)
    if dtype.kind == "f":
        # OpenCV's convention for float images is 0..1.
        return np.clip(pixels * 255.0 + 0.5, 0, 255).astype(np.uint8)
    # Signed/wider integers: negatives are clipped, the positive range maps onto 0..255.
    top = float(np.iinfo(dtype).max)
    return np.clip(pixels.astype(np.float64) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)


def array_to_rgb(pixels: np.ndarray, info: EncodingInfo) -> np.ndarray:
    """Convert decoded pixels of a known layout to a C-contiguous HxWx3 uint8 RGB array."""
    kind = info.kind
    if kind in ("uyvy", "yuyv"):
        code = cv2.COLOR_YUV2RGB_UYVY if kind == "uyvy" else cv2.COLOR_YUV2RGB_YUY2
        return cv2.cvtColor(np.ascontiguousarray(pixels), code)
    if kind.startswith("bayer_"):
        mosaic = np.ascontiguousarray(_to_uint8(pixels[:, :, 0]))
        return cv2.cvtColor(mosaic, _BAYER_TO_RGB[kind])
    if kind == "generic":
        # Generic types carry no colour order: OpenCV's own (1 = grey, 3 = BGR, 4 = BGRA).
        kind = {1: "mono", 3: "bgr", 4: "bgra"}.get(info.channels, "")
        if not kind:
            raise ImageConversionError(
                f"a {info.channels}-channel generic image has no colour interpretation "
                "(1, 3 or 4 channels are accepted)"
            )
    img8 = np.ascontiguousarray(_to_uint8(pixels))
    if kind == "rgb":
        return img8
    if kind == "bgr":
        return cv2.cvtColor(img8, cv2.COLOR_BGR2RGB)
    if kind == "rgba":
        return cv2.cvtColor(img8, cv2.COLOR_RGBA2RGB)
    if kind == "bgra":
        return cv2.cvtColor(img8, cv2.COLOR_BGRA2RGB)
    if kind == "mono":
        return cv2.cvtColor(img8, cv2.COLOR_GRAY2RGB)
    raise ImageConversionError(f"no conversion to RGB for layout '{kind}'")  # pragma: no cover


def image_msg_to_rgb(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into the tracker's input: HxWx3 uint8 RGB."""
    pixels, info = image_msg_to_array(msg)
    return array_to_rgb(pixels, info)


def image_msg_to_bgr(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into OpenCV's order (HxWx3 uint8 BGR)."""
    return rgb_to_bgr(image_msg_to_rgb(msg))


def compressed_msg_to_rgb(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (jpeg/png as image_transport writes it).

    ``format`` reads like ``"bgr8; jpeg compressed bgr8"``: whatever the original encoding, the
    compressed payload is what OpenCV decodes (BGR, BGRA or grey, 8 or 16 bit), so the decoded
    layout, not the text, decides the conversion. ``compressedDepth`` (a depth-image transport
    with its own header) is refused by name.
    """
    fmt = str(getattr(msg, "format", ""))
    if "compresseddepth" in fmt.lower().replace(" ", ""):
        raise ImageConversionError(f"compressedDepth images are not supported (format '{fmt}')")
    raw = _buffer(msg.data)
    if raw.size == 0:
        raise ImageConversionError(f"empty compressed image (format '{fmt}')")
    decoded = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if decoded is None or decoded.size == 0:
        raise ImageConversionError(
            f"corrupt compressed image: OpenCV could not decode {raw.size} bytes (format '{fmt}')"
        )
    if decoded.ndim == 2:
        decoded = decoded[:, :, None]
    channels = decoded.shape[2]
    kind = {1: "mono", 3: "bgr", 4: "bgra"}.get(channels)
    if kind is None:
        raise ImageConversionError(f"compressed image decoded to {channels} channels")
    return array_to_rgb(decoded, EncodingInfo(decoded.dtype, channels, kind))


def rgb_to_bgr(rgb: np.ndarray) -> np.ndarray:
    """Swap to OpenCV's channel order as a contiguous copy (drawing needs contiguous memory)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def bgr_to_image_fields(bgr: np.ndarray) -> dict[str, Any]:
    """Return the ``sensor_msgs/Image`` fields for a HxWx3 uint8 BGR array (``bgr8``)."""
    if bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ImageConversionError(
            f"expected HxWx3 uint8 BGR, got shape {bgr.shape} dtype {bgr.dtype}"
        )
    bgr = np.ascontiguousarray(bgr)
    data = array.array("B")
    # One copy straight from the array's memory; rclpy stores uint8[] as array('B').
    data.frombytes(memoryview(bgr).cast("B"))
    height, width = bgr.shape[:2]
    return {
        "height": height,
        "width": width,
        "encoding": "bgr8",
        "is_bigendian": 0,
        "step": width * 3,
        "data": data,
    }


def fill_image_msg(msg: Any, bgr: np.ndarray, header: Any = None) -> Any:
    """Fill a ``sensor_msgs/Image`` (or any object with its fields) from a BGR array."""
    for name, value in bgr_to_image_fields(bgr).items():
        setattr(msg, name, value)
    if header is not None:
        msg.header = header
    return msg
