# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""`rtmdnet-train` under torchrun: 2 CPU processes (gloo) on a tiny run, as a user starts it.

The run is real (real sequences, the CLI started by ``python -m torch.distributed.run``); it is
kept tiny (4 short videos, a few cached frames, 8 domain-steps) so the whole module takes about
half a minute on two cores. The pure rules (sharding, window split, environment) are tested
without processes.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rtmdnet_ros import split
from rtmdnet_ros.training.distributed import DistContext, local_window, owned_domains

REPO = Path(__file__).resolve().parents[1]
# Four short training-split videos: two domains per process.
SEQUENCES = ["wakeboard7", "Diving", "car1", "person11"]
TINY_ARGS = [
    "--sequences", ",".join(SEQUENCES),
    "--cache-stride", "40",  # 2-7 cached frames per video
    "--cache-scales", "0",
    "--accumulate", "4",  # 2 local steps per process per update
    "--set", "frames_per_step=2",
    "--set", "instance_max_other=1",  # steps reach different fc6 branches: unused parameters
    "--log-every", "4",
    "--checkpoint-every", "100",
    "--threads", "1",
    "--no-progress",
]
RUN_TIMEOUT_S = 150  # many times one launch; a hang must fail, not stall CI


def _need_data() -> None:
    from data_paths import sequence_dir

    for name in SEQUENCES:
        sequence_dir(name)


def _torchrun(out: Path, *extra: str) -> subprocess.CompletedProcess:
    """Run the CLI as 2 local CPU processes; kill the whole process group on a timeout."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "rtmdnet_ros.training.cli", "--out", str(out), *TINY_ARGS, *extra]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in {RUN_TIMEOUT_S} s:\n{output[-4000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, output, "")


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory) -> Path:
    """8 domain-steps on 2 processes, straight through: the run every test below inspects."""
    _need_data()
    out = tmp_path_factory.mktemp("ddp") / "straight"
    done = _torchrun(out, "--steps", "8", "--cache-dir", str(out.parent / "cache"))
    assert done.returncode == 0, done.stdout[-6000:]
    return out


# --------------------------------------------------------------------------- the rules
def test_torchrun_environment_and_sharding():
    assert DistContext.from_env({}) == DistContext(0, 1, 0)
    ctx = DistContext.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.distributed) == (3, 4, 1, True)
    with pytest.raises(ValueError, match="bad torchrun environment"):
        DistContext.from_env({"RANK": "2", "WORLD_SIZE": "2"})
    # Round robin, every domain exactly once, shards within one domain of each other.
    shards = [owned_domains(5, DistContext(r, 2, r)) for r in range(2)]
    assert shards == [[0, 2, 4], [1, 3]]
    assert owned_domains(3, DistContext()) == [0, 1, 2]
    with pytest.raises(ValueError, match="3 training processes but only 2 domain"):
        owned_domains(2, DistContext(0, 3, 0))
    # The window splits evenly (rounded up) and never exceeds the run.
    assert local_window(50, 3000, DistContext()) == 50
    assert local_window(50, 3000, DistContext(0, 4, 0)) == 13
    assert local_window(4, 2, DistContext(0, 2, 0)) == 1


def test_more_processes_than_domains_is_a_clean_error(tmp_path, monkeypatch, capsys):
    """Checked before the process group is joined: every rank stops at once, none waits."""
    _need_data()
    from rtmdnet_ros.training.cli import main

    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert main(["--out", str(tmp_path / "x"), "--sequences", "wakeboard7,Diving",
                 "--steps", "2", "--no-progress"]) == 2
    assert "3 training processes but only 2 domain(s)" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------- real 2-process runs
def test_two_cpu_processes_train_a_model_that_tracks(straight_run):
    from rtmdnet_ros.model_file import load_model
    from rtmdnet_ros.tracker import Tracker
    from rtmdnet_ros.training.data import load_domains

    assert set(SEQUENCES) <= set(split.TRAIN)
    model = load_model(straight_run / "model.pt")
    assert model.recipe["world_size"] == 2 and model.recipe["steps_done"] == 8
    assert [d["sequence"] for d in model.recipe["data"]] == SEQUENCES
    # Rank 1 did real work: the log sums both processes' steps, and every domain (rank 0 owns
    # wakeboard7 and car1, rank 1 Diving and person11) has an accuracy from its own steps.
    lines = [json.loads(s) for s in (straight_run / "train_log.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == [4, 8]
    for line in lines:
        assert math.isfinite(line["loss"])
        assert all(line["domain_acc"][name] is not None for name in SEQUENCES), line
    ckpt = torch.load(straight_run / "checkpoint.pt", weights_only=False)
    assert ckpt["world_size"] == 2 and len(ckpt["ranks"]) == 2
    assert ckpt["ranks"][0]["numpy_rng"] != ckpt["ranks"][1]["numpy_rng"]
    # The written model tracks real frames.
    torch.set_num_threads(1)
    (video,) = load_domains(["wakeboard7"])
    tracker = Tracker(model=straight_run / "model.pt", device="cpu", seed=0)
    tracker.init(video.image(0), video.boxes[0])
    for f in range(1, 4):
        box = np.asarray(tracker.update(video.image(f)).box_xywh, dtype=float)
        assert box.shape == (4,) and np.isfinite(box).all() and (box[2:] > 0).all(), box


def test_resume_inside_a_window_matches_the_straight_run(straight_run, tmp_path):
    """6 steps (ending inside an update window) + resume to 8 == 8 straight, bit for bit.

    The checkpoint holds each process's sample stream and unapplied partial gradient, and the
    resumed run must sum those partials across processes like the straight run did.
    """
    cache = ["--cache-dir", str(straight_run.parent / "cache")]
    first = _torchrun(tmp_path / "b", "--steps", "6", *cache)
    assert first.returncode == 0, first.stdout[-6000:]
    ckpt = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert ckpt["step"] == 6 and all(state["grads"] for state in ckpt["ranks"])
    again = _torchrun(tmp_path / "b", "--steps", "8", "--resume", *cache)
    assert again.returncode == 0, again.stdout[-6000:]
    a = torch.load(straight_run / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 8
    for key, value in a["net"].items():
        assert torch.equal(value, b["net"][key]), key
    # A distributed checkpoint resumes only on as many processes as wrote it.
    from rtmdnet_ros.training.cli import main

    with pytest.raises(ValueError, match="written by 2 process"):
        main(["--out", str(tmp_path / "b"), *TINY_ARGS, "--steps", "10", "--resume"])
