# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Image message <-> NumPy conversion, checked against independently built pixel data."""

from __future__ import annotations

import array
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from rtmdnet_ros.ros_io.image_conversion import (
    ImageConversionError,
    bgr_to_image_fields,
    compressed_msg_to_rgb,
    encoding_info,
    fill_image_msg,
    image_msg_to_array,
    image_msg_to_bgr,
    image_msg_to_rgb,
)

RNG = np.random.default_rng(1234)


def make_msg(pixels: np.ndarray, encoding: str, *, pad: int = 0, bigendian: bool = False,
             as_bytes: bool = False) -> SimpleNamespace:
    """Build an Image-like message the way a driver would (pixels HxWxC, optional row padding)."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    h, w = pixels.shape[:2]
    dtype = pixels.dtype.newbyteorder(">" if bigendian else "<")
    row = pixels.astype(dtype).reshape(h, -1).view(np.uint8)
    row_bytes = row.shape[1]
    padded = np.zeros((h, row_bytes + pad), np.uint8)
    padded[:, :row_bytes] = row
    padded[:, row_bytes:] = 0xAB  # garbage in the padding must never show up
    data = padded.tobytes() if as_bytes else array.array("B", padded.tobytes())
    return SimpleNamespace(height=h, width=w, encoding=encoding, is_bigendian=int(bigendian),
                           step=row_bytes + pad, data=data)


def rgb_image(h: int = 6, w: int = 8) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_rgb8_and_bgr8_give_rgb_order():
    rgb = rgb_image()
    assert np.array_equal(image_msg_to_rgb(make_msg(rgb, "rgb8")), rgb)
    assert np.array_equal(image_msg_to_rgb(make_msg(rgb[:, :, ::-1].copy(), "bgr8")), rgb)
    assert np.array_equal(image_msg_to_bgr(make_msg(rgb, "rgb8")), rgb[:, :, ::-1])
    # A pure red pixel stays red: colour order is the classic bug.
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    out = image_msg_to_rgb(make_msg(red[:, :, ::-1].copy(), "bgr8"))
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out.flags["C_CONTIGUOUS"] and out.dtype == np.uint8


@pytest.mark.parametrize("pad", [1, 3, 5, 64])
@pytest.mark.parametrize("encoding,dtype,channels", [
    ("rgb8", np.uint8, 3), ("rgb16", np.uint16, 3), ("mono16", np.uint16, 1),
    ("rgba16", np.uint16, 4), ("32FC1", np.float32, 1), ("64FC3", np.float64, 3),
])
def test_row_padding_not_a_multiple_of_pixel_size(pad, encoding, dtype, channels):
    h, w = 5, 7
    if np.dtype(dtype).kind == "f":
        pixels = RNG.random((h, w, channels)).astype(dtype)
    else:
        pixels = RNG.integers(0, np.iinfo(dtype).max, size=(h, w, channels)).astype(dtype)
    msg = make_msg(pixels, encoding, pad=pad)
    decoded, info = image_msg_to_array(msg)
    assert info.channels == channels
    assert decoded.shape == (h, w, channels)
    assert np.array_equal(decoded, pixels)


@pytest.mark.parametrize("encoding", ["rgb16", "mono16", "bgra16", "16UC3"])
def test_big_endian_reads_same_values(encoding):
    info = encoding_info(encoding)
    pixels = RNG.integers(0, 65535, size=(4, 6, info.channels)).astype(np.uint16)
    little, _ = image_msg_to_array(make_msg(pixels, encoding))
    big, _ = image_msg_to_array(make_msg(pixels, encoding, bigendian=True, pad=3))
    assert np.array_equal(little, pixels)
    assert np.array_equal(big, pixels)
    assert big.dtype.isnative


def test_16_bit_scales_by_255_over_65535():
    rgb16 = np.array([[[0, 65535, 257 * 100], [32768, 1000, 65000]]], np.uint16)
    out = image_msg_to_rgb(make_msg(rgb16, "rgb16"))
    expected = np.round(rgb16.astype(np.float64) * 255 / 65535).astype(np.uint8)
    assert np.array_equal(out, expected)
    bgr16 = rgb16[:, :, ::-1].copy()
    assert np.array_equal(image_msg_to_rgb(make_msg(bgr16, "bgr16")), expected)


def test_mono_and_alpha_encodings():
    grey = RNG.integers(0, 256, size=(3, 4), dtype=np.uint8)
    out = image_msg_to_rgb(make_msg(grey, "mono8"))
    assert out.shape == (3, 4, 3) and all(np.array_equal(out[:, :, c], grey) for c in range(3))
    grey16 = grey.astype(np.uint16) * 257
    assert np.array_equal(image_msg_to_rgb(make_msg(grey16, "mono16"))[:, :, 1], grey)
    rgb = rgb_image()
    alpha = RNG.integers(0, 256, size=rgb.shape[:2] + (1,), dtype=np.uint8)
    rgba = np.concatenate([rgb, alpha], axis=2)
    bgra = np.concatenate([rgb[:, :, ::-1], alpha], axis=2)
    assert np.array_equal(image_msg_to_rgb(make_msg(rgba, "rgba8")), rgb)
    assert np.array_equal(image_msg_to_rgb(make_msg(bgra, "bgra8")), rgb)
    assert np.array_equal(image_msg_to_rgb(make_msg(rgba.astype(np.uint16) * 257, "rgba16")), rgb)
    assert np.array_equal(image_msg_to_rgb(make_msg(bgra.astype(np.uint16) * 257, "bgra16")), rgb)


def test_generic_encodings():
    rgb = rgb_image()
    assert np.array_equal(image_msg_to_rgb(make_msg(rgb[:, :, ::-1].copy(), "8UC3")), rgb)
    grey = RNG.integers(0, 256, size=(3, 4), dtype=np.uint8)
    assert np.array_equal(image_msg_to_rgb(make_msg(grey, "8UC1"))[:, :, 2], grey)
    floats = np.array([[0.0, 0.5, 1.0, 2.0]], np.float32)
    assert image_msg_to_rgb(make_msg(floats, "32FC1"))[0, :, 0].tolist() == [0, 128, 255, 255]
    signed = np.array([[-5, 0, 32767]], np.int16)
    assert image_msg_to_rgb(make_msg(signed, "16SC1"))[0, :, 0].tolist() == [0, 0, 255]
    with pytest.raises(ImageConversionError, match="2-channel generic"):
        image_msg_to_rgb(make_msg(np.zeros((2, 2, 2), np.uint8), "8UC2"))


def bayer_mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Sample an RGB image through a colour filter named like ROS (top-left 2x2 block)."""
    index = {"r": 0, "g": 1, "b": 2}
    layout = [[pattern[0], pattern[1]], [pattern[2], pattern[3]]]
    mosaic = np.empty(rgb.shape[:2], rgb.dtype)
    for dy in range(2):
        for dx in range(2):
            mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, index[layout[dy][dx]]]
    return mosaic


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
@pytest.mark.parametrize("bits", [8, 16])
def test_bayer_patterns_recover_colour(pattern, bits):
    # A flat colour: any correct demosaic returns it exactly away from the border.
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[...] = (200, 100, 30)
    mosaic = bayer_mosaic(rgb, pattern)
    if bits == 16:
        mosaic = mosaic.astype(np.uint16) * 257
    out = image_msg_to_rgb(make_msg(mosaic, f"bayer_{pattern}{bits}", pad=2))
    assert out.shape == (12, 16, 3)
    assert np.abs(out[2:-2, 2:-2].astype(int) - (200, 100, 30)).max() <= 1


