# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The two pretraining losses of RT-MDNet (paper eq. 1-5) and the per-step accuracy figures.

Binary loss: does this box hold the target of *this* video (own fc6 branch)?
Instance embedding loss: for a positive box, the own domain's positive score must win a softmax
over the positive scores of all domains' branches, so targets of different videos are pushed
apart in the shared embedding (fc4/fc5) even when each looks like "an object" to its own branch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def binary_loss(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> torch.Tensor:
    """Two-class cross entropy over positives (class 1) and negatives (class 0), one mean.

    The mean is taken over all samples together, not per class, as in the reference
    (section 6): with 64 positives and 196 negatives the negatives weigh three times more.
    """
    if pos_logits.ndim != 2 or pos_logits.shape[1] != 2:
        raise ValueError(f"pos_logits must be (N, 2), got {tuple(pos_logits.shape)}")
    if neg_logits.ndim != 2 or neg_logits.shape[1] != 2:
        raise ValueError(f"neg_logits must be (N, 2), got {tuple(neg_logits.shape)}")
    count = pos_logits.shape[0] + neg_logits.shape[0]
    if count == 0:
        raise ValueError("binary_loss needs at least one sample")
    pos_term = -F.log_softmax(pos_logits, dim=1)[:, 1].sum()
    neg_term = -F.log_softmax(neg_logits, dim=1)[:, 0].sum()
    return (pos_term + neg_term) / count


def instance_loss(pos_scores: torch.Tensor, own_column: int = 0) -> torch.Tensor:
    """Instance embedding loss (paper eq. 5) for a batch of positives.

    pos_scores: (P, D) -- the positive-class logit (fc6 column 1) of each positive sample under
    D domain branches (the own branch and a subset of others). The softmax runs over the D
    domains; the target is the own branch, `own_column`. Mean over positives.
    """
    if pos_scores.ndim != 2 or pos_scores.shape[1] < 1:
        raise ValueError(f"pos_scores must be (P, D) with D >= 1, got {tuple(pos_scores.shape)}")
    if not 0 <= own_column < pos_scores.shape[1]:
        raise ValueError(f"own_column {own_column} outside 0..{pos_scores.shape[1] - 1}")
    target = torch.full(
        (pos_scores.shape[0],), own_column, dtype=torch.long, device=pos_scores.device
    )
    return F.cross_entropy(pos_scores, target)


def pick_instance_branches(
    own: int, num_domains: int, max_others: int, rng: np.random.Generator
) -> list[int]:
    """Own branch first, then up to `max_others` other branches drawn without replacement.

    The authors' code limits the softmax to 100 random domains to bound the cost with thousands
    of videos; with fewer domains this is simply all of them.
    """
    others = [d for d in range(num_domains) if d != own]
    if max_others < len(others):
        others = [others[i] for i in sorted(rng.choice(len(others), max_others, replace=False))]
    return [own, *others]


def step_accuracy(pos_logits: torch.Tensor, neg_logits: torch.Tensor) -> dict[str, float]:
    """Fraction of positives scored positive, negatives scored negative, and both together."""
    with torch.no_grad():
        pos_ok = (pos_logits[:, 1] > pos_logits[:, 0]).float()
        neg_ok = (neg_logits[:, 0] >= neg_logits[:, 1]).float()
        both = torch.cat([pos_ok, neg_ok])
        return {
            "pos_acc": float(pos_ok.mean()) if len(pos_ok) else float("nan"),
            "neg_acc": float(neg_ok.mean()) if len(neg_ok) else float("nan"),
            "acc": float(both.mean()) if len(both) else float("nan"),
        }
