# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Model files: our round trip, the authors' checkpoint, imagenet-vgg-m.mat, and refusals."""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from rtmdnet_ros.model_file import (
    AUTHORS_SHAPES,
    FORMAT,
    build_network,
    load_model,
    save_model,
    vggm_mat_to_state_dict,
)
from rtmdnet_ros.network import RTMDNet

torch.set_num_threads(2)


def _net(backbone: str, seed: int = 0, **kw) -> RTMDNet:
    return RTMDNet(
        backbone,
        pretrained_backbone=False,
        generator=torch.Generator().manual_seed(seed),
        **kw,
    )


def _same_shared_weights(a: RTMDNet, b: RTMDNet) -> bool:
    sb = b.state_dict()
    return all(torch.equal(v, sb[k]) for k, v in a.state_dict().items() if not k.startswith("fc6"))


@dataclasses.dataclass
class FakeOptions:
    top_k: int = 5
    trans: float = 0.6


@pytest.mark.parametrize(
    ("backbone", "kw"),
    [("vggm", {}), ("vggm", {"dense": False, "roi_mode": "pool"}),
     ("efficientnet_lite0", {"cut": "stage3"}), ("efficientnet_lite0", {"cut": "stage3+4"}),
     ("efficientnet_lite0", {"cut": "stage3+4", "dense": False})],
)
def test_round_trip(tmp_path: Path, backbone: str, kw: dict) -> None:
    net = _net(backbone, num_domains=3, **kw)
    path = save_model(
        tmp_path / "sub" / "m.pt", net, recipe={"seed": 3, "command": "x"},
        tracker_options=FakeOptions(),
    )
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["version"] == 1 and raw["backbone"] == backbone
    assert not any(k.startswith("fc6") for k in raw["state_dict"])  # fc6 is never stored
    model = load_model(path)
    assert model.recipe == {"seed": 3, "command": "x"}
    assert model.tracker_options == {"top_k": 5, "trans": 0.6}
    assert model.backbone_options["dense"] == kw.get("dense", True)
    rebuilt = build_network(model, generator=torch.Generator().manual_seed(1))
    assert rebuilt.num_domains == 1
    assert rebuilt.roi_mode == kw.get("roi_mode", "adaptive")
    assert rebuilt.stride == net.stride
    assert _same_shared_weights(net, rebuilt)
    # Same input -> same features through the rebuilt backbone.
    x = torch.rand(1, 3, 107, 107) * 255
    with torch.no_grad():
        assert torch.allclose(net.eval().feature_map(x), rebuilt.eval().feature_map(x))


def test_recipe_with_paths_and_numpy_values_loads_back(tmp_path: Path) -> None:
    recipe = {"data": [tmp_path / "a", "b"], "lr": np.float32(1e-4), "seed": np.int64(3),
              "jitter": ((0.0, -4.0, 1.0),), "opts": FakeOptions()}
    path = save_model(tmp_path / "r.pt", _net("efficientnet_lite0", cut="stage3"), recipe=recipe)
    got = load_model(path).recipe
    assert got["data"] == [str(tmp_path / "a"), "b"]
    assert got["lr"] == pytest.approx(1e-4) and got["seed"] == 3
    assert got["jitter"] == ((0.0, -4.0, 1.0),)
    assert got["opts"] == {"top_k": 5, "trans": 0.6}


def _authors_checkpoint(net: RTMDNet, with_head: bool = True) -> dict:
    own = net.state_dict()
    shared = OrderedDict()
    for key in AUTHORS_SHAPES:  # the exact key names of the authors' ordered container
        if key.startswith("fc") and not with_head:
            continue
        shared[key] = own[f"backbone.{key}" if key.startswith("conv") else key].clone()
    return {"shared_layers": shared}


def test_authors_checkpoint_loads(tmp_path: Path) -> None:
    net = _net("vggm", seed=4)
    path = tmp_path / "RT-MDNet-ImageNet-pretrained.pth"
    # The authors' era wrote the legacy (non-zip) format; both must load.
    torch.save(_authors_checkpoint(net), path, _use_new_zipfile_serialization=False)
    model = load_model(path)
    assert model.backbone == "vggm" and model.backbone_options["dense"] is True
    assert "authors" in model.source
    rebuilt = build_network(model)
    assert _same_shared_weights(net, rebuilt)


def test_authors_checkpoint_without_head_keeps_seeded_fc(tmp_path: Path) -> None:
    net = _net("vggm", seed=4)
    path = tmp_path / "conv_only.pth"
    torch.save(_authors_checkpoint(net, with_head=False), path)
    rebuilt = build_network(load_model(path), generator=torch.Generator().manual_seed(9))
    assert torch.equal(rebuilt.backbone.conv3[0].weight, net.backbone.conv3[0].weight)
    assert not torch.equal(rebuilt.fc4[0].weight, net.fc4[0].weight)


