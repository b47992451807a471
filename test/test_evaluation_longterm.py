# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The long-term evaluation: scene cuts built from the loader, decoded, and a real short run."""

import json

import cv2
import numpy as np
import pytest
from data_paths import sequence_dir
from test_evaluation_datasets import make_sequence

from rtmdnet_ros.evaluation import cli, longterm
from rtmdnet_ros.evaluation.datasets import FrameStream, select_sequences
from rtmdnet_ros.sequences import DatasetError


def _main(*args):
    return cli.main(list(args) + ["--no-progress"])


def _three(tmp_path):
    """Two sub-sequences of one video (v_1, v_2) and one other video at another frame size."""
    data = tmp_path / "data"
    make_sequence(data, "v_1", frames=6)
    make_sequence(data, "v_2", frames=6)
    make_sequence(data, "other", frames=5, size=(30, 40))
    return data


def test_splice_puts_the_donor_after_frame_n_with_nan_truth_and_the_host_resuming(tmp_path):
    data = _three(tmp_path)
    seqs = select_sequences(data, ["v_1", "v_2", "other"])
    spliced = longterm.build(seqs, longterm.Recipe(after=2, length=3))
    # the donor is the next selected sequence from another video: v_2 is v_1's own video
    assert [(s.host, s.donor) for s in spliced] == [
        ("v_1", "other"), ("v_2", "other"), ("other", "v_1")]
    first = spliced[0]
    host, donor = seqs[0], seqs[2]
    assert first.name == "v_1~other@2+3" and len(first) == 6 + 3
    assert first.frame_paths == host.frame_paths[:2] + donor.frame_paths[:3] + host.frame_paths[2:]
    assert np.isnan(first.groundtruth[2:5]).all()
    assert np.array_equal(first.groundtruth[[0, 1, 5, 6, 7, 8]], host.groundtruth)
    assert first.donor_frames == range(2, 5)
    # the same selection always gives the same cuts
    assert [s.name for s in longterm.build(seqs, longterm.Recipe(2, 3))] == [
        s.name for s in spliced]


def test_donor_frames_are_decoded_at_the_host_frame_size(tmp_path):
    data = _three(tmp_path)
    seqs = select_sequences(data, ["v_1", "other"])
    spliced = longterm.build(seqs, longterm.Recipe(after=2, length=3))[0]
    stream = FrameStream(spliced, want_rgb=True)
    stream.fill()
    host_frame = cv2.imread(str(spliced.frame_paths[0]))
    assert stream.frame(0).shape == host_frame.shape == (48, 64, 3)
    donor_raw = cv2.imread(str(spliced.frame_paths[3]))
    assert donor_raw.shape == (30, 40, 3)
    expected = cv2.resize(donor_raw, (64, 48), interpolation=cv2.INTER_AREA)
    assert np.array_equal(stream.frame(3), expected)
    assert np.array_equal(stream.frame(3, rgb=True), cv2.cvtColor(expected, cv2.COLOR_BGR2RGB))
    assert np.array_equal(stream.frame(5), cv2.imread(str(spliced.frame_paths[5])))


def test_bad_recipes_are_refused_with_the_reason(tmp_path, capsys):
    data = _three(tmp_path)
    seqs = select_sequences(data, ["v_1", "v_2"])
    with pytest.raises(DatasetError, match="no sequence from another video"):
        longterm.build(seqs, longterm.Recipe(2, 3))
    with pytest.raises(DatasetError, match="must resume"):
        longterm.build(select_sequences(data, ["v_1", "other"]), longterm.Recipe(6, 3))
    with pytest.raises(DatasetError, match="the cut needs 6"):
        longterm.build(select_sequences(data, ["v_1", "other"]), longterm.Recipe(2, 6))
    with pytest.raises(ValueError):
        longterm.Recipe(0, 3)
    base = ("--data", str(data), "--trackers", "kcf", "--out", str(tmp_path / "out"))
    assert _main(*base, "--sequences", "v_1,v_2", "--long-term") == 2
    assert "no sequence from another video" in capsys.readouterr().err
    assert _main(*base, "--cut-after", "3") == 2
    assert "--cut-after / --cut-length need --long-term" in capsys.readouterr().err


