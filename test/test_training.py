# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Offline pretraining: hand-computed losses, real short runs, resume, the shipped model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rtmdnet_ros.training.data import EVAL_SEQUENCES, load_domains
from rtmdnet_ros.training.losses import (
    binary_loss,
    instance_loss,
    pick_instance_branches,
    step_accuracy,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "rtmdnet_ros" / "models" / "default.pt"


# --------------------------------------------------------------------------- losses, by hand
def test_instance_loss_hand_computed():
    # One positive, own branch scores 2, two other branches score 0:
    # -log(e^2 / (e^2 + 1 + 1)) = log(1 + 2 e^-2) = 0.23954...
    scores = torch.tensor([[2.0, 0.0, 0.0]])
    expected = math.log(1.0 + 2.0 * math.exp(-2.0))
    assert instance_loss(scores, 0).item() == pytest.approx(expected, abs=1e-6)
    # A second positive whose own branch loses (scores 0 vs 1, 1): -log(1/(1+2e)) = log(1+2e).
    scores2 = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    expected2 = (expected + math.log(1.0 + 2.0 * math.e)) / 2.0
    assert instance_loss(scores2, 0).item() == pytest.approx(expected2, abs=1e-6)
    # The own column does not have to be the first one.
    assert instance_loss(scores[:, [1, 0, 2]], 1).item() == pytest.approx(expected, abs=1e-6)


def test_instance_loss_gradient_pushes_own_branch_up():
    scores = torch.tensor([[0.5, 0.5, 0.5]], requires_grad=True)
    instance_loss(scores, 0).backward()
    # d/ds_own = p_own - 1 = 1/3 - 1 ; d/ds_other = p_other = 1/3
    assert scores.grad[0].tolist() == pytest.approx([-2.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0])


def test_binary_loss_hand_computed():
    pos = torch.tensor([[0.0, 0.0]])  # -log(0.5)
    neg = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # -log(e/(e+1)), -log(0.5)
    expected = (2 * math.log(2.0) + math.log((math.e + 1) / math.e)) / 3.0
    assert binary_loss(pos, neg).item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError):
        binary_loss(torch.zeros(2, 3), neg)


