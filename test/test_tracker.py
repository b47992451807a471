# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""End-to-end behaviour of the tracker: synthetic clip, one real sequence, bad input, seeding."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_paths import sequence_dir  # noqa: E402
from synthetic_clip import make_clip  # noqa: E402

from rtmdnet_ros.geometry import iou  # noqa: E402
from rtmdnet_ros.online_learning import MomentumSGD, clip_grad_norm  # noqa: E402
from rtmdnet_ros.options import TrackerOptions  # noqa: E402
from rtmdnet_ros.track_types import TrackResult  # noqa: E402
from rtmdnet_ros.tracker import Tracker  # noqa: E402

# One thread: the test machine is small and shared; oversubscribed OpenMP is many times slower.
# RT-MDNet's own path (the composite has its own tests: test_composite_*.py).
OPTS = TrackerOptions().replace(torch_threads=1, mode="reference")


@pytest.fixture(scope="module")
def clip():
    return make_clip(n_frames=60, seed=0)


@pytest.fixture(scope="module")
def tracker():
    return Tracker(options=OPTS, device="cpu", seed=3)


def test_synthetic_clip_tracked(tracker, clip):
    frames, gt = clip
    tracker.init(frames[0], gt[0])
    ious, results = [], []
    for frame, box in zip(frames[1:], gt[1:], strict=True):
        res = tracker.update(frame)
        assert isinstance(res, TrackResult) and res.box_xywh.shape == (4,)
        results.append(res)
        ious.append(float(iou(res.box_xywh, box)))
    ious = np.array(ious)
    assert np.mean(ious >= 0.5) >= 0.9, f"IoU >= 0.5 on only {np.mean(ious >= 0.5):.0%}"
    assert np.mean([r.success for r in results]) >= 0.9
    for key in ("crop", "backbone", "roi", "head", "bbreg", "update", "init"):
        assert key in tracker.timings
    for key in ("crop", "backbone", "roi", "head", "init"):
        assert tracker.timings[key] > 0
    assert tracker.counters["long_updates"] >= 4  # every 10 frames on success (reference 7)
    # The sample memories hold their own features and nothing more (no slices of larger blocks).
    memories = [*tracker.classifier._pos_memory, *tracker.classifier._neg_memory]
    held = {m.untyped_storage().data_ptr(): m.untyped_storage().nbytes() for m in memories}
    assert len(tracker.classifier._pos_memory) > len(tracker.classifier._neg_memory)
    assert sum(held.values()) == sum(m.numel() * m.element_size() for m in memories)


def test_async_updates_run_off_the_frame_loop_and_are_swapped_in(clip):
    """update_mode="async": a frame that triggers an update does not wait for it, and the
    finished weights reach the classifier at the next frame."""
    frames, gt = clip
    # Hundreds of iterations make one update last seconds, far longer than a frame.
    slow = OPTS.replace(update_mode="async", update_iterations=200, long_term_interval=5)
    t = Tracker(options=slow, device="cpu", seed=3)
    t.init(frames[0], gt[0])
    for frame in frames[1:6]:
        t.update(frame)  # frame 5 submits a long-term update
    assert t.counters["long_updates"] == 0
    assert not t.wait_for_updates(timeout=0.0), "the update ran inside update()"
    head_before = t.net.fc4[0].weight.detach().clone()
    assert t.wait_for_updates(timeout=600.0)
    assert t.counters["long_updates"] == 1
    assert torch.equal(t.net.fc4[0].weight, head_before), "weights changed mid-frame"
    t.update(frames[6])
    assert not torch.equal(t.net.fc4[0].weight, head_before), "new weights never swapped in"
    t.close()
    with pytest.raises(ValueError, match="before init"):
        t.update(frames[7])  # closed: no worker, no half-working tracker

    # At the normal update size the async tracker follows the clip like the sync one.
    t = Tracker(options=OPTS.replace(update_mode="async"), device="cpu", seed=3)
    t.init(frames[0], gt[0])
    ious = [float(iou(t.update(f).box_xywh, b)) for f, b in zip(frames[1:], gt[1:], strict=True)]
    t.wait_for_updates()
    t.close()
    assert np.mean(np.array(ious) >= 0.5) >= 0.9
    assert t.counters["long_updates"] >= 3


