# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Ground-truth parsing and the clear errors (non-zero exit, sequence named) on bad input."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
from data_paths import REPO_ROOT

from rtmdnet_ros.evaluation import cli
from rtmdnet_ros.sequences import DatasetError, parse_groundtruth


def test_parse_comma_whitespace_tab_and_blank_lines():
    text = "1,2,3,4\n5 6  7 8\n9\t10\t11\t12\n\n13, 14, 15, 16\n"
    assert parse_groundtruth(text).tolist() == [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9, 10, 11, 12],
        [13, 14, 15, 16],
    ]


def test_parse_vot_polygon_to_axis_aligned_box():
    # a rotated quadrilateral: x in [10, 50], y in [5, 45]
    box = parse_groundtruth("30,5,50,25,30,45,10,25")
    assert box.tolist() == [[10, 5, 40, 40]]


def test_parse_nan_rows_kept_and_bad_rows_rejected():
    assert np.isnan(parse_groundtruth("1,2,3,4\nNaN,NaN,NaN,NaN")[1]).all()
    with pytest.raises(DatasetError, match=":2: expected 4 values"):
        parse_groundtruth("1,2,3,4\n1,2,3")
    with pytest.raises(DatasetError, match="not a number"):
        parse_groundtruth("1,2,x,4")


def make_sequence(root, name, frames=4, boxes=None, size=(48, 64)):
    """A tiny synthetic sequence: a bright square moving 2 px per frame."""
    img = root / name / "img"
    img.mkdir(parents=True)
    rows = []
    for i in range(frames):
        image = np.full(size + (3,), 40, np.uint8)
        x = 10 + 2 * i
        image[12:28, x : x + 16] = (250, 200, 90)
        cv2.imwrite(str(img / f"{i + 1:04d}.jpg"), image)
        rows.append(f"{x},12,16,16")
    text = "\n".join(rows[: boxes if boxes is not None else frames]) + "\n"
    (root / name / "groundtruth_rect.txt").write_text(text)
    return root / name


def run_cli(capsys, *args):
    code = cli.main(list(args) + ["--no-progress"])
    return code, capsys.readouterr().err


def test_missing_data_folder(tmp_path, capsys):
    code, err = run_cli(
        capsys,
        "--data",
        str(tmp_path / "nope"),
        "--trackers",
        "mosse",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 2 and "data folder not found" in err and "nope" in err


def test_missing_sequence_is_named(tmp_path, capsys):
    make_sequence(tmp_path, "good")
    code, err = run_cli(
        capsys,
        "--data",
        str(tmp_path),
        "--sequences",
        "good,ghost",
        "--trackers",
        "mosse",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 2 and "sequence ghost" in err


def test_count_mismatch_is_named(tmp_path, capsys):
    make_sequence(tmp_path, "short_gt", frames=5, boxes=4)
    code, err = run_cli(
        capsys, "--data", str(tmp_path), "--trackers", "mosse", "--out", str(tmp_path / "out")
    )
    assert code == 2
    assert "sequence short_gt: 4 ground-truth boxes but 5 frames" in err


def test_unreadable_frame_is_named(tmp_path, capsys):
    seq = make_sequence(tmp_path, "broken", frames=5)
    (seq / "img" / "0003.jpg").write_bytes(b"not a jpeg")
    code, err = run_cli(
        capsys, "--data", str(tmp_path), "--trackers", "mosse", "--out", str(tmp_path / "out")
    )
    assert code == 2 and "sequence broken: unreadable frame" in err and "0003.jpg" in err


def test_unknown_tracker_rejected(tmp_path, capsys):
    make_sequence(tmp_path, "good")
    code, err = run_cli(
        capsys, "--data", str(tmp_path), "--trackers", "mosse,foo", "--out", str(tmp_path / "out")
    )
    assert code == 2 and "unknown tracker 'foo'" in err


def test_module_entry_point_exits_non_zero(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rtmdnet_ros.evaluation",
            "--data",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "data folder not found" in proc.stderr
