# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The RT-MDNet network: backbone -> RoI pooling -> fc4 -> fc5 -> one fc6 per domain.

The split into ``feature_map``, ``pool_rois`` and ``head`` mirrors how the tracker uses it: one
backbone pass per scene crop, then hundreds of RoIs pooled from that map, then the cheap fc head
(the only part trained online, on cached RoI features).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .backbones import DEFAULT_EFFNET_CUT, build_backbone
from .options import ROI_MODES
from .roi_align import RoiMode, roi_features

FC_WIDTH = 512  # fc4 / fc5 width (reference section 1)
DROPOUT = 0.5  # before fc5 and fc6 (reference section 1)
FC6_STD = 0.01  # fc6 init: N(0, 0.01), zero bias (MDNet-style small init of the domain layer)


class RTMDNet(nn.Module):
    """Backbone + RoI pooling + fc4/fc5 + per-domain fc6.

    State-dict names: ``backbone.conv1.0.*`` ... for VGG-M (the authors' ``conv1.0.*`` under a
    ``backbone.`` prefix), ``fc4.0.*``, ``fc5.1.*`` exactly as in their checkpoint, and
    ``fc6.<domain>.1.*``.
    """

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        num_domains: int = 1,
        roi_mode: RoiMode = "adaptive",
        dense: bool = True,
        pretrained_backbone: bool = True,
        cut: str = DEFAULT_EFFNET_CUT,
        generator: torch.Generator | None = None,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if roi_mode not in ROI_MODES:
            raise ValueError(f"unknown roi_mode {roi_mode!r}; use one of {ROI_MODES}")
        if num_domains < 1:
            raise ValueError(f"num_domains must be >= 1, got {num_domains}")
        self.backbone_name = backbone
        self.roi_mode = roi_mode
        self.dense = dense
        self.cut = cut
        self.channels_last = channels_last
        # Layer constructors draw default inits from the global RNG; fork it so building a
        # network never changes anyone else's random stream (our inits use ``generator``).
        with torch.random.fork_rng(devices=[]):
            self.backbone = build_backbone(
                backbone, dense=dense, cut=cut, pretrained=pretrained_backbone, generator=generator
            )
            self.fc4 = nn.Sequential(nn.Linear(self.feature_dim, FC_WIDTH), nn.ReLU(inplace=True))
            self.fc5 = nn.Sequential(
                nn.Dropout(DROPOUT), nn.Linear(FC_WIDTH, FC_WIDTH), nn.ReLU(inplace=True)
            )
        self.fc6 = nn.ModuleList()
        self._init_shared_head(generator)
        self.reset_domains(num_domains, generator)
        if channels_last:
            # Measured 1.3x (VGG-M) to 3x (EfficientNet depthwise convs) faster on CPU.
            self.backbone.to(memory_format=torch.channels_last)

    # -- properties the geometry and the tracker rely on -------------------------------------
    @property
    def stride(self) -> int:
        """Input pixels per feature cell (8 for the dense backbones)."""
        return int(self.backbone.stride)

    @property
    def rf_offset(self) -> int:
        """Pixels the box -> RoI mapping subtracts from the far box edge (reference 3)."""
        return int(self.backbone.rf_offset)

    @property
    def receptive_field(self) -> int:
        """Theoretical receptive field of one feature cell, in input pixels."""
        return int(self.backbone.receptive_field)

    @property
    def out_channels(self) -> int:
        """Channels of the feature map."""
        return int(self.backbone.out_channels)

    @property
    def feature_dim(self) -> int:
        """Length of one RoI feature: channels x 3 x 3 (4608 for VGG-M)."""
        return self.out_channels * 9

    @property
    def num_domains(self) -> int:
        """Number of fc6 branches."""
        return len(self.fc6)

    @property
    def backbone_options(self) -> dict:
        """What the model file records to rebuild the same backbone (see model_file.py)."""
        opts: dict = {"dense": self.dense, "roi_mode": self.roi_mode}
        if self.backbone_name == "efficientnet_lite0":
            opts["cut"] = self.cut
        return opts

    # -- init ---------------------------------------------------------------------------------
    def _init_shared_head(self, generator: torch.Generator | None) -> None:
        """He-normal fc4/fc5, zero bias.

        The default tracker starts from a random fc4/fc5 and trains them online for a few dozen
        steps at lr 1e-4; a variance-preserving init keeps the random projection of the backbone
        features informative, whereas a N(0, 0.01) init would shrink them towards a constant.
        """
        for layer in (self.fc4[0], self.fc5[1]):
            with torch.no_grad():
                layer.weight.normal_(0.0, math.sqrt(2.0 / layer.in_features), generator=generator)
                layer.bias.zero_()

    def reset_domains(self, n: int = 1, generator: torch.Generator | None = None) -> None:
        """Replace fc6 by ``n`` fresh branches (fc6 is always new at tracking time)."""
        if n < 1:
            raise ValueError(f"need at least one fc6 branch, got {n}")
        ref = self.fc4[0].weight
        branches = []
        for _ in range(n):
            # Drawn on the CPU, then moved: the seeded generator is a CPU one, and the same
            # draws on every device keep CUDA and CPU runs starting from the same head.
            with torch.random.fork_rng(devices=[]):
                linear = nn.Linear(FC_WIDTH, 2, dtype=ref.dtype)
            with torch.no_grad():
                linear.weight.normal_(0.0, FC6_STD, generator=generator)
                linear.bias.zero_()
            branches.append(nn.Sequential(nn.Dropout(DROPOUT), linear.to(ref.device)))
        self.fc6 = nn.ModuleList(branches)

    def named_backbone_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Return the backbone's parameters: frozen while tracking, trained apart in training."""
        return [(n, p) for n, p in self.named_parameters() if n.startswith("backbone.")]

    # -- forward pieces -----------------------------------------------------------------------
    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone map of RGB float 0..255 NCHW images (normalised here)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected (B, 3, H, W) RGB images, got {tuple(x.shape)}")
        x = self.backbone.normalize(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        # Not cuDNN: it plans anew for every input shape, scene crops change size nearly every
        # frame, and it computes in TF32 (docs/performance.md, "On a GPU"). Scoped to this call.
        if not x.is_cuda:
            return self.backbone(x)
        with torch.backends.cudnn.flags(enabled=False):
            return self.backbone(x)

    def pool_rois(self, fmap: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """(N, 5) RoIs [batch, x1, y1, x2, y2] in crop pixels -> (N, feature_dim)."""
        return roi_features(fmap, rois, spatial_scale=1.0 / self.stride, mode=self.roi_mode)

    def head(self, feats: torch.Tensor, domain: int = 0) -> torch.Tensor:
        """fc4 -> fc5 -> fc6[domain]: (N, feature_dim) -> (N, 2) logits, column 1 = target."""
        if not 0 <= domain < len(self.fc6):
            raise ValueError(f"domain {domain} out of range (network has {len(self.fc6)})")
        return self.fc6[domain](self.fc5(self.fc4(feats)))

    def shared_head(self, feats: torch.Tensor) -> torch.Tensor:
        """fc4 -> fc5 only: (N, 512), for multi-domain losses that need every branch."""
        return self.fc5(self.fc4(feats))

    def forward(self, images: torch.Tensor, rois: torch.Tensor, domain: int = 0) -> torch.Tensor:
        """Score RoIs (crop pixels) on RGB 0..255 images (B, 3, H, W): (N, 2) logits."""
        return self.head(self.pool_rois(self.feature_map(images), rois), domain)
