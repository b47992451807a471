# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""``--set KEY=VALUE``: one parser, one meaning, in rtmdnet-eval, rtmdnet-train and the bench."""

import importlib.util

import pytest
from data_paths import REPO_ROOT

from rtmdnet_ros.evaluation import cli as eval_cli
from rtmdnet_ros.options import TrackerOptions, TrainOptions, parse_overrides
from rtmdnet_ros.training import cli as train_cli


def test_values_are_json_python_booleans_or_text():
    got = parse_overrides(["a=1", "b=0.5", "c=true", "d=[1, 2]", "e=vggm", "f=False",
                           " g = None", "h=null", "i=a=b"])
    assert got == {"a": 1, "b": 0.5, "c": True, "d": [1, 2], "e": "vggm", "f": False,
                   "g": None, "h": None, "i": "a=b"}
    for bad in ("novalue", "=3"):
        with pytest.raises(ValueError, match="KEY=VALUE"):
            parse_overrides([bad])


def test_every_tool_uses_the_one_parser():
    assert eval_cli.parse_overrides is parse_overrides
    spec = importlib.util.spec_from_file_location("bench_tracker",
                                                  REPO_ROOT / "bench" / "bench_tracker.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_overrides is parse_overrides


def test_options_take_the_values_typed_and_refuse_the_wrong_type():
    opts = TrackerOptions().with_overrides(parse_overrides(
        ["n_candidates=128", "lr_update=1", "bbreg_accept_area=[1, 2]", "roi_mode=pool",
         "bbox_regression=False"]))
    r = opts.rtmdnet
    assert r.n_candidates == 128 and opts.network.roi_mode == "pool" and not r.bbox_regression
    assert isinstance(r.lr_update, float) and r.bbreg_accept_area == (1.0, 2.0)
    for pair, message in (("n_candidates=abc", "must be an integer"),
                          ("bbox_regression=1", "must be true or false"),
                          ("lr_update=true", "must be a number"),
                          ("n_candidate=3", "unknown TrackerOptions keys")):
        with pytest.raises(ValueError, match=message):
            TrackerOptions().with_overrides(parse_overrides([pair]))


def test_training_set_has_the_same_meaning():
    base = TrainOptions()
    opts = train_cli._apply_overrides(base, ["frames_per_step=2", "lr=1e-5", "roi_mode=pool"])
    assert (opts.frames_per_step, opts.lr, opts.roi_mode) == (2, 1e-5, "pool")
    with pytest.raises(ValueError, match="unknown TrainOptions keys"):
        train_cli._apply_overrides(base, ["nope=1"])
    with pytest.raises(ValueError, match="extra"):
        train_cli._apply_overrides(base, ["extra={}"])
    with pytest.raises(ValueError, match="must be an integer"):
        train_cli._apply_overrides(base, ["seed=1.5"])
