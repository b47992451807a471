# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The knobs of one training run that ``TrainOptions`` (the reference numbers) does not hold.

Kept apart from the loop because the command line, the recipe in the model file and the trainer
all read them, and none of them should need the loop to do so.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backbones import DEFAULT_EFFNET_CUT


@dataclass(frozen=True)
class RunOptions:
    """Knobs of one training run that TrainOptions (the reference numbers) does not hold.

    None of these is a reference number: they choose how long, what trains, and how the CPU
    budget is spent. Every one is recorded in the model file's recipe.
    """

    steps: int = 3000  # domain-steps (one domain, frames_per_step frames each)
    # "frozen": backbone fixed, features cached; "last": only the backbone's last stage trains;
    # "all": every conv layer trains (the paper's setting; slow on CPU).
    backbone_mode: str = "frozen"
    pretrained_backbone: bool = True  # ImageNet weights for EfficientNet-Lite0 (none for VGG-M)
    dense: bool = True  # dense (dilated, stride-8) feature map, the paper's "dense map"
    cut: str = DEFAULT_EFFNET_CUT  # EfficientNet-Lite0 stage(s) the map is taken from
    # Cached jitter scales, as exponents of scale_jitter_base; drawn with the probabilities that
    # round(clip(3N, -2, 2)) gives, so the cache reproduces the reference jitter distribution.
    cache_scales: tuple[int, ...] = (-2, -1, 0, 1, 2)
    cache_frame_stride: int = 1  # cache every n-th frame (consecutive frames are near-duplicates)
    cache_dir: str = ""  # where feature caches persist between runs ("" = in memory only)
    max_crop_side: int = 640  # crops of very elongated targets are narrowed to this many px
    fc6_lr_mult: float = 1.0  # multiplier of lr for the per-domain branches
    checkpoint_every: int = 200  # steps between checkpoints (and at the end)
    log_every: int = 10  # steps between log lines
    device: str = "auto"
    threads: int = 2  # torch threads on CPU (the dev machine has 2 shared cores)
    roi_mode: str = ""  # "" = TrainOptions.roi_mode
    # torchrun only: how long a process waits in a collective for the others (a rank that
    # builds a bigger feature cache arrives late at the first gradient all-reduce).
    dist_timeout_s: float = 3600.0

    def __post_init__(self) -> None:
        if self.backbone_mode not in ("frozen", "last", "all"):
            raise ValueError(f"backbone_mode must be frozen, last or all: {self.backbone_mode!r}")
        if self.steps < 1:
            raise ValueError("steps must be >= 1")
        if not self.cache_scales:
            raise ValueError("cache_scales needs at least one exponent")
        if self.dist_timeout_s <= 0:
            raise ValueError("dist_timeout_s must be > 0")