def test_pick_branches_and_accuracy():
    rng = np.random.default_rng(0)
    assert pick_instance_branches(2, 4, 100, rng) == [2, 0, 1, 3]
    picked = pick_instance_branches(5, 300, 100, rng)
    assert picked[0] == 5 and len(picked) == 101 and len(set(picked)) == 101
    acc = step_accuracy(torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
    assert acc == {"pos_acc": 0.5, "neg_acc": 1.0, "acc": pytest.approx(2.0 / 3.0)}


# --------------------------------------------------------------------------- data split
def test_evaluation_sequences_are_refused():
    for name in EVAL_SEQUENCES:
        with pytest.raises(ValueError, match="evaluation-split"):
            load_domains(["Diving", name])


def test_mirrored_domain_box_covers_the_same_pixels():
    """A mirrored domain's box must frame the mirrored target exactly (no invented labels)."""
    _need_data()
    (plain,) = load_domains(["wakeboard7"])
    plain_img, box = plain.image(10), plain.boxes[10]
    mirrored = plain.mirror()
    assert mirrored.name == "wakeboard7~mirror" and len(mirrored) == len(plain)
    img, mbox = mirrored.image(10), mirrored.boxes[10]
    assert np.array_equal(img, plain_img[:, ::-1])
    x, y, w, h = (int(round(v)) for v in box)
    mx = int(round(mbox[0]))
    assert (mbox[1:] == box[1:]).all()
    assert np.array_equal(img[y:y + h, mx:mx + w], plain_img[y:y + h, x:x + w][:, ::-1])
    with pytest.raises(ValueError, match="already mirrored"):
        mirrored.mirror()
    both = load_domains(["wakeboard7"], mirror=True)
    assert [d.name for d in both] == ["wakeboard7", "wakeboard7~mirror"]


def test_sequences_file_names_one_sequence_per_line(tmp_path):
    """Thousands of videos (GOT-10k) do not fit one comma-separated argument: a file does."""
    from rtmdnet_ros.training.cli import build_parser, sequence_names

    listing = tmp_path / "train.txt"
    listing.write_text("# GOT-10k subset\nGOT-10k_Train_000001\n\n  GOT-10k_Train_000002  # car\n")
    args = build_parser().parse_args(["--out", "x", "--sequences-file", str(listing)])
    assert sequence_names(args) == ["GOT-10k_Train_000001", "GOT-10k_Train_000002"]
    args = build_parser().parse_args(["--out", "x", "--sequences", "a, b,"])
    assert sequence_names(args) == ["a", "b"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--out", "x", "--sequences", "a", "--sequences-file", "f"])


# --------------------------------------------------------------------------- real short runs
SMALL = ["wakeboard7", "Diving"]  # two training-split sequences, few frames cached
SMALL_ARGS = [
    "--sequences", ",".join(SMALL),
    "--cache-stride", "40",  # wakeboard7: 2 frames, Diving: 6 frames
    "--cache-scales", "0",
    "--accumulate", "2",
    "--set", "frames_per_step=2",
    "--threads", "1",
    "--no-progress",
]


def _need_data():
    from data_paths import sequence_dir

    for name in SMALL:
        sequence_dir(name)


def _run_cli(out: Path, *extra: str) -> int:
    from rtmdnet_ros.training.cli import main

    return main(["--out", str(out), *SMALL_ARGS, *extra])


def test_cli_trains_and_writes_a_loadable_model(tmp_path):
    _need_data()
    from rtmdnet_ros.model_file import load_model

    assert _run_cli(tmp_path / "run", "--steps", "4", "--log-every", "2") == 0
    model = load_model(tmp_path / "run" / "model.pt")
    assert model.backbone == "efficientnet_lite0"
    recipe = model.recipe
    assert recipe["seed"] == 0
    assert [d["sequence"] for d in recipe["data"]] == SMALL
    assert recipe["command"].startswith("rtmdnet-train ")
    assert recipe["train_options"]["instance_alpha"] == pytest.approx(0.1)
    assert recipe["steps_done"] == 4
    log = (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()
    assert len(log) == 2  # a line every 2 steps
    import json

    line = json.loads(log[-1])
    assert set(line["domain_acc"]) == set(SMALL) and math.isfinite(line["loss"])


def test_training_lowers_the_loss_on_fixed_samples():
    _need_data()
    from rtmdnet_ros.network import RTMDNet
    from rtmdnet_ros.options import TrainOptions
    from rtmdnet_ros.training.run_options import RunOptions
    from rtmdnet_ros.training.trainer import Trainer

    torch.set_num_threads(1)
    domains = load_domains(SMALL)
    opts = TrainOptions(frames_per_step=2, accumulate_domains=2, lr=1e-3)
    run = RunOptions(steps=30, cache_scales=(0,), cache_frame_stride=40, threads=1)
    net = RTMDNet(num_domains=2, generator=torch.Generator().manual_seed(0))
    trainer = Trainer(net, domains, _tmp_dir(), opts, run,
                      rf_offset=net.rf_offset)
    trainer.source.build_cache()

    def fixed_loss() -> float:
        # Same frames, same boxes each time: a fresh generator with a fixed seed.
        rng = np.random.default_rng(123)
        net.eval()
        total = 0.0
        with torch.no_grad():
            for d in range(2):
                frames = trainer.source.frame_indices(d)[:2]
                pos, neg = trainer.step_losses.features(d, frames, rng)
                total += binary_loss(net.head(pos, d), net.head(neg, d)).item()
        return total / 2

    before = fixed_loss()
    trainer.train()
    after = fixed_loss()
    assert after < 0.8 * before, (before, after)


def _tmp_dir() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="rtmdnet-train-test-"))


def test_resume_continues_from_the_saved_step(tmp_path):
    _need_data()
    # Straight through 4 steps, versus 3 steps + resume to 4: the same weights, bit for bit.
    # Step 3 ends inside an accumulation window (2 domain-steps per update), so the
    # checkpoint must also carry the gradient summed so far.
    assert _run_cli(tmp_path / "a", "--steps", "4") == 0
    assert _run_cli(tmp_path / "b", "--steps", "3", "--checkpoint-every", "1") == 0
    ckpt_b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert ckpt_b["step"] == 3 and ckpt_b["grads"]
    assert _run_cli(tmp_path / "b", "--steps", "4", "--resume") == 0
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 4
    for key, value in a["net"].items():
        assert torch.equal(value, b["net"][key]), key
    # The trained weights moved away from the 2-step state, so the comparison is not vacuous.
    assert any(not torch.equal(ckpt_b["net"][k], a["net"][k]) for k in a["net"] if "fc4" in k)


def test_resume_refuses_other_domains(tmp_path):
    _need_data()
    assert _run_cli(tmp_path / "c", "--steps", "1") == 0
    from rtmdnet_ros.training.cli import main

    with pytest.raises(ValueError, match="trained on"):
        main(["--out", str(tmp_path / "c"), "--sequences", "wakeboard7", "--steps", "2",
              "--resume", "--cache-stride", "40", "--cache-scales", "0", "--no-progress"])


# --------------------------------------------------------------------------- shipped model
@pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model (models/default.pt)")
def test_default_model_loads_and_tracks_the_synthetic_clip():
    from synthetic_clip import make_clip

    from rtmdnet_ros.geometry import iou
    from rtmdnet_ros.model_file import load_model
    from rtmdnet_ros.options import TrackerOptions
    from rtmdnet_ros.tracker import Tracker

    model = load_model(DEFAULT_MODEL)
    assert model.backbone in ("efficientnet_lite0", "vggm")
    assert model.recipe and model.recipe["data"], "the shipped model must record its recipe"
    # Mirrored domains are named "VIDEO~mirror": the video is what must stay out of evaluation.
    trained_on = {d["sequence"].split("~")[0] for d in model.recipe["data"]}
    assert not trained_on & set(EVAL_SEQUENCES), "shipped model saw evaluation sequences"
    assert DEFAULT_MODEL.stat().st_size <= 25 * 1024 * 1024
    # Default options must describe the packaged network, or Tracker() would build another one.
    defaults = TrackerOptions().network
    assert model.backbone == defaults.backbone
    assert model.backbone_options.get("cut") == defaults.backbone_cut
    assert model.backbone_options.get("dense", True) == defaults.dense_map
    torch.set_num_threads(2)
    frames, boxes = make_clip()
    tracker = Tracker(model=DEFAULT_MODEL, device="cpu", seed=0)
    assert (tracker.net.backbone_name, tracker.net.cut) == (model.backbone, defaults.backbone_cut)
    assert Tracker(options=TrackerOptions(), device="cpu", seed=0).head_pretrained
    tracker.init(frames[0], boxes[0])
    ious = [
        float(iou(tracker.update(f).box_xywh, b))
        for f, b in zip(frames[1:], boxes[1:], strict=True)
    ]
    assert np.mean(np.asarray(ious) >= 0.5) >= 0.9, ious
