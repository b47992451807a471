# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""OTB one-pass evaluation of our tracker and its peers (``rtmdnet-eval``).

Modules: ``datasets`` (sequence folders, ground truth), ``metrics`` (OTB success / precision),
``peers`` (one small interface over OpenCV, dlib and our tracker), ``runner`` (decode once, run,
resume), ``report`` (JSON, Markdown, plots) and ``cli``.
"""
