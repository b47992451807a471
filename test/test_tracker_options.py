# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""A tracker's options are fixed when it is built, layered in the one documented order."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_clip import make_clip  # noqa: E402

from rtmdnet_ros import model_file  # noqa: E402
from rtmdnet_ros.options import (
    UNTRAINED,  # noqa: E402
    TrackerOptions,  # noqa: E402
)
from rtmdnet_ros.packaged_models import DEFAULT_MODEL  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402

# Few samples and iterations: these tests are about which options a tracker gets, not accuracy.
SMALL = {"torch_threads": 1, "init_iterations": 2, "n_neg_init": 200, "n_bbreg": 50,
         "update_iterations": 1}
needs_model = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no packaged model")


def stored_options() -> dict:
    return model_file.load_model(DEFAULT_MODEL, "cpu").tracker_options


def test_options_cannot_be_changed_after_construction():
    t = Tracker(options=TrackerOptions().replace(**SMALL), model=UNTRAINED, device="cpu", seed=0)
    with pytest.raises(AttributeError):
        t.options = t.options.replace(n_candidates=64)
    assert t.overrides == {}


@needs_model
def test_overrides_go_over_the_model_files_own_options():
    stored = stored_options()
    assert stored, "the packaged model stores tracker options"
    t = Tracker(device="cpu", seed=0, overrides={**SMALL, "n_candidates": 64})
    assert t.head_pretrained
    assert t.options == TrackerOptions.from_dict({**stored, **SMALL, "n_candidates": 64})
    assert t.overrides == {**SMALL, "n_candidates": 64}
    # Explicit options are complete: the model file's stored ones do not apply under them.
    explicit = Tracker(options=TrackerOptions(), device="cpu", seed=0, overrides=SMALL)
    assert explicit.options == TrackerOptions().replace(**SMALL)
    with pytest.raises(ValueError, match="unknown TrackerOptions keys"):
        Tracker(device="cpu", seed=0, overrides={"n_candidate": 64})


@needs_model
def test_an_override_of_the_architecture_builds_that_network_untrained():
    t = Tracker(device="cpu", seed=0, overrides={**SMALL, "dense_map": False})
    assert not t.head_pretrained and not t.options.network.dense_map
    # No stored options: the model file's are not used.
    assert t.options == TrackerOptions().replace(**SMALL, dense_map=False)


def test_torch_threads_of_the_options_are_applied_at_construction():
    before = torch.get_num_threads()
    try:
        Tracker(model=UNTRAINED, device="cpu", seed=0, overrides={**SMALL, "torch_threads": 2})
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_overrides_track_exactly_like_the_same_explicit_options():
    """The node's path (overrides at construction) and the explicit one give the same boxes."""
    frames, gt = make_clip(n_frames=6, seed=1)
    changes = {**SMALL, "n_candidates": 128, "long_term_interval": 2}
    boxes = []
    for tracker in (
        Tracker(model=UNTRAINED, device="cpu", seed=5, overrides=changes),
        Tracker(options=TrackerOptions().replace(**changes), model=UNTRAINED, device="cpu",
                seed=5),
    ):
        tracker.init(frames[0], gt[0])
        boxes.append([tracker.update(f).box_xywh for f in frames[1:]])
        assert tracker.options == TrackerOptions().replace(**changes)
    assert np.array_equal(np.array(boxes[0]), np.array(boxes[1]))
