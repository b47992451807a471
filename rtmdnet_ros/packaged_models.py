# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Where the networks that ship inside the package live: one place for every packaged path.

What a fresh install tracks with is what lies here; the core never looks in a data or
development folder for a network (other networks reach it through options only).
"""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent / "models"
# RT-MDNet's trained network and options (docs/model-card.md).
DEFAULT_MODEL = MODELS_DIR / "default.pt"
# The Siamese network (fine-tuned here; NOTICE and model card beside it).
SIAMESE_DIR = MODELS_DIR / "siamese"
# The packaged backbone's exported graphs sit beside the model (backbone_runtime.py).
BACKBONE_GRAPH_DIR = MODELS_DIR


def siamese_dir(option: str | Path = "") -> Path:
    """Resolve a Siamese-network folder option (``siamese_dir``, ``refiner_dir``).

    "" is the network shipped in the package, never a shared or development folder.
    """
    return Path(option) if str(option) else SIAMESE_DIR
