# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""SiameseRefiner on the real NanoTrack v3 ONNX files and real frames.

Skipped with the reason when ../shared is absent; under CI=true its absence fails (data_paths).
"""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from data_paths import nanotrack_v3_dir as model_dir
from data_paths import sequence_dir

from rtmdnet_ros import siamese_refiner as sr
from rtmdnet_ros.packaged_models import SIAMESE_DIR
from rtmdnet_ros.sequences import read_groundtruth
from rtmdnet_ros.siamese_refiner import RefinerSettings, SiameseRefiner


@pytest.fixture(scope="module")
def refiner() -> SiameseRefiner:
    cv2.setNumThreads(2)
    return SiameseRefiner(model_dir())


def frame(seq: Path, index: int) -> np.ndarray:
    image = cv2.imread(str(seq / "img" / f"{index + 1:04d}.jpg"), cv2.IMREAD_COLOR)
    assert image is not None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def perturbed_cases(name: str, rng: np.random.Generator, frames: int = 6, per_frame: int = 4):
    """(image, truth, perturbed box) triples: shifts +-20 % of size, sides scaled 0.7-1.4x."""
    seq = sequence_dir(name)
    truth = read_groundtruth(seq)
    picks = np.linspace(10, len(truth) - 1, frames).astype(int)
    for k in picks:
        if not np.all(np.isfinite(truth[k])):
            continue
        image, (x, y, w, h) = frame(seq, k), truth[k]
        for _ in range(per_frame):
            cx = x + w / 2 + rng.uniform(-0.2, 0.2) * w
            cy = y + h / 2 + rng.uniform(-0.2, 0.2) * h
            nw, nh = w * rng.uniform(0.7, 1.4), h * rng.uniform(0.7, 1.4)
            yield image, truth[k], np.array([cx - nw / 2, cy - nh / 2, nw, nh])


def set_first_template(refiner: SiameseRefiner, name: str) -> None:
    seq = sequence_dir(name)
    refiner.set_template(frame(seq, 0), read_groundtruth(seq)[0])


def test_constants_match_upstream_config():
    config = yaml.safe_load((model_dir() / "configv3.yaml").read_text())
    track = config["TRACK"]
    assert track["WINDOW_INFLUENCE"] == sr.WINDOW_INFLUENCE
    assert track["PENALTY_K"] == sr.PENALTY_K
    assert track["LR"] == sr.LR
    assert track["OUTPUT_SIZE"] == sr.SCORE_SIZE
    assert track["EXEMPLAR_SIZE"] == sr.EXEMPLAR_SIZE
    assert track["INSTANCE_SIZE"] == sr.INSTANCE_SIZE
    assert track["CONTEXT_AMOUNT"] == sr.CONTEXT_AMOUNT
    assert config["POINT"]["STRIDE"] == sr.STRIDE


def test_decode_peaks_at_the_target_and_matches_its_size(refiner):
    # Search crop centred on the true box: the best cell is the middle one (or a neighbour) and
    # its decoded box overlaps the truth well; a wrong channel, axis or unit would not.
    set_first_template(refiner, "boat1")
    seq = sequence_dir("boat1")
    truth = read_groundtruth(seq)[20]
    prob, boxes, _ = refiner.score_maps(frame(seq, 20), truth)
    i, j = np.unravel_index(prob.argmax(), prob.shape)
    assert abs(i - 7) <= 1 and abs(j - 7) <= 1 and prob[i, j] > 0.9
    cx, cy, w, h = boxes[:, i, j]
    assert iou(np.array([cx - w / 2, cy - h / 2, w, h]), truth) > 0.7


@pytest.mark.parametrize("name", ["car1", "boat1", "person11"])
def test_refine_improves_perturbed_boxes_and_stays_local(refiner, name):
    set_first_template(refiner, name)
    rng = np.random.default_rng(1)
    before, after = [], []
    max_shift = refiner.settings.max_shift
    for image, truth, start in perturbed_cases(name, rng):
        box, score, details = refiner.refine(image, start)
        before.append(iou(start, truth))
        after.append(iou(box, truth))
        shift = (box[:2] + box[2:] / 2) - (start[:2] + start[2:] / 2)
        assert np.hypot(*(shift / (max_shift * start[2:]))) <= 1 + 1e-9
        assert 0.0 <= score <= 1.0 and details["eligible"] >= 1
    assert np.mean(after) > np.mean(before) + 0.05, (np.mean(before), np.mean(after))


def test_refine_never_moves_beyond_a_tight_radius():
    # With max_shift 0.05 the perturbations (up to 0.2) are mostly out of reach: the box may
    # only move a little, whatever the head says.
    tight = SiameseRefiner(model_dir(), RefinerSettings(max_shift=0.05, min_score=0.0))
    set_first_template(tight, "car1")
    rng = np.random.default_rng(2)
    moved = 0
    for image, _, start in perturbed_cases("car1", rng, frames=4, per_frame=3):
        box, _, details = tight.refine(image, start)
        shift = (box[:2] + box[2:] / 2) - (start[:2] + start[2:] / 2)
        assert np.hypot(*(shift / (0.05 * start[2:]))) <= 1 + 1e-9
        moved += details["accepted"]
    assert moved > 0  # eligible cells exist even in a tight radius: the rule is not vacuous


@pytest.mark.parametrize("name,index", [("car1", 40), ("person11", 5)])
def test_target_replaced_by_noise_returns_input_unchanged(refiner, name, index):
    set_first_template(refiner, name)
    seq = sequence_dir(name)
    image, truth = frame(seq, index), read_groundtruth(seq)[index]
    clean_box, clean_score, clean = refiner.refine(image, truth)
    assert clean["accepted"] and clean_score > refiner.settings.min_score
    x, y, w, h = truth
    x0, y0 = int(max(0, x - w / 2)), int(max(0, y - h / 2))
    x1, y1 = int(x + 1.5 * w) + 1, int(y + 1.5 * h) + 1
    noisy = image.copy()
    region = noisy[y0:y1, x0:x1]
    region[:] = np.random.default_rng(3).integers(0, 256, region.shape, dtype=np.uint8)
    box, score, details = refiner.refine(noisy, truth)
    assert not details["accepted"] and score <= refiner.settings.min_score
    np.testing.assert_array_equal(box, truth)


def test_missing_and_corrupt_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=sr.BACKBONE_FILE):
        SiameseRefiner(tmp_path)
    (tmp_path / sr.BACKBONE_FILE).write_bytes(b"not an onnx file")
    (tmp_path / sr.HEAD_FILE).write_bytes(b"not an onnx file")
    with pytest.raises(ValueError, match=sr.BACKBONE_FILE):
        SiameseRefiner(tmp_path)
    # A valid ONNX file in the wrong role (the backbone given as the head) is caught at load.
    shutil.copy(model_dir() / sr.BACKBONE_FILE, tmp_path / sr.BACKBONE_FILE)
    shutil.copy(model_dir() / sr.BACKBONE_FILE, tmp_path / sr.HEAD_FILE)
    with pytest.raises(ValueError, match=sr.HEAD_FILE):
        SiameseRefiner(tmp_path)


def test_default_dir_is_the_shipped_network(monkeypatch, tmp_path):
    """"" is the package's own network wherever the data is; no environment moves it."""
    monkeypatch.setenv("RTMDNET_DATA", str(tmp_path / "no_data"))
    monkeypatch.setenv("RTMDNET_NANOTRACK_V3_DIR", str(tmp_path / "no_models"))
    assert sr.siamese_dir("") == SIAMESE_DIR
    assert (SIAMESE_DIR / sr.BACKBONE_FILE).is_file()
    assert SiameseRefiner().backbone_path.parent == SIAMESE_DIR
    assert sr.siamese_dir(str(tmp_path)) == tmp_path
    with pytest.raises(FileNotFoundError, match="refiner_dir"):
        SiameseRefiner(tmp_path)