def test_long_term_run_on_real_footage_end_to_end(tmp_path, capsys):
    """Our composite tracker and the Siamese peer through the long-term mode, on a cut of bag
    into Crossing and back (20 real frames each, 8 spliced after frame 10)."""
    pytest.importorskip("rtmdnet_ros.tracker", reason="core tracker not built yet")
    seq = sequence_dir("Crossing")
    sequence_dir("bag")
    out = tmp_path / "out"
    page = tmp_path / "page.md"
    code = _main(
        "--data", str(seq.parent), "--sequences", "Crossing,bag", "--trackers", "rtmdnet,siamese",
        "--long-term", "--cut-after", "10", "--cut-length", "8", "--max-frames", "20",
        "--set", "init_iterations=2", "--set", "n_neg_init=200", "--set", "n_bbreg=50",
        "--out", str(out), "--report", str(page),
    )
    assert code == 0, capsys.readouterr().err
    data = json.loads((out / "longterm.json").read_text())
    assert data["sequences"]["Crossing~bag@10+8"] == {
        "frames": 28, "absent": 8, "host": "Crossing", "donor": "bag", "spliced_frames": [11, 18]}
    assert data["sequences"]["bag~Crossing@10+8"]["absent"] == 8
    stored = json.loads((out / "runs/rtmdnet/Crossing~bag@10+8/seed0.json").read_text())
    assert len(stored["boxes"]) == 28
    rows = {(r["tracker"], r["presence"]): r for r in data["rows"]}
    ours = rows[("rtmdnet", "own flag")]
    for r in data["rows"]:
        assert (r["absent"], r["stretches"], r["returns"]) == (16, 2, 2)
        assert 0.0 <= r["f"] <= 1.0
    # The Siamese network's flag never says the target is gone: every absent frame is claimed.
    flag = rows[("siamese", "own flag")]
    assert flag["lost_on_absent"] == 0 and flag["relocked"] == 2
    threshold = rows[("siamese", "score >= 0.5")]
    (oracle,) = [r for r in data["rows"] if r["oracle"]]
    assert oracle["tracker"] == "siamese" and "oracle" in oracle["presence"]
    assert oracle["f"] >= max(flag["f"], threshold["f"])  # the best threshold covers both rules
    # The first ten frames of both videos are easy: whatever it does in the cut, our tracker
    # holds the target before it (recall counts those frames) and reports it there.
    assert ours["recall"] > 0.2 and ours["precision"] > 0.2
    text = page.read_text()
    assert "| siamese | score >= 0.5 |" in text and "(oracle: best on this data)" in text
    assert "Host <- donor: Crossing <- bag, bag <- Crossing." in text
    assert "--long-term" in text.split("Regenerate with:")[1].split("\n")[0]
    assert (out / "longterm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](out/longterm.png)" in text
    # the summary as a section to append to another page in the report's folder
    section = (out / "summary.md").read_text()
    assert section.startswith("## Long-term evaluation") and "[page.md](page.md)" in section
    assert "| siamese | score >= 0.5 |" in section and "load average" in section


def test_report_rows_flag_threshold_and_oracle_by_hand(tmp_path):
    """One sequence: frames 1-2 present (IoU 1), 3-4 absent; scores 0.9, 0.8, 0.7, 0.95."""
    from pathlib import Path

    from rtmdnet_ros.evaluation import longterm_report
    from rtmdnet_ros.evaluation.peers import TrackerSpec
    from rtmdnet_ros.evaluation.runner import PairResult
    from rtmdnet_ros.sequences import Sequence

    a, nan = [0, 0, 10, 10], [np.nan] * 4
    seq = Sequence("s", Path("s"), tuple(Path(f"{i}.jpg") for i in range(5)),
                   np.array([a, a, a, nan, nan], dtype=float))
    result = PairResult(
        tracker="peer", sequence="s", seed=0, boxes=np.array([a] * 5, dtype=float),
        scores=np.array([np.nan, 0.9, 0.8, 0.7, 0.95]), ok=np.ones(5, bool),
        frame_seconds=np.zeros(5), create_seconds=0.0, config={})
    spec = TrackerSpec("peer", None, {}, False, presence_threshold=0.5)
    rows, sweeps = longterm_report.summarise([result], [seq], [spec])
    flag, half, oracle = rows
    assert flag.presence.label == "own flag" and half.presence.threshold == 0.5
    for row in (flag, half):  # every score is above 0.5: both claim frames 1-4
        assert (row.precision, row.recall) == pytest.approx((0.5, 1.0))
        assert row.f == pytest.approx(2 / 3)
        assert (row.lost_on_absent, row.absent, row.relocked, row.stretches) == (0, 2, 1, 1)
        assert row.returns == 0  # the sequence ends absent
    assert oracle.presence.oracle and oracle.presence.threshold == pytest.approx(0.8)
    assert (oracle.precision, oracle.recall, oracle.f) == pytest.approx((2 / 3, 1.0, 0.8))
    # frame 3 (0.7) reads as LOST, frame 4 (0.95) claims the target again: a re-lock
    assert (oracle.lost_on_absent, oracle.relocked, oracle.frames_to_lost) == (1, 1, [0])
    assert sweeps["peer"][0].tolist() == [0.7, 0.8, 0.9, 0.95]
    page = longterm_report.markdown(rows, [seq], {}, None, {"title": "t"})
    assert "| peer | score >= 0.800 (oracle: best on this data) | 0.800 |" in page
    assert "| peer | own flag | **0.667** |" in page  # the best F without an oracle