def test_a_long_loss_repeats_short_term_updates_on_unchanged_memories_less_often(clip):
    """``short_term_stale_interval``: while the target stays lost nothing enters the memories,
    and the reference's update every ``short_term_interval`` failed frames trains on the same
    samples again and again; with the option those repeats wait that many frames."""
    frames, gt = clip
    gone = [np.full_like(frames[0], 127) for _ in range(15)]  # the camera sees a blank wall

    def short_updates(stale_interval: int) -> tuple[int, int]:
        t = Tracker(options=OPTS.replace(short_term_stale_interval=stale_interval),
                    device="cpu", seed=3)
        t.init(frames[0], gt[0])
        failed = sum(not t.update(f).success for f in [*frames[1:10], *gone])
        return t.counters["short_updates"], failed

    repeated, failed = short_updates(0)
    spaced, failed_spaced = short_updates(10)
    once, failed_once = short_updates(1000)
    assert min(failed, failed_spaced, failed_once) >= 12, (failed, failed_spaced, failed_once)
    assert repeated >= failed // OPTS.rtmdnet.short_term_interval - 1, repeated
    assert spaced == 2 and once == 1, (spaced, once)


def test_same_seed_same_boxes(clip):
    frames, gt = clip

    def run(seed: int) -> np.ndarray:
        t = Tracker(options=OPTS, device="cpu", seed=seed)
        t.init(frames[0], gt[0])
        return np.array([t.update(f).box_xywh for f in frames[1:13]])

    a, b = run(5), run(5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, run(6)), "the seed has no effect"


def test_reinit_restarts_from_same_state(tracker, clip):
    frames, gt = clip
    out = []
    for _ in range(2):
        tracker.init(frames[0], gt[0])
        out.append([tracker.update(f).box_xywh for f in frames[1:4]])
    np.testing.assert_array_equal(out[0], out[1])


def test_bad_input(clip):
    frames, gt = clip
    t = Tracker(options=OPTS, device="cpu", seed=0)
    with pytest.raises(ValueError, match="before init"):
        t.update(frames[0])
    img = frames[0]
    bad_images = [img.astype(np.float32), img[..., 0], img[..., :2],
                  np.dstack([img, img[..., :1]]), img.tolist()]
    for bad in bad_images:
        with pytest.raises(ValueError):
            t.init(bad, gt[0])
    h, w = img.shape[:2]
    for box in ([10, 10, 0, 20], [10, 10, -5, 20], [np.nan, 10, 20, 20], [w + 5, 10, 20, 20],
                [10, -50, 20, 20], [1, 2, 3]):
        with pytest.raises(ValueError):
            t.init(img, box)
    t.init(img, gt[0])
    with pytest.raises(ValueError, match="uint8"):
        t.update(img.astype(np.float64))


def test_partly_outside_box_is_clipped_and_tracked(clip):
    frames, gt = clip
    h, w = frames[0].shape[:2]
    t = Tracker(options=OPTS.replace(init_iterations=10), device="cpu", seed=1)
    t.init(frames[0], [-20.0, 100.0, 60.0, 50.0])  # 20 px hang off the left edge
    for f in frames[1:4]:
        b = t.update(f).box_xywh
        assert b[0] >= 0 and b[1] >= 0 and b[0] + b[2] <= w + 1e-6 and b[1] + b[3] <= h + 1e-6


def test_real_sequence_runs_and_stays_inside():
    folder = sequence_dir("Crossing")
    files = sorted((folder / "img").glob("*.jpg"))
    gt = np.loadtxt(folder / "groundtruth_rect.txt", delimiter=",", ndmin=2)
    t = Tracker(options=OPTS, device="cpu", seed=0)
    first = cv2.cvtColor(cv2.imread(str(files[0])), cv2.COLOR_BGR2RGB)
    h, w = first.shape[:2]
    t.init(first, gt[0])
    ious = []
    for f, box in zip(files[1:], gt[1:], strict=True):
        res = t.update(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB))
        b = res.box_xywh
        assert np.all(np.isfinite(b)) and b[2] > 0 and b[3] > 0
        assert b[0] >= -1e-6 and b[1] >= -1e-6
        assert b[0] + b[2] <= w + 1e-6 and b[1] + b[3] <= h + 1e-6
        ious.append(float(iou(b, box)))
    assert len(ious) == len(files) - 1
    assert np.mean(ious) > 0.3  # a lost tracker scores ~0; figures in docs/tracker.md


