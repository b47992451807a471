# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""One ground-truth reader and one data root for evaluation and training (sequences.py)."""

import json

import cv2
import numpy as np
import pytest

from rtmdnet_ros import sequences
from rtmdnet_ros.evaluation.datasets import resolve_data_dir
from rtmdnet_ros.sequences import load_sequence
from rtmdnet_ros.training.data import load_domain, load_domains


def write_sequence(folder, lines, size=(40, 60)):
    """A sequence folder with one grey frame per ground-truth line."""
    (folder / "img").mkdir(parents=True)
    for i in range(len(lines)):
        cv2.imwrite(str(folder / "img" / f"{i + 1:04d}.jpg"), np.full(size + (3,), 90, np.uint8))
    (folder / "groundtruth_rect.txt").write_text("\n".join(lines) + "\n")
    return folder


LINES = ["10,5,20,10", "NaN,NaN,NaN,NaN", "30,5,50,25,30,45,10,25", "12\t6\t20\t10"]


def test_evaluation_and_training_read_the_same_boxes(tmp_path):
    folder = write_sequence(tmp_path / "mixed", LINES)
    gt = load_sequence(folder).groundtruth
    assert gt[0].tolist() == [10, 5, 20, 10]
    assert np.isnan(gt[1]).all()  # target absent: kept, the metrics skip it
    assert gt[2].tolist() == [10, 5, 40, 40]  # polygon -> its axis-aligned box
    domain = load_domain(folder)  # training: the same boxes, the absent frame dropped
    assert [f.name for f in domain.frames] == ["0001.jpg", "0003.jpg", "0004.jpg"]
    assert np.array_equal(domain.boxes, gt[[0, 2, 3]])


def test_otb_boxes_are_shifted_for_training_only(tmp_path):
    root = tmp_path / "data" / "sequences"
    write_sequence(root / "one_based", ["10,5,20,10", "11,6,20,10"])
    (root / "sequences.json").write_text(
        json.dumps({"one_based": {"original_annotation": "otb"}})
    )
    assert sequences.annotation_kinds(root) == {"one_based": "otb"}
    (domain,) = load_domains(["one_based"], data_root=tmp_path / "data")
    assert domain.boxes.tolist() == [[9, 4, 20, 10], [10, 5, 20, 10]]
    assert load_sequence(root / "one_based").groundtruth[0].tolist() == [10, 5, 20, 10]
    boxes = np.array([[1.0, 2.0, 3.0, 4.0]])
    assert sequences.pixel_boxes(boxes, "uav") is boxes


def test_bad_lines_name_file_and_line(tmp_path):
    folder = write_sequence(tmp_path / "bad", ["1,2,3,4", "1,2,3"])
    for load in (load_sequence, load_domain):
        with pytest.raises(sequences.DatasetError, match=r"groundtruth_rect.txt:2: expected 4"):
            load(folder)
    with pytest.raises(sequences.DatasetError, match="not a number"):
        sequences.parse_groundtruth("1,2,x,4")
    with pytest.raises(sequences.DatasetError, match="no boxes"):
        sequences.parse_groundtruth("\n\n")
    with pytest.raises(sequences.DatasetError, match="ground truth not found"):
        sequences.read_groundtruth(tmp_path)


def test_one_default_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("RTMDNET_DATA", str(tmp_path))
    assert sequences.default_data_root() == tmp_path
    write_sequence(tmp_path / "sequences" / "seq", ["1,2,3,4"])
    assert resolve_data_dir(None) == tmp_path / "sequences"
    assert len(load_domains(["seq"])) == 1
    monkeypatch.delenv("RTMDNET_DATA")
    assert sequences.default_data_root().parts[-2:] == ("shared", "data")


def test_image_files_take_numbers_as_numbers(tmp_path):
    """A camera's unpadded numbering stays in frame order; other files are not frames."""
    names = ["frame_10.png", "frame_2.JPG", "frame_1.jpeg", "notes.txt", "frame_9.png"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in sequences.image_files(tmp_path)] == [
        "frame_1.jpeg", "frame_2.JPG", "frame_9.png", "frame_10.png"]
    padded = tmp_path / "padded"
    write_sequence(padded, ["1,1,5,5"] * 12)
    assert [p.name for p in load_sequence(padded).frame_paths] == [
        f"{i:04d}.jpg" for i in range(1, 13)]
