# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The backbone through onnxruntime: equal to PyTorch's on real frames, real model.

Tolerances, set above the differences measured (docs/tracker.md, "Inference runtime"):
- feature maps: |onnxruntime - PyTorch| <= 1e-3 absolute (float32 rounding of differently
  ordered sums through 8 blocks);
- classifier logits of the packaged head on RoIs pooled from either map: within 2e-3;
- tracked boxes on a real sequence, same seed: the two runtimes follow the same target (IoU
  between their boxes >= 0.8 on 90 % of frames, both within 0.05 mean IoU to the ground truth).
  The decisions (top-5 of 256 candidates) may flip on near-ties, so exact equality is not
  expected; ``runtime=torch`` is the bit-exact reference path.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from data_paths import sequence_dir

from rtmdnet_ros import backbone_runtime as br
from rtmdnet_ros import model_file as mf
from rtmdnet_ros import onnx_runtime
from rtmdnet_ros.crop import crop_scene
from rtmdnet_ros.geometry import crop_size, iou, samples_to_rois, scene_box
from rtmdnet_ros.network import RTMDNet
from rtmdnet_ros.options import TrackerOptions
from rtmdnet_ros.packaged_models import DEFAULT_MODEL
from rtmdnet_ros.sequences import read_groundtruth
from rtmdnet_ros.tracker import Tracker

pytestmark = pytest.mark.skipif(not onnx_runtime.available(), reason="onnxruntime not installed")
CPU = torch.device("cpu")
MAP_ATOL = 1e-3
LOGIT_ATOL = 2e-3


@pytest.fixture(scope="module")
def packaged() -> RTMDNet:
    torch.set_num_threads(1)
    return mf.build_network(mf.load_model(DEFAULT_MODEL, CPU), CPU).eval()


def frames(name: str, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    seq = sequence_dir(name)
    gt = read_groundtruth(seq)
    files = sorted((seq / "img").glob("*.jpg"))[:n]
    imgs = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    return imgs, gt[: len(imgs)]


def scene_crops(image: np.ndarray, box: np.ndarray,
                spreads=((0.3, 0.45), (0.45, 0.3), (0.6, 0.6), (0.75, 0.5))):
    """Scene crops as the tracker makes them: the padded union of candidates spread around
    ``box`` (spread = candidate offset in box sizes per axis), rendered at 107 px per target.
    Returns (scene, candidate samples, crop) per spread; crops of 200-330 px a side."""
    rng = np.random.default_rng(int(box[0]))
    out = []
    for spread in spreads:
        reach = np.asarray(spread) * box[2:]
        samples = box + np.concatenate(
            [rng.uniform(-1, 1, (64, 2)) * reach, np.zeros((64, 2))], axis=1)
        samples[0, :2] = box[:2] - reach  # the extreme candidates span the whole spread
        samples[1, :2] = box[:2] + reach
        scene = scene_box(samples, 1.2)
        out.append((scene, samples, crop_scene(image, scene, crop_size(scene[2:], box[2:], 107))))
    return out


def torch_map(net: RTMDNet, crops: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2)))
    with torch.no_grad():
        return net.feature_map(x)


def test_shipped_graph_is_the_packaged_models(packaged):
    fp = br.fingerprint(packaged)
    shipped = br.BACKBONE_GRAPH_DIR / br.graph_name(fp)
    assert shipped.is_file(), (
        f"{shipped.name} missing: default.pt changed; run python -m rtmdnet_ros.backbone_runtime "
        "--ship and commit the new graph")
    assert br.find_graph(fp) == shipped
    assert sorted(p.name for p in br.BACKBONE_GRAPH_DIR.glob("backbone-*.onnx")) == [shipped.name]


def test_feature_maps_equal_torch_on_real_frames(packaged):
    ort_map = br.OnnxFeatureMap(packaged, threads=1)
    assert ort_map.source is not None, "the packaged model must not need an export"
    imgs, gt = frames("Crossing", 41)
    sizes = set()
    for i in (0, 20, 40):
        crops = scene_crops(imgs[i], gt[i])
        for scene, samples, crop in crops:
            ref = torch_map(packaged, [crop])
            out = ort_map(np.ascontiguousarray(crop.transpose(2, 0, 1)[None]))
            assert out.shape == ref.shape
            sizes.add(crop.shape[:2])
            assert ref.abs().max() > 1.0
            torch.testing.assert_close(out, ref, rtol=0, atol=MAP_ATOL)
            # The packaged head scores the candidates' RoIs pooled from either map alike.
            rois = samples_to_rois(samples, scene[:2], gt[i][2:], 107, 1.2, packaged.rf_offset)
            r = torch.as_tensor(np.concatenate([np.zeros((len(rois), 1)), rois], 1),
                                dtype=torch.float32)
            with torch.no_grad():
                a = packaged.head(packaged.pool_rois(ref, r))
                b = packaged.head(packaged.pool_rois(out, r))
            torch.testing.assert_close(b, a, rtol=0, atol=LOGIT_ATOL)
    assert len(sizes) >= 4, sizes  # square and elongated crops, 192-288 px a side
    # A batch of crops of one size, as the first frame's augmentation sends them.
    crops = [crop_scene(imgs[k], gt[k] + [-40, -40, 80, 80], (192, 192)) for k in (0, 10, 30)]
    x = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2))
    torch.testing.assert_close(ort_map(x), torch_map(packaged, crops), rtol=0, atol=MAP_ATOL)


