# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The stages of ``make setup`` (run by ``tools/setup_env.py``), one module each.

The package runs under any Python >= 3.8, like the script: it builds the Python 3.11 venv, so it
cannot assume one.
"""
