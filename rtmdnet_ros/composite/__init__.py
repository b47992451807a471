# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The composite tracker's parts (LTMU/MBMD's split), each with one job.

``proposer``: NanoTrack v3's Siamese network as a tracker with its own state, reporting its top
peaks. ``verifier``: RT-MDNet's online classifier scoring those boxes. ``rule``: the one
TRACKING/LOST decision per frame. ``gate``: whether a frame is safe to learn from.
``redetect``: the whole-frame search after a loss. ``policy`` composes them for ``Tracker``.
"""