def test_momentum_sgd_matches_torch():
    g = torch.Generator().manual_seed(0)
    w1 = torch.randn(5, 3, generator=g, requires_grad=True)
    w2 = w1.detach().clone().requires_grad_(True)
    ours = MomentumSGD([{"params": [w1], "lr": 0.1}], momentum=0.9, weight_decay=5e-4)
    ref = torch.optim.SGD([w2], lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(7, 5, generator=g)
    for _ in range(4):
        for w, opt in ((w1, ours), (w2, ref)):
            opt.zero_grad()
            (x @ w).pow(2).sum().backward()
            opt.step()
    torch.testing.assert_close(w1, w2)


def test_clip_grad_norm_matches_torch():
    g = torch.Generator().manual_seed(1)
    a = [torch.randn(4, 4, generator=g, requires_grad=True) for _ in range(2)]
    b = [p.detach().clone().requires_grad_(True) for p in a]
    for ps in (a, b):
        sum((p * 30).sum() for p in ps).backward()
    total = clip_grad_norm(a, 10.0)
    ref = torch.nn.utils.clip_grad_norm_(b, 10.0)
    assert total == pytest.approx(float(ref), rel=1e-6)
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p.grad, q.grad)
    assert float(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in a]))) == (
        pytest.approx(10.0, rel=1e-5)
    )


def test_options_round_trip_and_unknown_key():
    o = TrackerOptions().replace(update_iterations=7, jitter=((0.0, 0.0, 1.0),))
    d = o.to_dict()
    assert d["update_iterations"] == 7 and d["jitter"] == [[0.0, 0.0, 1.0]]
    assert TrackerOptions.from_dict(d) == o
    with pytest.raises(ValueError, match="unknown"):
        TrackerOptions.from_dict({"update_iteration": 3})
    with pytest.raises(ValueError):
        TrackerOptions().replace(roi_mode="bilinear")


def test_reference_values():
    geo, o = TrackerOptions().network, TrackerOptions().rtmdnet
    assert (geo.img_size, geo.padding, o.n_candidates, o.top_k) == (107, 1.2, 256, 5)
    assert (o.cand_trans, o.cand_trans_failure, o.cand_scale) == (0.6, 1.4, 1.05)
    assert o.bbreg_area == (1.0, 2.0)
    assert (o.bbreg_alpha, o.bbreg_accept_iou) == (1000.0, 0.6)
    r = TrackerOptions.reference().rtmdnet
    assert r.bbreg_accept_area == (1.0, 2.0) and r.update_iterations == 15
    assert r.untrained_head_lr_mult == 1.0 and o.untrained_head_lr_mult == 10.0
    assert r.n_neg_init == 5000 and r.init_iterations == 50 and len(r.jitter) == 7
    assert r.batch_neg_candidates == 1024 and not r.reuse_candidate_crop
    assert (o.batch_pos, o.batch_hard_neg) == (32, 96)
    assert (o.lr_init, o.lr_update, o.lr_fc6_mult) == (1e-4, 3e-4, 10.0)
    assert (o.pos_memory_frames, o.neg_memory_frames, o.long_term_interval) == (100, 20, 10)


