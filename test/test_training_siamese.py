# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Fine-tuning NanoTrack v3 (rtmdnet_ros/training/siamese*.py) on real frames, a few steps.

Needs ../shared (training frames, upstream weights): skipped with the reason when absent,
failing under CI=true (data_paths).
"""

import numpy as np
import pytest
import torch
from data_paths import nanotrack_v3_dir, sequences_dir

from rtmdnet_ros import siamese_net
from rtmdnet_ros.training import siamese as ts
from rtmdnet_ros.training.data import Domain, load_domains
from rtmdnet_ros.training.siamese_data import (
    PairOptions,
    build_canvases,
    cell_labels,
    sample_pair,
    validation_pairs,
)

PAIRS = PairOptions(val_pairs_per_sequence=4, val_fraction=0.3)


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    torch.set_num_threads(1)
    root = sequences_dir().parent
    cache = tmp_path_factory.mktemp("canvas")
    out = []
    for d in load_domains(["car1", "person11"], root):
        small = Domain(d.name, d.frames[:10], d.boxes[:10])
        out.append(build_canvases(small, PAIRS.canvas, cache))
    return out


@pytest.fixture(scope="module")
def upstream_path():
    return nanotrack_v3_dir() / siamese_net.UPSTREAM_CHECKPOINT


def test_development_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="refusing"):
        ts.load_canvas_sets(["car1", "Human3"], sequences_dir().parent, tmp_path, PAIRS)


def test_labels_put_the_target_on_the_centre_cell():
    box = np.array([127 - 32, 127 - 20, 127 + 32, 127 + 20], float)  # 64 x 40 at the centre
    labels, ltrb = cell_labels(box, True)
    assert labels[7, 7] == 1 and labels[0, 0] == 0
    np.testing.assert_allclose(ltrb[:, 7, 7], [32, 20, 32, 20])
    assert (cell_labels(box, False)[0] == 0).all()  # a negative pair: every cell background
    # A small target (8 px) off the grid still gets its nearest cell as a positive.
    small = np.array([127 + 16 - 4, 127 - 4, 127 + 16 + 4, 127 + 4], float)
    labels, _ = cell_labels(small, True)
    assert labels[7, 8] == 1 and (labels == 1).sum() == 1


def test_ltrb_iou_loss_is_zero_for_a_perfect_box():
    t = torch.tensor([[10.0, 5.0, 20.0, 8.0]])
    assert float(ts.iou_ltrb(t, t)) == pytest.approx(1.0)
    assert float(ts.iou_ltrb(t * 2, t)) == pytest.approx(0.25)


def test_pair_geometry_agrees_with_the_upstream_network(sets, upstream_path):
    # Held-out pairs cut from the canvases: upstream's network finds the labelled box there.
    # A wrong crop centre, scale or label convention would give a low IoU.
    pairs = validation_pairs(sets, PAIRS)
    result = ts.evaluate_pairs(siamese_net.load_upstream(upstream_path), pairs)
    assert result["pairs"] == 8
    assert result["iou"] > 0.6 and result["centre_hit"] >= 0.75


def test_pairs_are_deterministic_and_augmented(sets):
    a = sample_pair(sets, PAIRS, np.random.default_rng([3, 1]))
    b = sample_pair(sets, PAIRS, np.random.default_rng([3, 1]))
    assert np.array_equal(a.search, b.search) and np.array_equal(a.box, b.box)
    assert a.template.shape == (127, 127, 3) and a.search.shape == (255, 255, 3)


def test_a_few_steps_train_checkpoint_and_resume_identically(sets, upstream_path, tmp_path):
    opts = ts.SiameseTrainOptions(steps=2, batch=2, warmup_steps=1, lr=1e-3)

    def trainer(out):
        net = siamese_net.load_upstream(upstream_path)
        return ts.SiameseTrainer(net, sets, out, opts, PAIRS, {"test": True},
                                 checkpoint_every=1, log_every=1)

    straight = trainer(tmp_path / "a")
    best = straight.train()
    assert (tmp_path / "a" / ts.CHECKPOINT).is_file() and (tmp_path / "a" / ts.BEST).is_file()
    assert best["step"] in (0, 1, 2) and np.isfinite(best["val"]["iou"])
    upstream = siamese_net.load_upstream(upstream_path).state_dict()
    after = straight.net.state_dict()
    changed = [k for k in after if not torch.equal(after[k], upstream[k])]
    assert changed and all(k.startswith(("ban_head.", "backbone.features.7",
                                         "backbone.features.8", "backbone.features.9"))
                           for k in changed)  # frozen blocks stay upstream's

    first = trainer(tmp_path / "b")
    first.opts = ts.SiameseTrainOptions(steps=1, batch=2, warmup_steps=1, lr=1e-3)
    first.train()
    resumed = trainer(tmp_path / "b")
    assert resumed.load(tmp_path / "b" / ts.CHECKPOINT) == 1
    resumed.train()
    for k, v in resumed.net.state_dict().items():
        assert torch.equal(v, after[k]), k
