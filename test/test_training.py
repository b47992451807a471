# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Offline pretraining: losses on hand-computed cases, real short runs, resume, the shipped model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rtmdnet_ros.training.data import EVAL_SEQUENCES, load_domains
from rtmdnet_ros.training.losses import (
    binary_loss,
    instance_loss,
    pick_instance_branches,
    step_accuracy,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "rtmdnet_ros" / "models" / "default.pt"


# --------------------------------------------------------------------------- losses, by hand
def test_instance_loss_hand_computed():
    # One positive, own branch scores 2, two other branches score 0:
    # -log(e^2 / (e^2 + 1 + 1)) = log(1 + 2 e^-2) = 0.23954...
    scores = torch.tensor([[2.0, 0.0, 0.0]])
    expected = math.log(1.0 + 2.0 * math.exp(-2.0))
    assert instance_loss(scores, 0).item() == pytest.approx(expected, abs=1e-6)
    # A second positive whose own branch loses (scores 0 vs 1, 1): -log(1/(1+2e)) = log(1+2e).
    scores2 = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    expected2 = (expected + math.log(1.0 + 2.0 * math.e)) / 2.0
    assert instance_loss(scores2, 0).item() == pytest.approx(expected2, abs=1e-6)
    # The own column does not have to be the first one.
    assert instance_loss(scores[:, [1, 0, 2]], 1).item() == pytest.approx(expected, abs=1e-6)


def test_instance_loss_gradient_pushes_own_branch_up():
    scores = torch.tensor([[0.5, 0.5, 0.5]], requires_grad=True)
    instance_loss(scores, 0).backward()
    # d/ds_own = p_own - 1 = 1/3 - 1 ; d/ds_other = p_other = 1/3
    assert scores.grad[0].tolist() == pytest.approx([-2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0])


def test_binary_loss_hand_computed():
    pos = torch.tensor([[0.0, 0.0]])  # -log(0.5)
    neg = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # -log(e/(e+1)), -log(0.5)
    expected = (2 * math.log(2.0) + math.log((math.e + 1) / math.e)) / 3.0
    assert binary_loss(pos, neg).item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError):
        binary_loss(torch.zeros(2, 3), neg)


def test_pick_branches_and_accuracy():
    rng = np.random.default_rng(0)
    assert pick_instance_branches(2, 4, 100, rng) == [2, 0, 1, 3]
    picked = pick_instance_branches(5, 300, 100, rng)
    assert picked[0] == 5 and len(picked) == 101 and len(set(picked)) == 101
    acc = step_accuracy(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
    assert acc == {"pos_acc": 0.5, "neg_acc": 1.0, "acc": pytest.approx(2.0 / 3.0)}


# --------------------------------------------------------------------------- data split
def test_evaluation_sequences_are_refused():
    for name in EVAL_SEQUENCES:
        with pytest.raises(ValueError, match="evaluation-split"):
            load_domains(["Diving", name])
