# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""TrackerOptions in groups per component, named outside by the same flat keys as before."""

import dataclasses
import json
import subprocess
import sys

import pytest
from data_paths import REPO_ROOT

from rtmdnet_ros.options import (
    BBREG_SOURCES,
    BOX_REFINERS,
    FLAT_KEYS,
    MODES,
    REFERENCE_VALUES,
    ROI_MODES,
    RUNTIMES,
    UPDATE_MODES,
    CompositeOptions,
    TrackerOptions,
)

# TrackerOptions().to_dict() recorded before the options were grouped: what model files, YAML
# and the evaluation's stored runs hold. Keys and values must never change under them.
FLAT_BEFORE = json.loads((REPO_ROOT / "test" / "data" / "tracker_options_flat.json").read_text())


def leaf_paths(options: TrackerOptions) -> set[tuple[str, ...]]:
    out = set()
    for top in dataclasses.fields(options):
        value = getattr(options, top.name)
        if dataclasses.is_dataclass(value):
            out |= {(top.name, f.name) for f in dataclasses.fields(value)}
        else:
            out.add((top.name,))
    return out


def test_every_flat_key_names_exactly_one_option_and_back():
    paths = list(FLAT_KEYS.values())
    assert len(set(paths)) == len(paths) == len(FLAT_KEYS)
    assert set(paths) == leaf_paths(TrackerOptions())
    # Changing one key changes that one field and nothing else.
    base = TrackerOptions().to_dict()
    for key in FLAT_KEYS:
        value = base[key]
        if isinstance(value, bool):
            changed = not value
        elif isinstance(value, float) and 0.0 < value <= 1.0:
            changed = value / 2  # fractions and probabilities stay in range
        elif isinstance(value, (int, float)):
            changed = value + 1
        else:
            continue  # choices and tuples: their own tests
        after = TrackerOptions().replace(**{key: changed}).to_dict()
        assert {k for k in base if after[k] != base[k]} == {key}


# Options added since that record; model files without them get their defaults.
ADDED = {"composite_verify_every", "composite_verify_doubt_prob", "composite_verify_rival_ratio",
         "composite_verify_rival_iou", "composite_verify_max_shift", "composite_verify_max_resize",
         "first_frame", "composite_verify_aside", "composite_presence_prob",
         "composite_redetect_confirm", "composite_redetect_level", "composite_level_frames",
         "composite_level_min_spread", "composite_gone_prob", "composite_resume_prob",
         "composite_resume_after", "composite_resume_level", "composite_resume_cap",
         "release_backbone_memory", "short_term_stale_interval", "composite_witness_spreads",
         "composite_witness_min_spread", "composite_presence_min_size"}


def test_the_flat_dict_is_unchanged_by_the_grouping():
    now = TrackerOptions().to_dict()
    assert set(now) - set(FLAT_BEFORE) == ADDED
    assert {k: now[k] for k in FLAT_BEFORE} == FLAT_BEFORE
    assert TrackerOptions.from_dict(FLAT_BEFORE) == TrackerOptions()
    reference = TrackerOptions.reference().to_dict()
    assert {k: reference[k] for k in REFERENCE_VALUES} == json.loads(
        json.dumps(REFERENCE_VALUES))
    assert {k for k in FLAT_BEFORE if reference[k] != FLAT_BEFORE[k]} <= set(REFERENCE_VALUES)


def test_groups_are_read_by_attribute_and_stay_immutable():
    o = TrackerOptions().replace(composite_peaks=2, box_refiner="auto", recovery_after=4,
                                 runtime="torch", n_candidates=128)
    assert (o.composite.peaks, o.refiner.kind, o.recovery.after) == (2, "auto", 4)
    assert (o.execution.runtime, o.rtmdnet.n_candidates) == ("torch", 128)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.composite.peaks = 5
    # A whole group, or the nested form of a dict, say the same.
    assert o == o.replace(composite=CompositeOptions(peaks=2))
    assert TrackerOptions.from_dict({"composite": {"peaks": 2}}) == \
        TrackerOptions().replace(composite_peaks=2)
    assert o.with_overrides({"composite": {"peaks": 3}}).composite.peaks == 3


def test_unknown_keys_are_named_with_the_key_meant():
    for given, meant in (("peaks", "composite_peaks"), ("n_candidate", "n_candidates"),
                         ("refiner.kind", "box_refiner"), ("composite.peak", None)):
        with pytest.raises(ValueError, match="unknown TrackerOptions keys") as err:
            TrackerOptions.from_dict({given.split(".")[0]: {given.split(".")[1]: 1}}
                                     if given.startswith("composite.") else {given: 1})
        assert given in str(err.value)
        assert meant is None or f"did you mean {meant}?" in str(err.value)
    with pytest.raises(ValueError, match="unknown TrackerOptions keys: nope"):
        TrackerOptions().replace(nope=1)
    assert TrackerOptions.from_dict({"nope": 1}, strict=False) == TrackerOptions()


@pytest.mark.parametrize("key, allowed", [
    ("mode", MODES), ("update_mode", UPDATE_MODES), ("runtime", RUNTIMES),
    ("roi_mode", ROI_MODES), ("box_refiner", BOX_REFINERS), ("bbreg_source", BBREG_SOURCES)])
def test_choices_are_checked_against_their_one_tuple(key, allowed):
    for value in allowed:
        assert TrackerOptions().replace(**{key: value}).to_dict()[key] == value
    with pytest.raises(ValueError) as err:
        TrackerOptions.from_dict({key: "fancy"})
    assert str(err.value).startswith(f"{key} must be ")
    assert all(value in str(err.value) for value in allowed)


def test_the_options_import_no_torch():
    """The evaluation of the peers alone, and the node's parameter table, never load torch."""
    code = "import sys, rtmdnet_ros.options; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
