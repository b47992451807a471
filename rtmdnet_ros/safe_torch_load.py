# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Loading torch files that a user names, without running code from them.

A ``.pt``/``.pth`` file is a pickle; loaded with ``weights_only=False`` it may execute anything.
Every file this package reads (models, upstream checkpoints, training checkpoints, caches) holds
only tensors, containers, plain values and NumPy scalars or arrays, so it is loaded with
``weights_only=True`` and those NumPy types allowed by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch


def _numpy_globals() -> list[Any]:
    """Return the NumPy types that scalars and arrays pickle through, under both names.

    A file written under NumPy 1 names ``numpy.core.multiarray``, one written under NumPy 2
    ``numpy._core.multiarray``: both names are allowed for the same objects.
    """
    core = getattr(np, "_core", None) or np.core
    found: list[Any] = [np.ndarray, np.dtype]
    for name in ("scalar", "_reconstruct"):
        obj = getattr(core.multiarray, name)
        found += [(obj, f"numpy.core.multiarray.{name}"), (obj, f"numpy._core.multiarray.{name}")]
    # Each concrete dtype class (numpy.dtypes.Float64DType ...) pickles by name in NumPy >= 1.25.
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        found += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return found


def load(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load`` without code execution; a file that needs more is refused, with why."""
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(str(path), map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling errors have no common base class
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such file") from exc
        why = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: refused: it holds more than weights and plain values, or is "
                         f"not a torch file ({why})") from exc
