# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Backbones and the RT-MDNet network: LRN formula, shapes, receptive fields, init, key names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rtmdnet_ros.backbones import (
    VGGM,
    EfficientNetLite0,
    ElementwiseLRN,
    SameConv2d,
    build_backbone,
    load_imagenet_effnet,
)
from rtmdnet_ros.network import RTMDNet
from rtmdnet_ros.roi_align import roi_features

torch.set_num_threads(2)


def test_lrn_hand_computed_values() -> None:
    # y = x / (2 + 1e-4 x^2)^0.75:  x=1 -> 1/2.0001^0.75; x=10 -> 10/2.01^0.75;
    # x=100 -> 100/3^0.75 = 100/2.279507; x=1000 -> 1000/102^0.75 = 1000/32.0960.
    x = torch.tensor([0.0, 1.0, 10.0, -10.0, 100.0, 1000.0])
    want = torch.tensor([0.0, 0.5945813, 5.9238350, -5.9238350, 43.869134, 31.156587])
    assert torch.allclose(ElementwiseLRN()(x), want, rtol=1e-6, atol=1e-6)
    # Element-wise: a big neighbour channel changes nothing (VGG-M's 5-channel LRN would).
    pair = torch.tensor([[[[10.0]], [[1000.0]]]])
    assert ElementwiseLRN()(pair)[0, 0, 0, 0].item() == pytest.approx(5.9238350, rel=1e-6)


@pytest.mark.parametrize(("size", "cells"), [(107, 5), (257, 23), (535, 58)])
def test_vggm_dense_map_sizes(size: int, cells: int) -> None:
    net = VGGM(dense=True).eval()
    with torch.no_grad():
        out = net(torch.zeros(1, 3, size, size))
    assert out.shape == (1, 512, cells, cells)


def test_vggm_numbers_and_plain_variant() -> None:
    dense, plain = VGGM(dense=True), VGGM(dense=False)
    assert (dense.stride, dense.receptive_field, dense.rf_offset) == (8, 75, 75)
    assert (plain.stride, plain.receptive_field) == (16, 75)
    with torch.no_grad():
        assert plain(torch.zeros(1, 3, 107, 107)).shape == (1, 512, 3, 3)  # MDNet's 3x3x512
    assert isinstance(dense.conv3[0], nn.Conv2d) and dense.conv3[0].dilation == (3, 3)
    assert dense.normalize(torch.tensor([200.0, 0.0])).tolist() == [72.0, -128.0]