def test_first_frame_augmentation_path(clip):
    frames, gt = clip
    opts = OPTS.replace(first_frame_augmentation=True, aug_crops=6, init_iterations=5)
    t = Tracker(options=opts, device="cpu", seed=2)
    t.init(frames[0], gt[0])
    from rtmdnet_ros.first_frame import augmentation_features
    from rtmdnet_ros.track_types import Meter

    pos, neg, bb, bb_boxes = augmentation_features(t.classifier.features, frames[0], gt[0],
                                                   opts.rtmdnet, np.random.default_rng(2),
                                                   Meter(t.device))
    dim = t.net.feature_dim
    r = opts.rtmdnet
    assert pos.shape == (6 * r.aug_pos_per_crop, dim)
    assert neg.shape == (6 * r.aug_neg_per_crop, dim)
    # The regression samples pass an IoU and area filter, so a crop may yield fewer.
    assert bb.shape == (len(bb_boxes), dim)
    assert 6 * r.aug_bbreg_per_crop / 2 < len(bb_boxes) <= 6 * r.aug_bbreg_per_crop
    assert torch.all(torch.isfinite(pos)) and float(pos.abs().sum()) > 0
    res = t.update(frames[1])
    assert iou(res.box_xywh, gt[1]) > 0.3


def test_untrained_head_gets_a_larger_first_frame_rate(clip, monkeypatch, tmp_path):
    """A random fc4/fc5 barely moves at the reference 1e-4; the fallback head uses 10x."""
    import rtmdnet_ros.model_loading as loading

    # Without a packaged model the core falls back to a random head: force that case.
    monkeypatch.setattr(loading, "DEFAULT_MODEL", tmp_path / "absent.pt")
    frames, gt = clip
    opts = OPTS.replace(init_iterations=5)

    def fc4_change(mult: float) -> float:
        t = Tracker(options=opts.replace(untrained_head_lr_mult=mult), device="cpu", seed=1)
        assert not t.head_pretrained
        before = t.net.fc4[0].weight.detach().clone()
        t.init(frames[0], gt[0])
        lr = opts.rtmdnet.lr_init * mult
        assert t.classifier.init_optimizer.param_groups[0]["lr"] == pytest.approx(lr)
        return float((t.net.fc4[0].weight.detach() - before).norm())

    assert fc4_change(10.0) > 5.0 * fc4_change(1.0)

    from rtmdnet_ros.network import RTMDNet

    net = RTMDNet(generator=torch.Generator().manual_seed(0))
    t = Tracker(options=opts, model=net, device="cpu", seed=1)
    assert t.head_pretrained
    t.init(frames[0], gt[0])
    assert t.classifier.init_optimizer.param_groups[0]["lr"] == pytest.approx(opts.rtmdnet.lr_init)


def test_asking_for_another_backbone_than_the_packaged_model_builds_it():
    """options.backbone is never silently replaced by the packaged model's backbone."""
    from rtmdnet_ros.model_file import load_model
    from rtmdnet_ros.packaged_models import DEFAULT_MODEL

    if not DEFAULT_MODEL.exists():
        pytest.skip("no packaged model in this checkout")
    packaged = load_model(DEFAULT_MODEL, "cpu").backbone
    other = "vggm" if packaged != "vggm" else "efficientnet_lite0"
    t = Tracker(options=OPTS.replace(backbone=other), device="cpu", seed=0)
    assert t.net.backbone_name == other and not t.head_pretrained
    t = Tracker(options=OPTS.replace(backbone=packaged), device="cpu", seed=0)
    assert t.net.backbone_name == packaged and t.head_pretrained
    if packaged == "efficientnet_lite0":  # the cut and the map stride are architecture too
        t = Tracker(options=OPTS.replace(backbone_cut="stage3"), device="cpu", seed=0)
        assert (t.net.cut, t.net.out_channels, t.head_pretrained) == ("stage3", 40, False)
        t = Tracker(options=OPTS.replace(dense_map=False), device="cpu", seed=0)
        assert (t.net.stride, t.head_pretrained) == (16, False)


def test_stride16_map_tracks_the_synthetic_clip(clip):
    """The paper's non-dense ablation arm is a working tracker, not just a buildable network."""
    frames, gt = clip
    t = Tracker(options=OPTS.replace(dense_map=False), model="untrained", device="cpu", seed=0)
    assert t.net.stride == 16
    t.init(frames[0], gt[0])
    pairs = zip(frames[1:], gt[1:], strict=True)
    ious = np.array([iou(t.update(frame).box_xywh, box) for frame, box in pairs])
    assert np.mean(ious >= 0.5) >= 0.8, f"IoU >= 0.5 on only {np.mean(ious >= 0.5):.0%}"