def pack_yuv422(rgb: np.ndarray, order: str) -> np.ndarray:
    """RGB -> packed 4:2:2 (H, W, 2) in ``order`` (UYVY or YUY2), BT.601 limited range.

    OpenCV >= 4.7 has cv2.COLOR_RGB2YUV_UYVY/_YUY2; the distros' 4.5.4 (Humble) and 4.6 (Jazzy)
    only decode, so the same encoding is written here from the standard's coefficients.
    """
    code = getattr(cv2, f"COLOR_RGB2YUV_{order}", None)
    if code is not None:
        return cv2.cvtColor(rgb, code)
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    u = (u[:, 0::2] + u[:, 1::2]) / 2  # one chroma pair per two pixels
    v = (v[:, 0::2] + v[:, 1::2]) / 2
    chroma = np.empty_like(y)
    chroma[:, 0::2], chroma[:, 1::2] = u, v
    planes = (chroma, y) if order == "UYVY" else (y, chroma)
    return np.clip(np.rint(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("encoding,order", [
    ("yuv422", "UYVY"), ("yuv422_yuy2", "YUY2"), ("uyvy", "UYVY"), ("yuyv", "YUY2"),
])
def test_yuv422_byte_orders(encoding, order):
    rgb = np.zeros((4, 8, 3), np.uint8)
    rgb[:, :4] = (220, 40, 40)
    rgb[:, 4:] = (30, 60, 210)
    packed = pack_yuv422(rgb, order)  # (H, W, 2) in the named byte order
    out = image_msg_to_rgb(make_msg(packed, encoding))
    assert np.abs(out.astype(int) - rgb).max() <= 6
    # Reading UYVY as YUYV (or the reverse) would scramble the colours: the order matters.
    other = "yuv422_yuy2" if encoding in ("yuv422", "uyvy") else "yuv422"
    assert np.abs(image_msg_to_rgb(make_msg(packed, other)).astype(int) - rgb).max() > 30


def test_yuv422_odd_width_is_refused():
    with pytest.raises(ImageConversionError, match="even width"):
        image_msg_to_rgb(make_msg(np.zeros((2, 3, 2), np.uint8), "yuv422"))


def test_unknown_encoding_is_an_error():
    with pytest.raises(ImageConversionError, match="unrecognized encoding 'hsv8'"):
        image_msg_to_rgb(make_msg(rgb_image(), "hsv8"))
    with pytest.raises(ImageConversionError, match="unrecognized encoding"):
        image_msg_to_rgb(make_msg(rgb_image(), ""))


def test_malformed_images_are_rejected_with_a_reason():
    msg = make_msg(rgb_image(4, 5), "rgb8")
    msg.step = 14  # < 5 * 3
    with pytest.raises(ImageConversionError, match="wrongly formed: step 14"):
        image_msg_to_rgb(msg)
    msg = make_msg(rgb_image(4, 5), "rgb8")
    msg.height = 5  # data too short
    with pytest.raises(ImageConversionError, match="wrongly formed: height\\*step"):
        image_msg_to_rgb(msg)
    msg = make_msg(rgb_image(4, 5), "rgb8", as_bytes=True)
    msg.data = msg.data + b"\x00"  # data too long
    with pytest.raises(ImageConversionError, match="len\\(data\\)"):
        image_msg_to_rgb(msg)


def test_zero_size_image_is_rejected():
    msg = SimpleNamespace(height=0, width=0, encoding="rgb8", is_bigendian=0, step=0,
                          data=array.array("B"))
    with pytest.raises(ImageConversionError, match="zero-size"):
        image_msg_to_rgb(msg)


def test_compressed_jpeg_and_png():
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[:, :24] = (250, 10, 10)
    rgb[:, 24:] = (10, 10, 250)
    bgr = rgb[:, :, ::-1]
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    msg = SimpleNamespace(format="bgr8; jpeg compressed bgr8",
                          data=array.array("B", jpeg.tobytes()))
    out = compressed_msg_to_rgb(msg)
    assert out.shape == (32, 48, 3)
    assert np.abs(out[4:-4, 4:20].astype(int) - (250, 10, 10)).max() < 12
    ok, png = cv2.imencode(".png", bgr)
    out = compressed_msg_to_rgb(SimpleNamespace(format="png", data=png.tobytes()))
    assert np.array_equal(out, rgb)
    grey16 = (np.arange(48 * 32, dtype=np.uint16).reshape(32, 48) * 40)
    ok, png16 = cv2.imencode(".png", grey16)
    out = compressed_msg_to_rgb(SimpleNamespace(format="mono16; png compressed mono16",
                                                data=png16.tobytes()))
    expected = np.round(grey16.astype(np.float64) * 255 / 65535).astype(np.uint8)
    assert np.array_equal(out[:, :, 0], expected)


def test_corrupt_compressed_data_is_a_clear_error():
    ok, jpeg = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ImageConversionError, match="corrupt compressed image"):
        compressed_msg_to_rgb(SimpleNamespace(format="jpeg", data=b"not a jpeg at all"))
    with pytest.raises(ImageConversionError, match="corrupt compressed image"):
        compressed_msg_to_rgb(SimpleNamespace(format="jpeg", data=jpeg.tobytes()[:20]))
    with pytest.raises(ImageConversionError, match="empty compressed image"):
        compressed_msg_to_rgb(SimpleNamespace(format="jpeg", data=array.array("B")))
    with pytest.raises(ImageConversionError, match="compressedDepth"):
        compressed_msg_to_rgb(SimpleNamespace(format="16UC1; compressedDepth png", data=b"x"))


def test_bgr_to_image_round_trip():
    bgr = rgb_image(5, 7)[:, :, ::-1]  # non-contiguous view on purpose
    fields = bgr_to_image_fields(bgr)
    assert fields["encoding"] == "bgr8" and fields["step"] == 21
    assert isinstance(fields["data"], array.array) and len(fields["data"]) == 5 * 21
    msg = fill_image_msg(SimpleNamespace(header="hdr"), bgr, header="copied")
    assert msg.header == "copied"
    assert np.array_equal(image_msg_to_bgr(msg), bgr)
    with pytest.raises(ImageConversionError, match="HxWx3 uint8"):
        bgr_to_image_fields(np.zeros((4, 4), np.uint8))
