# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""NanoTrack v3's Siamese network as a PyTorch module, so that it can be trained and exported here.

Why: the box refiner and the composite tracker run NanoTrack v3's network as two ONNX
files (``nanotrack_backbone.onnx``, ``nanotrack_head.onnx``). To ship a network trained here we
need it as a module that loads the upstream weights (HonglinChu/SiamTrackers@248663f,
``nanotrackv3.pth``, Apache-2.0) strictly, reproduces the upstream ONNX outputs, can be
fine-tuned and writes the same two ONNX files back (same names, inputs and outputs).

Written here from the layer facts in ``../shared/models/README.md`` (backbone) and the structure
of the upstream ONNX head graph and the checkpoint's ``neck.*`` / ``ban_head.*`` keys (head):

- **Backbone** (``backbone.features.0..9``): MobileNetV3-Small layout, stride 16, 96 channels;
  input BGR float 0..255, no normalisation. Squeeze-excite pools over the whole input, so the
  template (127 px) and search (255 px) features depend on the crop size.
- **Neck** (``neck.downsample``: 1x1 conv + BN, 96 -> 96): present in the checkpoint but *not*
  in upstream's inference graph (the backbone ONNX ends at ``features.9``'s projection; checked
  numerically in the tests). Kept so the checkpoint loads strictly, never called.
