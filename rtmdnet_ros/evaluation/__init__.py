# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""OTB one-pass and long-term evaluation of our tracker and its peers (``rtmdnet-eval``).

Modules: ``datasets`` (sequence folders, ground truth), ``metrics`` (OTB success / precision,
long-term precision / recall / F), ``peers`` (one small interface over OpenCV, dlib and our
tracker), ``runner`` (decode once, run, resume), ``report`` (JSON, Markdown, plots),
``longterm`` (the scene-cut recipe), ``longterm_report`` (its page) and ``cli``.
"""
