# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""User-given torch files are read without running code from them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rtmdnet_ros import safe_torch_load, siamese_net

TOUCHED = []


def _touch(flag: str) -> None:
    TOUCHED.append(flag)


class Payload:
    """Unpickling this calls ``_touch``: what a hostile checkpoint would do."""

    def __reduce__(self):
        return (_touch, ("ran",))


def test_a_file_that_runs_code_when_unpickled_is_refused(tmp_path):
    path = tmp_path / "hostile.pth"
    torch.save({"state_dict": {}, "x": Payload()}, path)
    with pytest.raises(ValueError, match="refused"):
        safe_torch_load.load(path)
    with pytest.raises(ValueError, match="refused"):
        siamese_net.load_state(path)
    assert TOUCHED == []


def test_weights_with_numpy_values_load(tmp_path):
    """Upstream checkpoints and training checkpoints carry NumPy scalars and arrays."""
    path = tmp_path / "ok.pth"
    rng = np.random.default_rng(0)
    torch.save({"w": torch.ones(2), "epoch": np.int64(3), "acc": np.float32(0.5),
                "arr": np.arange(3.0), "rng": rng.bit_generator.state}, path)
    data = safe_torch_load.load(path)
    assert data["epoch"] == 3 and float(data["acc"]) == 0.5
    np.testing.assert_array_equal(data["arr"], np.arange(3.0))
    assert torch.equal(data["w"], torch.ones(2))
    restored = np.random.default_rng()
    restored.bit_generator.state = data["rng"]
    assert restored.integers(1 << 30) == np.random.default_rng(0).integers(1 << 30)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        safe_torch_load.load(tmp_path / "absent.pth")