- **Head** (``ban_head``), inputs template features z (96x8x8) and search features x (96x16x16),
  one branch each for classification and box:

  * point-wise correlation: 1x1 conv + BN on z and on x, every template cell's 96-vector dotted
    with every search cell (64 maps of 16x16), channel attention (global pool, 1x1 conv, ReLU,
    1x1 conv, sigmoid, product), 2x2 depthwise conv + BN + ReLU6, 1x1 conv + BN -> 64x15x15;
  * depthwise correlation: 1x1 conv + BN on the template's centre 4x4 cells and on x, each of
    the 96 template channels slid over its search channel (4x4 kernel, padding 1) -> 96x15x15;
  * the two concatenated (160 channels), a 1x1 conv back to 96 (``down_cls`` / ``down_reg``);
  * a tower of six (3x3 depthwise conv + BN + ReLU6, 1x1 conv + BN) blocks;
  * ``cls_logits`` (1x1, 2 channels: background, target) and ``bbox_pred`` (1x1, 4 channels,
    then exp: left, top, right, bottom distances in search-crop pixels from each cell's point).

  Cell (i, j) of the 15x15 grid sits at ((j - 7) * 16, (i - 7) * 16) px from the search-crop
  centre (see ``siamese_refiner``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import safe_torch_load

LOG = logging.getLogger(__name__)

UPSTREAM_CHECKPOINT = "nanotrackv3.pth"
BACKBONE_ONNX = "nanotrack_backbone.onnx"
HEAD_ONNX = "nanotrack_head.onnx"
# The network fine-tuned here, shipped in the package: its two ONNX files (what the tracker
# loads) and its PyTorch weights (what the tests compare them with, and a start for further
# fine-tuning), with NOTICE and LICENSE (Apache-2.0, upstream's licence).
SHIPPED_WEIGHTS = "nanotrack_v3_finetuned.pth"
FEATURE_CHANNELS = 96
STRIDE = 16
# The template's centre cells used by the depthwise correlation (upstream graph: rows and
# columns 2:6 of the 8x8 template map, a 4x4 kernel over the 16x16 search map, padding 1).
DW_KERNEL_START, DW_KERNEL_SIZE = 2, 4
# Point-wise correlation width (one map per template cell of the 8x8 template map).
PW_CHANNELS = 64

# MobileNetV3-Small blocks features.1..9 (README): depthwise kernel, expansion, out channels,
# squeeze-excite, hard-swish (else ReLU), stride.
BLOCKS: tuple[tuple[int, float, int, bool, bool, int], ...] = (
    (3, 1.0, 16, True, False, 2),
    (3, 4.5, 24, False, False, 2),
    (3, 3.67, 24, False, False, 1),
    (5, 4.0, 40, True, True, 2),
    (5, 6.0, 40, True, True, 1),
    (5, 6.0, 40, True, True, 1),
    (5, 3.0, 48, True, True, 1),
    (5, 3.0, 48, True, True, 1),
    (5, 6.0, 96, True, True, 1),
)
STEM_CHANNELS = 16


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of ``divisor``, never below 90 % of ``value`` (README)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _activation(hard_swish: bool) -> nn.Module:
    return nn.Hardswish() if hard_swish else nn.ReLU()


class SqueezeExcite(nn.Module):
    """Channel gate: global average pool, Linear, ReLU, Linear, hard-sigmoid, product."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = make_divisible(channels / 4)
        self.fc = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(),
                                nn.Linear(hidden, channels), nn.Hardsigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel by a gate computed from the whole map's mean."""
        gate = self.fc(x.mean(dim=(2, 3)))
        return x * gate[:, :, None, None]


class InvertedResidual(nn.Module):
    """MobileNetV3 block; layer indices inside ``conv`` follow the upstream checkpoint keys."""

    def __init__(self, in_ch: int, kernel: int, expansion: float, out_ch: int, se: bool,
                 hard_swish: bool, stride: int) -> None:
        super().__init__()
        hidden = make_divisible(in_ch * expansion)
        self.residual = stride == 1 and in_ch == out_ch
        pad = (kernel - 1) // 2
        depthwise = nn.Conv2d(hidden, hidden, kernel, stride, pad, groups=hidden, bias=False)
        gate: nn.Module = SqueezeExcite(hidden) if se else nn.Identity()
        if hidden == in_ch:
            layers = [depthwise, nn.BatchNorm2d(hidden), _activation(hard_swish), gate,
                      nn.Conv2d(hidden, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch)]
        else:
            layers = [nn.Conv2d(in_ch, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
                      _activation(hard_swish), depthwise, nn.BatchNorm2d(hidden), gate,
                      _activation(hard_swish), nn.Conv2d(hidden, out_ch, 1, bias=False),
                      nn.BatchNorm2d(out_ch)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Block output, plus the input when shapes allow (stride 1, same width)."""
        y = self.conv(x)
        return x + y if self.residual else y


class Backbone(nn.Module):
    """NanoTrack v3's MobileNetV3-Small trunk: BGR 0..255 (N, 3, S, S) -> (N, 96, S/16, S/16)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(
            nn.Conv2d(3, STEM_CHANNELS, 3, 2, 1, bias=False), nn.BatchNorm2d(STEM_CHANNELS),
            nn.Hardswish())]
        in_ch = STEM_CHANNELS
        for kernel, expansion, out_ch, se, hs, stride in BLOCKS:
            layers.append(InvertedResidual(in_ch, kernel, expansion, out_ch, se, hs, stride))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a crop (any size; 127 -> 8x8, 255 -> 16x16 at stride 16, padding 1)."""
        return self.features(x)


class Neck(nn.Module):
    """Upstream's adjust layer (1x1 conv + BN); loaded for strictness, unused at inference."""

    def __init__(self, channels: int = FEATURE_CHANNELS) -> None:
        super().__init__()
        self.downsample = nn.Sequential(nn.Conv2d(channels, channels, 1, bias=False),
                                        nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the adjusted features (not part of upstream's exported inference graph)."""
        return self.downsample(x)


def _conv_bn(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.BatchNorm2d(out_ch))


class ChannelAttention(nn.Module):
    """Gate on the point-wise correlation maps: pool, 1x1 conv, ReLU, 1x1 conv, sigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels, 1)
        self.fc2 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each correlation map by a gate from all maps' means."""
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))
        return x * gate


class PointwiseCorrelation(nn.Module):
    """Every template cell against every search cell: 64 maps, attention, conv -> 64x15x15."""

    def __init__(self, channels: int = FEATURE_CHANNELS, maps: int = PW_CHANNELS) -> None:
        super().__init__()
        self.conv_kernel = _conv_bn(channels, channels)
        self.conv_search = _conv_bn(channels, channels)
        self.CA_layer = ChannelAttention(maps)  # noqa: N815 (upstream checkpoint key)
        self.conv = nn.Sequential(
            nn.Conv2d(maps, maps, 2, groups=maps, bias=False), nn.BatchNorm2d(maps), nn.ReLU6(),
            nn.Conv2d(maps, maps, 1), nn.BatchNorm2d(maps))

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Correlate template ``z`` (N, C, 8, 8) with search ``x`` (N, C, H, W)."""
        kernel = self.conv_kernel(z).flatten(2).transpose(1, 2)  # N, 64, C
        search = self.conv_search(x)
        corr = torch.bmm(kernel, search.flatten(2))  # N, 64, H*W
        corr = corr.reshape(search.shape[0], -1, search.shape[2], search.shape[3])
        return self.conv(self.CA_layer(corr))


class DepthwiseCorrelation(nn.Module):
    """Each channel of the template's centre 4x4 cells slid over its search channel."""

    def __init__(self, channels: int = FEATURE_CHANNELS) -> None:
        super().__init__()
        self.conv_kernel = _conv_bn(channels, channels)
        self.conv_search = _conv_bn(channels, channels)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Correlate the template centre with search ``x`` -> (N, C, H - 1, W - 1)."""
        end = DW_KERNEL_START + DW_KERNEL_SIZE
        kernel = self.conv_kernel(z[:, :, DW_KERNEL_START:end, DW_KERNEL_START:end])
        search = self.conv_search(x)
        n, c, h, w = search.shape
        # Batch folded into channels: one grouped conv correlates every pair with its own kernel.
        out = F.conv2d(search.reshape(1, n * c, h, w),
                       kernel.reshape(n * c, 1, DW_KERNEL_SIZE, DW_KERNEL_SIZE),
                       padding=1, groups=n * c)
        return out.reshape(n, c, out.shape[2], out.shape[3])


def _tower(channels: int = FEATURE_CHANNELS, blocks: int = 6) -> nn.Sequential:
    layers: list[nn.Module] = []
    for _ in range(blocks):
        layers += [nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                   nn.BatchNorm2d(channels), nn.ReLU6(),
                   nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)]
    return nn.Sequential(*layers)


class Head(nn.Module):
    """NanoTrack v3's anchor-free head: (z, x) -> (cls logits N x 2, ltrb))."""

    def __init__(self, channels: int = FEATURE_CHANNELS) -> None:
        super().__init__()
        both = PW_CHANNELS + channels
        self.corr_pw_cls = PointwiseCorrelation(channels)
        self.corr_dw_cls = DepthwiseCorrelation(channels)
        self.corr_pw_reg = PointwiseCorrelation(channels)
        self.corr_dw_reg = DepthwiseCorrelation(channels)
        self.down_cls = nn.Sequential(nn.Conv2d(both, channels, 1))
        self.down_reg = nn.Sequential(nn.Conv2d(both, channels, 1))
        self.cls_tower = _tower(channels)
        self.bbox_tower = _tower(channels)
        self.cls_logits = nn.Sequential(nn.Conv2d(channels, 2, 1))
        self.bbox_pred = nn.Sequential(nn.Conv2d(channels, 4, 1))

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Classification logits (channel 1 = target) and positive ltrb distances (crop px)."""
        cls = self.down_cls(torch.cat([self.corr_pw_cls(z, x), self.corr_dw_cls(z, x)], 1))
        reg = self.down_reg(torch.cat([self.corr_pw_reg(z, x), self.corr_dw_reg(z, x)], 1))
        logits = self.cls_logits(self.cls_tower(cls))
        ltrb = torch.exp(self.bbox_pred(self.bbox_tower(reg)))
        return logits, ltrb


class NanoTrackV3(nn.Module):
    """Backbone + (unused) neck + head, with the upstream checkpoint's key names."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = Backbone()
        self.neck = Neck()
        self.ban_head = Head()

    def features(self, crops_bgr: torch.Tensor) -> torch.Tensor:
        """Backbone features of BGR float 0..255 crops, as upstream's backbone ONNX computes."""
        return self.backbone(crops_bgr)

    def forward(self, template_bgr: torch.Tensor, search_bgr: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Template (N, 3, 127, 127) and search (N, 3, 255, 255) crops -> (logits, ltrb)."""
        return self.ban_head(self.features(template_bgr), self.features(search_bgr))


def load_upstream(path: str | Path) -> NanoTrackV3:
    """Build the network and load upstream's ``nanotrackv3.pth`` strictly (every key, shape)."""
    checkpoint = safe_torch_load.load(path)
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a NanoTrack checkpoint (no state_dict)")
    net = NanoTrackV3()
    net.load_state_dict(state, strict=True)
    return net.eval()


def load_state(path: str | Path) -> NanoTrackV3:
    """Load a network saved by ``save_state`` (or upstream's checkpoint: same keys)."""
    return load_upstream(path)


def save_state(net: NanoTrackV3, path: str | Path, extra: dict | None = None) -> None:
    """Save the state dict under ``state_dict`` (upstream's layout), plus ``extra`` metadata.

    Only tensors and plain metadata: no optimizer state, so the shipped file stays small.
    """
    payload = {"state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()}}
    payload.update(extra or {})
    torch.save(payload, str(path))


class _HeadForExport(nn.Module):
    def __init__(self, head: Head) -> None:
        super().__init__()
        self.head = head

    def forward(self, input1: torch.Tensor, input2: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(input1, input2)


@dataclass(frozen=True)
class ExportSettings:
    """ONNX export settings. ``opset``: upstream's files are opset 14, which OpenCV dnn reads."""

    opset: int = 14
    dynamic_backbone_size: bool = True  # backbone input H, W symbolic (127 and 255 px both)


def export_onnx(net: NanoTrackV3, out_dir: str | Path,
                settings: ExportSettings | None = None) -> tuple[Path, Path]:
    """Write ``nanotrack_backbone.onnx`` and ``nanotrack_head.onnx`` in upstream's I/O format.

    Backbone: ``input`` (1, 3, H, W) -> ``output`` (1, 96, H/16, W/16); head: ``input1``
    (1, 96, 8, 8), ``input2`` (1, 96, 16, 16) -> ``output1`` (1, 2, 15, 15), ``output2``
    (1, 4, 15, 15). Batch 1, as upstream (the depthwise correlation folds the batch into the
    channels, so a batch size is part of the graph). Batch norm is folded by the exporter
    (eval mode, constant folding), as in upstream's files.
    """
    settings = settings or ExportSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = net.eval()
    backbone_path, head_path = out / BACKBONE_ONNX, out / HEAD_ONNX
    dynamic = ({"input": {2: "height", 3: "width"}, "output": {2: "fh", 3: "fw"}}
               if settings.dynamic_backbone_size else None)
    with torch.no_grad():
        torch.onnx.export(net.backbone, (torch.zeros(1, 3, 255, 255),), str(backbone_path),
                          input_names=["input"], output_names=["output"],
                          dynamic_axes=dynamic, opset_version=settings.opset,
                          do_constant_folding=True, dynamo=False)
        # The wrapper must be in eval mode too: the exporter restores the wrapper's mode on
        # every submodule afterwards, which would leave the head's batch norm training.
        torch.onnx.export(_HeadForExport(net.ban_head).eval(),
                          (torch.zeros(1, FEATURE_CHANNELS, 8, 8),
                           torch.zeros(1, FEATURE_CHANNELS, 16, 16)),
                          str(head_path), input_names=["input1", "input2"],
                          output_names=["output1", "output2"], opset_version=settings.opset,
                          do_constant_folding=True, dynamo=False)
    net.eval()
    LOG.info("exported %s and %s", backbone_path, head_path)
    return backbone_path, head_path


def trainable_parameters(net: NanoTrackV3, train_from_block: int
                         ) -> Iterable[tuple[str, nn.Parameter]]:
    """Freeze backbone blocks before ``features.train_from_block``; yield the rest (not neck).

    Why: on 2 CPU cores and ten training videos, only the late backbone blocks and the head can
    be adapted without forgetting what upstream learnt from millions of pairs.
    """
    for name, param in net.named_parameters():
        trainable = name.startswith("ban_head.")
        if name.startswith("backbone.features."):
            trainable = int(name.split(".")[2]) >= train_from_block
        param.requires_grad_(trainable)
        if trainable:
            yield name, param
