# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Which network a tracker runs and which options it runs with: the one place they are layered.

The options a tracker ends up with are, in this order:

1. ``options`` when given: a complete ``TrackerOptions``, used as it is;
2. else the options stored in the model file whose network is used (packaged or given), over the
   reference defaults; no model file: the defaults;
3. then ``overrides`` (plain values, as ``--set`` and node parameters give them) on top.

With ``model=None`` the packaged model is used unless ``options``/``overrides`` ask for another
architecture (backbone, cut, dense map): that one is then built untrained rather than silently
replaced by the packaged one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import model_file as mf
from .backbones import DEFAULT_EFFNET_CUT
from .network import RTMDNet
from .options import UNTRAINED, TrackerOptions
from .packaged_models import DEFAULT_MODEL

LOG = logging.getLogger(__name__)

ARCHITECTURE_OPTIONS = ("backbone", "backbone_cut", "dense_map")


@dataclass
class LoadedModel:
    """A network with everything its file brought: effective options and the offline regressor.

    ``head_pretrained``: whether fc4/fc5 come trained (a model file or a caller's network) or
    were drawn at random, which changes the first frame's learning rate.
    """

    net: RTMDNet
    options: TrackerOptions
    head_pretrained: bool = True
    regressor: dict[str, torch.Tensor] = field(default_factory=dict)


def load_model(
    model: Any,
    options: TrackerOptions | None,
    overrides: dict[str, Any],
    device: torch.device,
    seed: int,
) -> LoadedModel:
    """Return the network and the effective options, layered as the module docstring says.

    ``model``: a path, a ``ModelFile``, an ``RTMDNet``, None (the packaged model) or
    ``"untrained"``. A random head is drawn from ``seed``.
    """
    stored: dict[str, Any] = {}
    regressor: dict[str, torch.Tensor] = {}
    pretrained = True
    if isinstance(model, str) and model == UNTRAINED:
        model = None
    elif model is None and DEFAULT_MODEL.exists():
        packaged = mf.load_model(DEFAULT_MODEL, device)
        wanted = _requested_architecture(options, overrides)
        if wanted is None or wanted == _architecture(packaged):
            LOG.info("using the packaged model %s", DEFAULT_MODEL)
            model = packaged
    if isinstance(model, RTMDNet):
        net = model.to(device)
    elif model is None:
        pretrained = False
        arch = (options or TrackerOptions()).with_overrides(overrides).network
        LOG.info("no trained model for %s: its backbone + a seeded random head", arch.backbone)
        gen = torch.Generator().manual_seed(seed)
        net = RTMDNet(backbone=arch.backbone, num_domains=1, roi_mode=arch.roi_mode,
                      dense=arch.dense_map, cut=arch.backbone_cut, generator=gen).to(device)
    else:
        if isinstance(model, (str, Path)):
            model = mf.load_model(model, device)
        elif not isinstance(model, mf.ModelFile):
            raise ValueError(
                f"model must be a path, a ModelFile, an RTMDNet, None or {UNTRAINED!r}, "
                f"got {type(model)!r}"
            )
        net = mf.build_network(model, device, generator=torch.Generator().manual_seed(seed))
        regressor = dict(model.bbox_regressor)
        stored = dict(getattr(model, "tracker_options", None) or {})
    if options is None:
        options = TrackerOptions.from_dict(stored, strict=False)
    options = options.with_overrides(overrides)
    roi_mode = options.network.roi_mode
    if getattr(net, "roi_mode", roi_mode) != roi_mode:
        net.roi_mode = roi_mode
    return LoadedModel(net, options, pretrained, regressor)


def _requested_architecture(
    options: TrackerOptions | None, overrides: dict[str, Any]
) -> tuple[str, str | None, bool] | None:
    """Return the architecture a caller asked for, or None when it asked for none."""
    asked = {k: overrides[k] for k in ARCHITECTURE_OPTIONS if k in overrides}
    if options is None and not asked:
        return None
    return _architecture((options or TrackerOptions()).with_overrides(asked))


def _architecture(source: Any) -> tuple[str, str | None, bool]:
    """(backbone, EfficientNet cut, dense) of options or a model file: what the weights fit.

    RoI pooling is left out on purpose: a trained head runs with any of the three poolings.
    """
    if isinstance(source, TrackerOptions):
        net = source.network
        backbone, cut, dense = net.backbone, net.backbone_cut, net.dense_map
    else:
        opts = source.backbone_options
        backbone = source.backbone
        cut, dense = opts.get("cut", DEFAULT_EFFNET_CUT), bool(opts.get("dense", True))
    return backbone, (cut if backbone == "efficientnet_lite0" else None), dense
