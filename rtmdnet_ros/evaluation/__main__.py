# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Allow ``python -m rtmdnet_ros.evaluation`` as an alias of ``rtmdnet-eval``."""

import sys

from rtmdnet_ros.evaluation.cli import main

sys.exit(main())