def _fake_vggm_mat(path: Path, rng: np.random.Generator) -> list[np.ndarray]:
    """A MatConvNet-like file: a 1 x L cell of layer structs, conv weights as {W, b} cells."""
    shapes = [(7, 7, 3, 96), (5, 5, 96, 256), (3, 3, 256, 512)]
    layers = np.empty((1, 9), dtype=object)
    weights = []
    for i in range(9):
        if i % 4 == 0:
            w = rng.standard_normal(shapes[i // 4]).astype(np.float32)
            b = rng.standard_normal((shapes[i // 4][3], 1)).astype(np.float32)
            cell = np.empty((1, 2), dtype=object)
            cell[0, 0], cell[0, 1] = w, b
            layers[0, i] = {"type": "conv", "name": f"conv{i // 4 + 1}", "weights": cell}
            weights.append(w)
        else:
            layers[0, i] = {"type": "relu", "name": f"layer{i}"}
    scipy.io.savemat(str(path), {"layers": layers})
    return weights


def test_vggm_mat_loads(tmp_path: Path) -> None:
    path = tmp_path / "imagenet-vgg-m.mat"
    weights = _fake_vggm_mat(path, np.random.default_rng(0))
    model = load_model(path)
    w2 = model.state_dict["backbone.conv2.0.weight"]
    assert w2.shape == (256, 96, 5, 5)
    # W[h, w, cin, cout] -> weight[cout, cin, h, w]
    assert w2[17, 5, 1, 3].item() == pytest.approx(float(weights[1][1, 3, 5, 17]))
    net = build_network(model)
    assert torch.equal(net.backbone.conv1[0].weight, model.state_dict["backbone.conv1.0.weight"])


def test_vggm_conversion_function_on_arrays() -> None:
    rng = np.random.default_rng(1)
    pairs = [
        (rng.standard_normal(s).astype(np.float32), np.arange(s[3], dtype=np.float32))
        for s in [(7, 7, 3, 96), (5, 5, 96, 256), (3, 3, 256, 512)]
    ]
    state = vggm_mat_to_state_dict(pairs)
    assert state["backbone.conv1.0.weight"][95, 2, 6, 0].item() == pytest.approx(
        float(pairs[0][0][6, 0, 2, 95])
    )
    assert state["backbone.conv3.0.bias"][511].item() == 511
    pairs[2] = (pairs[2][0][:, :, :, :256], pairs[2][1])
    with pytest.raises(ValueError, match="conv3"):
        vggm_mat_to_state_dict(pairs)


def _write(tmp_path: Path, name: str, obj: object) -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_wrong_files_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="not a model file"):
        load_model(garbage)
    with pytest.raises(ValueError, match="expected a dict"):
        load_model(_write(tmp_path, "list.pt", [torch.zeros(3)]))
    with pytest.raises(ValueError, match="shared_layers"):
        load_model(_write(tmp_path, "keys.pt", {"weights": torch.zeros(3)}))
    net = _net("vggm")
    bad = _authors_checkpoint(net)
    bad["shared_layers"]["conv2.0.weight"] = torch.zeros(256, 96, 3, 3)
    with pytest.raises(ValueError, match=r"conv2\.0\.weight"):
        load_model(_write(tmp_path, "shape.pt", bad))
    del bad["shared_layers"]["conv1.0.weight"]
    with pytest.raises(ValueError, match="lacks"):
        load_model(_write(tmp_path, "missing.pt", bad))
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.pt")


def test_our_format_inconsistencies_are_refused(tmp_path: Path) -> None:
    path = save_model(tmp_path / "eff.pt", _net("efficientnet_lite0", cut="stage3"))
    good = torch.load(path, weights_only=True)
    relabelled = dict(good, backbone="vggm")
    with pytest.raises(ValueError, match="unexpected keys"):
        load_model(_write(tmp_path, "relabel.pt", relabelled))
    wrong_cut = dict(good, backbone_options={**good["backbone_options"], "cut": "stage4"})
    with pytest.raises(ValueError, match="shapes|missing"):
        load_model(_write(tmp_path, "cut.pt", wrong_cut))
    with pytest.raises(ValueError, match="version"):
        load_model(_write(tmp_path, "v.pt", dict(good, version=99)))
    with pytest.raises(ValueError, match="unknown backbone"):
        load_model(_write(tmp_path, "bb.pt", dict(good, backbone="resnet")))
    partial = dict(good, state_dict={k: v for k, v in good["state_dict"].items()
                                     if "_blocks.2." not in k})
    with pytest.raises(ValueError, match="missing"):
        load_model(_write(tmp_path, "partial.pt", partial))
    mat = tmp_path / "other.mat"
    scipy.io.savemat(str(mat), {"x": np.zeros(3)})
    with pytest.raises(ValueError, match="layers"):
        load_model(mat)


def test_offline_box_regressor_round_trip_and_checks(tmp_path: Path) -> None:
    net = _net("efficientnet_lite0", cut="stage3")
    weight = torch.randn(net.feature_dim, 4, dtype=torch.float64)
    bias = torch.tensor([0.1, 0.2, -0.1, 0.0], dtype=torch.float64)
    path = save_model(tmp_path / "r.pt", net, bbox_regressor={"weight": weight, "bias": bias})
    loaded = load_model(path)
    assert torch.equal(loaded.bbox_regressor["weight"], weight)
    assert torch.equal(loaded.bbox_regressor["bias"], bias)
    assert load_model(save_model(tmp_path / "none.pt", net)).bbox_regressor == {}
    blob = torch.load(path, weights_only=True)
    blob["bbox_regressor"]["bias"] = torch.zeros(3)
    torch.save(blob, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="bbox_regressor needs"):
        load_model(tmp_path / "bad.pt")
