# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Real short runs: outputs written, wrappers sane, runs resumed, unavailable peers reported."""

import json

import numpy as np
import pytest
from data_paths import sequence_dir
from test_evaluation_datasets import make_sequence

from rtmdnet_ros.evaluation import cli, peers


def _main(*args):
    return cli.main(list(args) + ["--no-progress"])


def test_real_short_run_writes_json_markdown_and_plots(tmp_path, capsys):
    seq = sequence_dir("Crossing")
    out = tmp_path / "out"
    code = _main(
        "--data",
        str(seq.parent),
        "--sequences",
        "Crossing",
        "--trackers",
        "csrt,mosse",
        "--max-frames",
        "30",
        "--out",
        str(out),
    )
    assert code == 0
    data = json.loads((out / "results.json").read_text())
    gt0 = [float(v) for v in (seq / "groundtruth_rect.txt").read_text().split("\n")[0].split(",")]
    for name in ("csrt", "mosse"):
        run = data["trackers"][name]["sequences"]["Crossing"]["runs"]["0"]
        assert len(run["boxes"]) == 30 and len(run["scores"]) == 30 and len(run["ok"]) == 30
        assert run["boxes"][0] == gt0  # initialised from ground truth as given
    # CSRT follows this pedestrian over the first second: a sane wrapper scores well above 0.6.
    assert data["trackers"]["csrt"]["auc"] > 0.6
    page = (out / "results.md").read_text()
    assert "| csrt |" in page and "| Crossing | 30 |" in page
    for png in ("success.png", "precision.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_second_run_reuses_finished_pairs_and_force_recomputes(tmp_path, capsys):
    make_sequence(tmp_path / "data", "square", frames=8)
    out = tmp_path / "out"
    args = ("--data", str(tmp_path / "data"), "--trackers", "kcf,medianflow", "--out", str(out))
    assert _main(*args) == 0
    files = sorted((out / "runs").rglob("*.json"))
    assert len(files) == 2
    stamps = [f.stat().st_mtime_ns for f in files]
    first = json.loads((out / "results.json").read_text())
    assert first["overhead"]["computed"] == 2

    assert _main(*args) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["overhead"]["computed"] == 0 and again["overhead"]["reused"] == 2
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert again["trackers"]["kcf"]["auc"] == first["trackers"]["kcf"]["auc"]

    assert _main(*args, "--force") == 0
    assert json.loads((out / "results.json").read_text())["overhead"]["computed"] == 2
    assert [f.stat().st_mtime_ns for f in files] != stamps


def test_unavailable_peer_is_reported_not_dropped(tmp_path, capsys):
    make_sequence(tmp_path / "data", "square", frames=5)
    out = tmp_path / "out"
    code = _main(
        "--data",
        str(tmp_path / "data"),
        "--trackers",
        "mosse,nanotrack",
        "--nanotrack-dir",
        str(tmp_path / "no_models"),
        "--out",
        str(out),
    )
    assert code == 0
    assert "skipping nanotrack: NanoTrack model file(s) not found" in capsys.readouterr().err
    data = json.loads((out / "results.json").read_text())
    assert "nanotrack" in data["skipped"] and "mosse" in data["trackers"]
    assert "## Skipped trackers" in (out / "results.md").read_text()
    assert "`nanotrack`: NanoTrack model file(s) not found" in (out / "results.md").read_text()


def test_nothing_runnable_exits_one(tmp_path, capsys):
    make_sequence(tmp_path / "data", "square", frames=3)
    code = _main(
        "--data",
        str(tmp_path / "data"),
        "--trackers",
        "nanotrack",
        "--nanotrack-dir",
        str(tmp_path),
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 1


class _FailingImpl:
    """Stands in for an OpenCV tracker that loses the target on the second update."""

    def __init__(self):
        self.calls = 0

    def init(self, frame, rect):
        return None

    def update(self, frame):
        self.calls += 1
        if self.calls == 2:
            return False, (0, 0, 0, 0)
        return True, (5 + self.calls, 6, 7, 8)


def test_opencv_not_ok_keeps_previous_box():
    tracker = peers.OpenCVTracker("fake", _FailingImpl, legacy=False, seed=0)
    frame = np.zeros((20, 20, 3), np.uint8)
    tracker.init(frame, np.array([1.5, 2.0, 7.0, 8.0]))
    assert tracker.update(frame)[0].tolist() == [6, 6, 7, 8]
    box, score, ok = tracker.update(frame)
    assert not ok and score is None and box.tolist() == [6, 6, 7, 8]
    assert tracker.update(frame)[0].tolist() == [8, 6, 7, 8]


def test_set_overrides_parse_json_values():
    assert cli.parse_overrides(["a=1", "b=0.5", "c=true", "d=[1, 2]", "e=vggm", "f=False"]) == {
        "a": 1,
        "b": 0.5,
        "c": True,
        "d": [1, 2],
        "e": "vggm",
        "f": False,
    }
    with pytest.raises(ValueError):
        cli.parse_overrides(["novalue"])


def test_our_tracker_through_the_adapter_with_overrides_and_seeds(tmp_path, capsys):
    pytest.importorskip("rtmdnet_ros.tracker", reason="core tracker not built yet")
    make_sequence(tmp_path / "data", "square", frames=4)
    out = tmp_path / "out"
    code = _main(
        "--data",
        str(tmp_path / "data"),
        "--trackers",
        "rtmdnet",
        "--seeds",
        "2",
        "--set",
        "init_iterations=2",
        "--set",
        "n_neg_init=200",
        "--set",
        "n_bbreg=50",
        "--out",
        str(out),
    )
    assert code == 0, capsys.readouterr().err
    data = json.loads((out / "results.json").read_text())
    ours = data["trackers"]["rtmdnet"]
    assert ours["seeds"] == [0, 1]
    runs = ours["sequences"]["square"]["runs"]
    assert sorted(runs) == ["0", "1"]
    for run in runs.values():
        assert run["config"]["overrides"] == {
            "init_iterations": 2,
            "n_bbreg": 50,
            "n_neg_init": 200,
        }
        assert all(isinstance(s, float) for s in run["scores"][1:])  # our tracker gives scores
        assert len(run["boxes"]) == 4


def test_report_only_tracks_nothing_and_names_missing_runs(tmp_path, capsys):
    make_sequence(tmp_path / "data", "square", frames=5)
    out = tmp_path / "out"
    base = ("--data", str(tmp_path / "data"), "--out", str(out))
    assert _main(*base, "--trackers", "kcf") == 0
    assert _main(*base, "--trackers", "kcf,mosse", "--report-only") == 0
    data = json.loads((out / "results.json").read_text())
    assert data["overhead"]["computed"] == 0 and "kcf" in data["trackers"]
    assert "no stored run for square" in data["skipped"]["mosse"]
    assert not (out / "runs" / "mosse").exists()


def test_append_puts_a_markdown_file_at_the_end_of_the_page(tmp_path, capsys):
    make_sequence(tmp_path / "data", "square", frames=5)
    extra = tmp_path / "ablations.md"
    extra.write_text("## Ablations\n\n| variant | AUC |\n|---|---|\n| a | 0.5 |\n")
    more = tmp_path / "more.md"
    more.write_text("## More\n\nlast\n")
    page = tmp_path / "page.md"
    base = ("--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--trackers", "kcf")
    assert _main(*base, "--report", str(page), "--append", str(extra)) == 0
    text = page.read_text()
    assert text.rstrip().endswith("| a | 0.5 |")
    assert text.index("## Summary") < text.index("## Ablations")
    assert _main(*base, "--report", str(page), "--append", str(extra), "--append", str(more)) == 0
    text = page.read_text()
    assert text.index("| a | 0.5 |") < text.index("## More") and text.rstrip().endswith("last")
    assert _main(*base, "--append", str(tmp_path / "missing.md")) == 2
    assert "--append file not found" in capsys.readouterr().err


def test_untrained_model_runs_our_tracker_without_offline_pretraining(tmp_path, capsys):
    from rtmdnet_ros import tracker as core
    from rtmdnet_ros.options import UNTRAINED

    assert peers.UNTRAINED == UNTRAINED
    make_sequence(tmp_path / "data", "square", frames=4)
    out = tmp_path / "out"
    args = ("--data", str(tmp_path / "data"), "--out", str(out), "--trackers", "rtmdnet")
    assert _main(*args, "--model", "untrained", "--set", "torch_threads=1") == 0
    data = json.loads((out / "results.json").read_text())
    assert "untrained" in json.dumps(data)
    t = core.Tracker(options=None, model=UNTRAINED, device="cpu", seed=0)
    assert not t.head_pretrained