def _positive_weights(net: nn.Module, weight: float, bias: float) -> None:
    """All-positive weights keep every ReLU active, so gradient support = receptive field."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(weight)
                if m.bias is not None:
                    m.bias.fill_(bias)


def _gradient_support(net: nn.Module, size: int, cell: int) -> tuple[int, int, float]:
    """Columns of the input that reach one output cell (float64: far taps are ~1e-3^30)."""
    net.double()
    x = torch.ones(1, 3, size, size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    out[0, 0, cell, cell].backward()
    cols = (x.grad[0].abs().sum(dim=(0, 1)) > 0).nonzero().flatten()
    first, last = int(cols[0]), int(cols[-1])
    return first, last, (first + last) / 2


def test_vggm_receptive_field_is_measured_75() -> None:
    net = VGGM(dense=True)
    _positive_weights(net, 1e-3, 0.1)
    # Max pool routes gradient to one input only; an average pool has the same geometry.
    net.conv1[3] = nn.AvgPool2d(kernel_size=3, stride=2)
    first, last, centre = _gradient_support(net, 160, 4)
    assert last - first + 1 == 75
    assert first == 8 * 4  # no padding: cell i's field starts at 8 i
    assert centre == 8 * 4 + net.first_centre


def test_effnet_computed_receptive_fields() -> None:
    got = {cut: EfficientNetLite0(cut) for cut in ("stage3", "stage4", "stage5")}
    numbers = {c: (n.receptive_field, n.stride, n.out_channels) for c, n in got.items()}
    assert numbers == {"stage3": (67, 8, 40), "stage4": (147, 8, 80), "stage5": (339, 8, 112)}


@pytest.mark.parametrize(("cut", "rf"), [("stage3", 67), ("stage4", 147)])
def test_effnet_receptive_field_measured(cut: str, rf: int) -> None:
    net = EfficientNetLite0(cut, folded=True)
    _positive_weights(net, 1e-3, 1e-2)  # small: keeps ReLU6 below its cap, gradients alive
    size = rf + 24
    cell = size // 16
    first, last, centre = _gradient_support(net, size, cell)
    assert last - first + 1 == rf
    assert net.first_centre == 7.0
    assert centre == 8 * cell + 7  # TF-style stride-2 padding: cell i centred on pixel 8 i + 7


@pytest.mark.parametrize(("kernel", "before", "after"), [(3, 0, 1), (5, 1, 2)])
@pytest.mark.parametrize("size", [20, 21])
def test_same_conv_equals_explicit_tf_padding(kernel: int, before: int, after: int,
                                              size: int) -> None:
    conv = SameConv2d(4, 4, kernel, 2, groups=4, bias=True)
    x = torch.randn(1, 4, size, size)
    want = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, (before, after, before, after)), conv.weight, conv.bias,
        stride=2, groups=4,
    )
    got = conv(x)
    assert got.shape == want.shape == (1, 4, size // 2, size // 2)
    assert torch.allclose(got, want, atol=1e-6)


def test_effnet_map_size_is_floor_input_over_8() -> None:
    net = EfficientNetLite0("stage4").eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 280, 280)).shape == (1, 80, 35, 35)
        # Stride-2 layers pad as TF does for even sizes: floor(size / 8) cells.
        assert net(torch.zeros(1, 3, 107, 131)).shape == (1, 80, 13, 16)


def test_effnet_imagenet_weights_fold_exactly() -> None:
    raw = load_imagenet_effnet("stage4", fold=False).eval()
    folded = raw.fold_batchnorm().eval()
    assert folded.folded and not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    gen = torch.Generator().manual_seed(0)
    x = raw.normalize(torch.rand(1, 3, 96, 112, generator=gen) * 255)
    with torch.no_grad():
        a, b = raw(x), folded(x)
    assert a.abs().mean() > 0.1  # real weights give a real signal
    assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    # Normalisation constants of the TF Lite weights: (x - 127) / 128.
    assert raw.normalize(torch.tensor([127.0, 255.0])).tolist() == [0.0, 1.0]


def test_effnet_batchnorm_stays_frozen_in_train_mode() -> None:
    raw = load_imagenet_effnet("stage3", fold=False)
    raw.train()
    bns = [m for m in raw.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    before = bns[0].running_mean.clone()
    raw(torch.randn(2, 3, 64, 64) * 3)
    assert torch.equal(before, bns[0].running_mean)


def test_unknown_backbone_and_cut_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("resnet")
    with pytest.raises(ValueError, match="cut"):
        EfficientNetLite0("stage9")


def _real_crop(size: int):
    """A size x size RGB crop of matplotlib's bundled photograph (real image statistics)."""
    import cv2
    from matplotlib import cbook

    bgr = cv2.imread(str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    assert bgr is not None
    return cv2.resize(bgr, (size, size))[:, :, ::-1].copy()


@pytest.mark.parametrize("cut", ["stage4", "stage5"])
def test_effnet_plain_map_is_the_dense_one_subsampled(cut: str) -> None:
    """dense=False (paper's ablation) keeps stride 16 with the same ImageNet weights.

    Atrous conversion is exact: cell i of the stride-16 map sees the input centred on 16 i + 15,
    cell 2 i + 1 of the dense map, and computes the same numbers there (away from the borders,
    where the two paddings differ); the even dense cells are the ones the plain map skips.
    """
    dense = build_backbone("efficientnet_lite0", cut=cut)
    plain = build_backbone("efficientnet_lite0", cut=cut, dense=False)
    assert (dense.stride, plain.stride) == (8, 16)
    assert plain.receptive_field == dense.receptive_field
    assert plain.first_centre == 15.0 and plain.rf_offset > dense.rf_offset
    img = torch.as_tensor(_real_crop(257), dtype=torch.float32).permute(2, 0, 1)[None]
    with torch.no_grad():
        fd = dense(dense.normalize(img))
        fp = plain(plain.normalize(img))
    assert fp.shape[-1] == img.shape[-1] // 16
    inner = slice(3, fp.shape[-1] - 3)
    odd = fd[..., 1::2, 1::2][..., inner, inner]
    assert fp.abs().mean() > 0.1
    assert torch.allclose(fp[..., inner, inner], odd, atol=1e-4, rtol=1e-4)
    even = fd[..., 0::2, 0::2][..., inner, inner]
    assert not torch.allclose(fp[..., inner, inner], even, atol=1e-2)


def _net(seed: int, **kw) -> RTMDNet:
    return RTMDNet(generator=torch.Generator().manual_seed(seed), **kw)


def test_rtmdnet_vggm_shapes_and_checkpoint_key_names() -> None:
    net = _net(0, backbone="vggm", num_domains=3).eval()
    assert (net.stride, net.rf_offset, net.feature_dim, net.num_domains) == (8, 75, 4608, 3)
    keys = set(net.state_dict())
    for key in ("conv1.0.weight", "conv2.0.bias", "conv3.0.weight"):
        assert f"backbone.{key}" in keys
    assert {"fc4.0.weight", "fc4.0.bias", "fc5.1.weight", "fc5.1.bias"} <= keys
    assert {"fc6.0.1.weight", "fc6.2.1.bias"} <= keys
    assert isinstance(net.fc5[0], nn.Dropout) and isinstance(net.fc6[0][0], nn.Dropout)
    images = torch.rand(2, 3, 107, 107) * 255
    rois = torch.tensor([[0.0, 0.0, 0.0, 106.0, 106.0], [1.0, 10.0, 20.0, 90.0, 100.0]])
    with torch.no_grad():
        fmap = net.feature_map(images)
        feats = net.pool_rois(fmap, rois)
        logits = net.head(feats, domain=2)
    assert fmap.shape == (2, 512, 5, 5)
    assert feats.shape == (2, 4608) and logits.shape == (2, 2)
    assert torch.equal(feats, roi_features(fmap, rois, 1 / 8, "adaptive"))
    with pytest.raises(ValueError, match="domain"):
        net.head(feats, domain=3)
    with pytest.raises(ValueError, match="RGB"):
        net.feature_map(torch.zeros(1, 107, 107, 3))


def test_rtmdnet_effnet_default() -> None:
    net = _net(0).eval()
    assert net.backbone_name == "efficientnet_lite0"
    assert (net.cut, net.stride, net.out_channels, net.feature_dim) == ("stage3+4", 8, 120, 1080)
    assert net.rf_offset == net.backbone.rf_offset
    with torch.no_grad():
        fmap = net.feature_map(torch.rand(1, 3, 280, 280) * 255)
    assert fmap.shape == (1, 120, 35, 35)
    rois = torch.tensor([[0.0, 76.0, 76.0, 204.0, 204.0]])
    with torch.no_grad():
        out = net.head(net.pool_rois(fmap, rois))
    assert out.shape == (1, 2) and torch.isfinite(out).all()


def test_seeded_init_is_deterministic_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a, b, c = _net(7, backbone="vggm"), _net(7, backbone="vggm"), _net(8, backbone="vggm")
    assert torch.equal(torch.get_rng_state(), state)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert not torch.equal(a.fc4[0].weight, c.fc4[0].weight)
    assert not torch.equal(a.backbone.conv1[0].weight, c.backbone.conv1[0].weight)


def test_reset_domains_gives_fresh_seeded_fc6() -> None:
    net = _net(0, backbone="efficientnet_lite0", num_domains=4)
    fc4 = net.fc4[0].weight.clone()
    net.reset_domains(1, torch.Generator().manual_seed(5))
    first = net.fc6[0][1].weight.clone()
    net.reset_domains(1, torch.Generator().manual_seed(5))
    assert net.num_domains == 1 and torch.equal(first, net.fc6[0][1].weight)
    assert torch.equal(fc4, net.fc4[0].weight)  # shared layers untouched
    assert net.fc6[0][1].bias.abs().sum() == 0
    assert 0.005 < first.std().item() < 0.015  # N(0, 0.01)
    with pytest.raises(ValueError):
        net.reset_domains(0)


def test_dropout_only_in_train_mode() -> None:
    net = _net(0, backbone="efficientnet_lite0")
    feats = torch.rand(64, net.feature_dim)
    net.eval()
    assert torch.equal(net.head(feats), net.head(feats))
    net.train()
    torch.manual_seed(0)
    assert not torch.equal(net.head(feats), net.head(feats))


@pytest.mark.parametrize("mode", ["adaptive", "align", "pool"])
def test_roi_modes_run_through_network(mode: str) -> None:
    net = _net(0, backbone="efficientnet_lite0", roi_mode=mode).eval()
    with torch.no_grad():
        fmap = net.feature_map(torch.rand(1, 3, 120, 120) * 255)
        out = net.head(net.pool_rois(fmap, torch.tensor([[0.0, 10.0, 10.0, 90.0, 100.0]])))
    assert out.shape == (1, 2)
    with pytest.raises(ValueError, match="roi_mode"):
        RTMDNet("vggm", roi_mode="bogus")  # type: ignore[arg-type]