def test_tracked_boxes_close_to_torch_runtime():
    imgs, gt = frames("Crossing", 61)
    boxes = {}
    for runtime in ("torch", "onnxruntime"):
        options = TrackerOptions().replace(torch_threads=1, runtime=runtime)
        t = Tracker(options=options, device="cpu", seed=0)
        assert t.runtime == runtime
        t.init(imgs[0], gt[0])
        boxes[runtime] = np.array([t.update(f).box_xywh for f in imgs[1:]])
    between = np.array([iou(a, b) for a, b in zip(boxes["torch"], boxes["onnxruntime"],
                                                   strict=True)])
    assert np.mean(between >= 0.8) >= 0.9, between.round(2)
    to_gt = {k: np.mean([iou(b, g) for b, g in zip(v, gt[1:], strict=True)])
             for k, v in boxes.items()}
    assert to_gt["torch"] > 0.5, to_gt  # the sequence is tracked at all
    assert abs(to_gt["torch"] - to_gt["onnxruntime"]) <= 0.05, to_gt


def test_choose_runtime_rule():
    assert br.choose_runtime("torch", CPU) == "torch"
    assert br.choose_runtime("auto", CPU) == "onnxruntime"
    assert br.choose_runtime("onnxruntime", CPU) == "onnxruntime"
    assert br.choose_runtime("auto", torch.device("cuda")) == "torch"
    with pytest.raises(ValueError, match="CPU only"):
        br.choose_runtime("onnxruntime", torch.device("cuda"))
    with pytest.raises(ValueError, match="runtime"):
        br.choose_runtime("tensorrt", CPU)
    with pytest.raises(ValueError, match="runtime"):
        TrackerOptions().replace(runtime="tensorrt")


def test_other_network_is_exported_once_and_cached(tmp_path, monkeypatch):
    """A network without a shipped graph (here the stage-3 cut, ImageNet weights) is exported
    into the cache on first use and read from there afterwards."""
    monkeypatch.setenv(br.CACHE_ENV, str(tmp_path))
    torch.set_num_threads(1)
    net = RTMDNet(cut="stage3", generator=torch.Generator().manual_seed(0)).eval()
    fp = br.fingerprint(net)
    assert br.find_graph(fp) is None
    first = br.OnnxFeatureMap(net, threads=1)
    assert first.source is None and (tmp_path / br.graph_name(fp)).is_file()
    second = br.OnnxFeatureMap(net, threads=1)
    assert second.source == tmp_path / br.graph_name(fp)
    imgs, gt = frames("Crossing", 1)
    for _, _, crop in scene_crops(imgs[0], gt[0], spreads=((0.4, 0.7),)):
        x = np.ascontiguousarray(crop.transpose(2, 0, 1)[None])
        torch.testing.assert_close(second(x), torch_map(net, [crop]), rtol=0, atol=MAP_ATOL)
    # Other weights, other fingerprint: a changed network never reuses a stale graph.
    with torch.no_grad():
        net.backbone._conv_stem.weight.mul_(1.01)
    assert br.fingerprint(net) != fp


def rss_mb() -> float:
    """This process's resident set, MB (Linux)."""
    import re
    from pathlib import Path

    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024


def test_released_memory_leaves_the_process_and_the_maps_unchanged(packaged):
    """``release_backbone_memory``: one large crop's working set (about 100 MB at 960x720) is
    given back after its pass instead of staying in onnxruntime's arena for the process's life;
    the maps are the same either way."""
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 255, (1, 3, 240, 320)).astype(np.float32)
    large = rng.uniform(0, 255, (1, 3, 720, 960)).astype(np.float32)
    grown, maps = {}, {}
    for release in (True, False):  # released first: a kept arena would stay in the process
        feature_map = br.OnnxFeatureMap(packaged, threads=1, release_memory=release)
        first = feature_map(small).clone()
        before = rss_mb()
        feature_map(large)
        again = feature_map(small)
        grown[release] = rss_mb() - before
        assert torch.equal(first, again)
        maps[release] = again
    assert torch.equal(maps[True], maps[False])
    assert grown[True] < 40 and grown[False] > 60, grown