def test_bad_inputs(refiner):
    fresh = SiameseRefiner(model_dir())
    image = np.zeros((120, 160, 3), np.uint8)
    with pytest.raises(RuntimeError, match="set_template"):
        fresh.refine(image, (10, 10, 20, 20))
    with pytest.raises(ValueError, match="uint8"):
        refiner.set_template(image.astype(np.float32), (10, 10, 20, 20))
    with pytest.raises(ValueError, match="HxWx3"):
        refiner.set_template(image[:, :, 0], (10, 10, 20, 20))
    with pytest.raises(ValueError, match="HxWx3"):
        refiner.set_template(np.zeros((120, 160, 4), np.uint8), (10, 10, 20, 20))
    with pytest.raises(ValueError, match="numpy array"):
        refiner.set_template([[1, 2, 3]], (10, 10, 20, 20))
    for box in [(10, 10, 0, 20), (10, 10, 20), (np.nan, 10, 20, 20)]:
        with pytest.raises(ValueError, match="box"):
            refiner.set_template(image, box)
    refiner.set_template(image, (10, 10, 20, 20))
    with pytest.raises(ValueError, match="uint8"):
        refiner.refine(image.astype(np.float64), (10, 10, 20, 20))
    with pytest.raises(ValueError, match="max_shift"):
        RefinerSettings(max_shift=-1.0)
