# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Offline multi-domain pretraining (`rtmdnet-train`): data, losses, the training loop, the CLI."""
