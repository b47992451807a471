# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Multi-domain pretraining loop (reference section 9), seeded and resumable.

Each step takes one domain (video), 8 of its frames, 64 positive and 196 negative boxes per frame,
and adds binary loss + alpha * instance loss to the accumulated gradient; every
`accumulate_domains` steps the summed gradient is clipped and applied (SGD). Domains are visited
in shuffled cycles so each accumulation window sees every domain equally often.

With a frozen backbone the conv features of a frame do not change during training, so they are
computed once per (frame, jitter scale) and kept in memory (and on disk, for the next run): the
steps then cost only RoI pooling and the fc head, which makes hours of CPU work minutes.

Under ``torchrun`` the same loop runs as one process per device with the domains sharded across
them and the window's gradient summed by DistributedDataParallel (``distributed.py`` says what is
shared; ``Trainer`` says how the gradient synchronisation fits the accumulation).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..backbones import DEFAULT_EFFNET_CUT
from ..crop import crop_scene, to_tensor
from ..device import resolve_device
from ..geometry import samples_to_rois, xywh_to_x1y1x2y2
from ..options import TrainOptions
from ..sampling import SampleGenerator, gen_samples
from .data import Domain
from .distributed import (
    SINGLE,
    DistContext,
    all_reduce_sum,
    gather_to_main,
    local_window,
    owned_domains,
    rank_seeds,
    sum_allreduce_hook,
    update_window,
)
from .losses import binary_loss, instance_loss, pick_instance_branches, step_accuracy

LOG = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.jsonl"


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


@dataclass
class TrainResult:
    """What a finished (or resumed-and-finished) run leaves behind."""

    net: torch.nn.Module
    step: int
    history: list[dict[str, Any]] = field(default_factory=list)


def jitter_exponent_probs(opts: TrainOptions, exponents: Sequence[int]) -> np.ndarray:
    """P(round(clip(std*N, -clip, clip)) == e) for each cached exponent e (renormalised).

    The reference draws a continuous jitter 1.1^clip(3N, -2, 2); about half of the mass sits on
    the clipped ends. A cache can only hold a few scales, so each gets the probability of the
    continuous draws that round to it.
    """
    from statistics import NormalDist

    nd = NormalDist()
    c, s = opts.scale_jitter_clip, opts.scale_jitter_std
    probs = []
    for e in exponents:
        lo, hi = e - 0.5, e + 0.5
        lo_p = 0.0 if lo <= -c else nd.cdf(lo / s)
        hi_p = 1.0 if hi >= c else nd.cdf(hi / s)
        probs.append(max(hi_p - lo_p, 0.0))
    p = np.asarray(probs, dtype=np.float64)
    if p.sum() <= 0:
        p = np.ones(len(exponents))
    return p / p.sum()


def context_scene_box(box_xywh: np.ndarray, opts: TrainOptions, img_wh) -> np.ndarray:
    """Region that holds every positive and negative sample of a frame, fixed per frame.

    The reference crops the union of the step's padded samples; fixing the region to its largest
    possible extent (negatives move up to neg_trans*mean(w,h), grow by neg_scale*sqrt(aspect),
    then padding) gives the same pixels-per-target scale and lets the crop be cached. Samples are
    kept inside the image (`valid`), so the region never needs to reach past it.
    """
    x, y, w, h = (float(v) for v in box_xywh)
    cx, cy = x + w / 2.0, y + h / 2.0
    m = (w + h) / 2.0
    grow = opts.neg_scale * math.sqrt(opts.neg_aspect) * opts.padding / 2.0
    half_w = opts.neg_trans * m + grow * w
    half_h = opts.neg_trans * m + grow * h
    x1, x2 = max(cx - half_w, 0.0), min(cx + half_w, float(img_wh[0]))
    y1, y2 = max(cy - half_h, 0.0), min(cy + half_h, float(img_wh[1]))
    # The target itself (padded) must always be inside, even when it leaves the image.
    pad = xywh_to_x1y1x2y2(np.array([x - w * 0.1, y - h * 0.1, w * 1.2, h * 1.2]))
    x1, y1 = min(x1, pad[0]), min(y1, pad[1])
    x2, y2 = max(x2, pad[2]), max(y2, pad[3])
    return np.array([x1, y1, x2 - x1, y2 - y1])


def limit_scene(scene: np.ndarray, box_xywh, target_scale, max_side: int) -> np.ndarray:
    """Narrow the scene around the target so no crop side exceeds `max_side` px."""
    out = scene.copy()
    x, y, w, h = (float(v) for v in box_xywh)
    centre = (x + w / 2.0, y + h / 2.0)
    for axis in (0, 1):
        side_px = out[2 + axis] * target_scale[axis]
        if side_px > max_side:
            keep = max_side / target_scale[axis]
            lo = min(max(out[axis], centre[axis] - keep / 2.0), out[axis] + out[2 + axis] - keep)
            out[axis] = lo
            out[2 + axis] = keep
    return out


@dataclass
class FrameView:
    """One frame at one scale as the head sees it: a feature map and how to map boxes into it."""

    fmap: torch.Tensor  # (1, C, H, W) float
    scene: np.ndarray  # xywh image region that the crop covers
    target_wh: np.ndarray  # gt box size, image px
    img_size: float  # px the unpadded target spans in the crop (107 * jitter)


class FeatureSource:
    """Turns (domain, frame, jitter exponent) into a FrameView, running or caching the backbone.

    Only the `owned` domains (default: all) are read and cached: a distributed run's process
    serves the steps of its own shard, and caching the others would cost every process the
    whole dataset's backbone pass.
    """

    def __init__(
        self,
        net,
        domains: Sequence[Domain],
        opts: TrainOptions,
        run: RunOptions,
        device: torch.device,
        owned: Sequence[int] | None = None,
    ) -> None:
        self.net = net
        self.domains = domains
        self.opts = opts
        self.run = run
        self.device = device
        self.owned = list(range(len(domains))) if owned is None else [int(d) for d in owned]
        self.cached = run.backbone_mode == "frozen"
        self._cache: dict[tuple[int, int, int], tuple] = {}
        self._img_wh = {d: self._image_wh(domains[d]) for d in self.owned}

    @staticmethod
    def _image_wh(domain: Domain) -> tuple[int, int]:
        img = domain.image(0)
        return img.shape[1], img.shape[0]

    def frame_indices(self, d: int) -> np.ndarray:
        """Frames of domain d that steps may draw (all, or every n-th when caching)."""
        n = len(self.domains[d])
        stride = self.run.cache_frame_stride if self.cached else 1
        return np.arange(0, n, max(1, stride))

    def _geometry(self, d: int, f: int, scale: float):
        box = self.domains[d].boxes[f]
        opts = self.opts
        scene = context_scene_box(box, opts, self._img_wh[d])
        img_size = opts.img_size * scale
        target_scale = img_size / box[2:]
        scene = limit_scene(scene, box, target_scale, self.run.max_crop_side)
        out_w = max(int(math.floor(scene[2] * target_scale[0])), 2)
        out_h = max(int(math.floor(scene[3] * target_scale[1])), 2)
        return box, scene, img_size, (out_w, out_h)

    def _compute(self, d: int, f: int, scale: float, image: np.ndarray | None = None):
        box, scene, img_size, out_wh = self._geometry(d, f, scale)
        if image is None:
            image = self.domains[d].image(f)
        crop = crop_scene(image, scene, out_wh)
        fmap = self.net.feature_map(to_tensor(crop, self.device))
        return fmap, scene, np.asarray(box[2:], dtype=np.float64), img_size

    def build_cache(self, progress: Callable | None = None) -> None:
        """Run the frozen backbone once over every (cached frame, scale); reuse a disk copy."""
        if not self.cached:
            return
        path = self._cache_file()
        if path is not None and path.is_file():
            blob = torch.load(path, map_location="cpu", weights_only=False)
            self._cache = blob["entries"]
            LOG.info("feature cache loaded from %s (%d entries)", path, len(self._cache))
            return
        jobs = [(d, int(f)) for d in self.owned for f in self.frame_indices(d)]
        bar = progress(total=len(jobs), desc="feature cache") if progress else None
        with torch.no_grad():
            for d, f in jobs:
                image = self.domains[d].image(f)
                for e in self.run.cache_scales:
                    scale = self.opts.scale_jitter_base ** e
                    fmap, scene, twh, img_size = self._compute(d, f, scale, image)
                    self._cache[(d, f, e)] = (fmap.to("cpu", torch.float16), scene, twh, img_size)
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save({"key": self.cache_key(), "entries": self._cache}, tmp)
            os.replace(tmp, path)
            LOG.info("feature cache saved to %s", path)

    def cache_key(self) -> dict[str, Any]:
        """Everything the cached features depend on; a different key means a different file.

        A shard (distributed run) names its domains and their indices, which the entries are
        keyed by: the processes of one run then never write the same file, and a single-process
        run (every domain, indices implied) keeps the key, hence the file, it always had.
        """
        shard = self.owned != list(range(len(self.domains)))
        return {
            "backbone": self.opts.backbone,
            "pretrained": self.run.pretrained_backbone,
            "dense": self.run.dense,
            **({"cut": self.run.cut} if self.opts.backbone == "efficientnet_lite0" else {}),
            "domains": [(self.domains[d].name, len(self.domains[d])) for d in self.owned],
            **({"domain_indices": self.owned} if shard else {}),
            "scales": list(self.run.cache_scales),
            "stride": self.run.cache_frame_stride,
            "max_crop_side": self.run.max_crop_side,
            "img_size": self.opts.img_size,
            "padding": self.opts.padding,
            "neg": [self.opts.neg_trans, self.opts.neg_scale, self.opts.neg_aspect],
        }

    def _cache_file(self) -> Path | None:
        if not self.run.cache_dir:
            return None
        import hashlib

        digest = hashlib.sha1(json.dumps(self.cache_key(), sort_keys=True).encode()).hexdigest()
        return Path(self.run.cache_dir) / f"features-{digest[:12]}.pt"

    def view(self, d: int, f: int, rng: np.random.Generator) -> FrameView:
        """Frame f of domain d at a random jitter scale (reference 9)."""
        opts = self.opts
        if self.cached:
            probs = jitter_exponent_probs(opts, self.run.cache_scales)
            e = int(self.run.cache_scales[rng.choice(len(probs), p=probs)])
            fmap, scene, twh, img_size = self._cache[(d, f, e)]
            return FrameView(fmap.to(self.device, torch.float32), scene, twh, img_size)
        expo = float(np.clip(opts.scale_jitter_std * rng.standard_normal(),
                             -opts.scale_jitter_clip, opts.scale_jitter_clip))
        fmap, scene, twh, img_size = self._compute(d, f, opts.scale_jitter_base**expo)
        return FrameView(fmap, scene, twh, img_size)

    def image_wh(self, d: int) -> tuple[int, int]:
        """Frame size of domain d (all frames of a video share it)."""
        return self._img_wh[d]


def _inside(samples: np.ndarray, scene: np.ndarray, padding: float) -> np.ndarray:
    """Mask the samples whose padded box lies in the scene region (1 px tolerance)."""
    c = samples.copy()
    margin = c[:, 2:] * (padding - 1.0) / 2.0
    x1 = c[:, 0] - margin[:, 0]
    y1 = c[:, 1] - margin[:, 1]
    x2 = c[:, 0] + c[:, 2] + margin[:, 0]
    y2 = c[:, 1] + c[:, 3] + margin[:, 1]
    return (
        (x1 >= scene[0] - 1) & (y1 >= scene[1] - 1)
        & (x2 <= scene[0] + scene[2] + 1) & (y2 <= scene[1] + scene[3] + 1)
    )


class _StepModule(torch.nn.Module):
    """The whole of one training step as a module's forward, so DDP can wrap it.

    DDP prepares the gradient reduction in its ``forward`` (it finds, from the outputs, which
    parameters this step's graph reaches); the trainer's step calls the network's parts (feature
    map, RoI pooling, shared head, several fc6 branches) rather than ``net.forward``, so the step
    itself, as a closure, is what goes through DDP.
    """

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, step: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Run the step's closure; its tensors are the outputs DDP traces back."""
        return step()


class Trainer:
    """Owns the network, the optimizer, the RNGs and the output folder of one training run.

    With ``dist`` naming several processes (torchrun), this process trains its shard of the
    domains and the network is wrapped in DistributedDataParallel. How the gradients meet:

    - each process runs ``local_window`` steps per optimizer step; all but the last run inside
      ``no_sync()``, so their gradients only accumulate locally, and the last step's backward
      all-reduces the accumulated gradients once per window (not once per domain-step);
    - the all-reduce is a SUM (``sum_allreduce_hook``): the update is then the single-process one,
      the sum of the window's domain-step gradients, clipped and applied by every process alike,
      so the replicas stay identical without ever broadcasting weights;
    - ``find_unused_parameters=True``: a step reaches only its own fc6 branch and the instance
      loss's sampled others, so which parameters get a gradient differs by step and by rank.
      DDP records what each rank used over the whole window (no_sync steps included), sums the
      gradients of every parameter some rank used (a rank that did not use one contributes
      zeros and receives the sum) and leaves a parameter no rank used without a gradient, as
      one process would: SGD then skips it (no weight decay, no momentum) on every rank alike.

    An explicit all-reduce of the gradients after the window would do the same; DDP is used
    because it overlaps the reduction with the last backward and is what torchrun users expect.
    """

    def __init__(
        self,
        net,
        domains: Sequence[Domain],
        out_dir: Path,
        opts: TrainOptions | None = None,
        run: RunOptions | None = None,
        rf_offset: float = 0.0,
        dist: DistContext = SINGLE,
    ) -> None:
        if len(domains) < 1:
            raise ValueError("need at least one training domain")
        self.opts = opts or TrainOptions()
        self.run = run or RunOptions()
        self.dist = dist
        self.device = resolve_device(
            self.run.device, local_rank=dist.local_rank if dist.distributed else None
        )
        self.net = net.to(self.device)
        self.domains = list(domains)
        self.owned = owned_domains(len(self.domains), dist)
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rf_offset = float(rf_offset)
        numpy_seed, torch_seed = rank_seeds(self.opts.seed, dist)
        self.rng = np.random.default_rng(numpy_seed)
        torch.manual_seed(torch_seed)
        self.step = 0  # domain-steps of all processes together
        self._window = local_window(self.opts.accumulate_domains, self.run.steps, dist)
        self._set_trainable()
        self.optimizer = self._make_optimizer()
        self.source = FeatureSource(self.net, self.domains, self.opts, self.run, self.device,
                                    owned=self.owned)
        self._order: list[int] = []
        self._acc_sum = np.zeros((len(self.domains), 2))  # per domain: sum acc, count
        self._ddp = self._wrap_ddp()

    def _wrap_ddp(self) -> torch.nn.Module | None:
        """DDP around the step (several processes), after a note on how the work divides."""
        if not self.dist.distributed:
            return None
        from torch.nn.parallel import DistributedDataParallel

        world, run = self.dist.world_size, self.run
        window = update_window(self.opts.accumulate_domains, run.steps)
        if self._window * world != window:
            LOG.warning("accumulate_domains %d over %d processes: %d local steps each, so %d "
                        "domain-steps per update", window, world, self._window,
                        self._window * world)
        if run.steps % world:
            LOG.warning("steps %d is not a multiple of %d processes: running %d", run.steps,
                        world, math.ceil(run.steps / world) * world)
        if len(self.domains) % world:
            LOG.warning("%d domains over %d processes: shards differ by one domain, whose "
                        "domains are then visited more often", len(self.domains), world)
        LOG.info("rank %d trains domains %s", self.dist.rank,
                 [self.domains[d].name for d in self.owned])
        cuda = self.device.type == "cuda"
        # broadcast_buffers (the default) stays on: with a trainable backbone its batch-norm
        # statistics move in every forward, and rank 0's copy is the one that is kept.
        ddp = DistributedDataParallel(
            _StepModule(self.net),
            device_ids=[self.device] if cuda else None,
            output_device=self.device if cuda else None,
            find_unused_parameters=True,
        )
        ddp.register_comm_hook(None, sum_allreduce_hook)
        return ddp

    # ----------------------------------------------------------------- parameters
    def _backbone_params(self) -> list[tuple[str, torch.nn.Parameter]]:
        return [(n, p) for n, p in self.net.named_parameters() if n.startswith("backbone.")]

    def _set_trainable(self) -> None:
        mode = self.run.backbone_mode
        named = self._backbone_params()
        for _, p in named:
            p.requires_grad_(mode == "all")
        if mode == "last":
            last = self._last_stage_names([n for n, _ in named])
            for n, p in named:
                p.requires_grad_(n in last)

    @staticmethod
    def _last_stage_names(names: list[str]) -> set[str]:
        """Parameters of the backbone's last stage: EfficientNet's last block, VGG-M's conv3."""
        blocks = [int(m.group(1)) for n in names if (m := re.search(r"_blocks\.(\d+)\.", n))]
        prefix = f"backbone._blocks.{max(blocks)}." if blocks else "backbone.conv3."
        return {n for n in names if n.startswith(prefix)}

    def _make_optimizer(self) -> torch.optim.Optimizer:
        fc6, rest = [], []
        for n, p in self.net.named_parameters():
            if not p.requires_grad:
                continue
            (fc6 if ".fc6" in f".{n}" or n.startswith("branches") else rest).append(p)
        groups = [{"params": rest, "lr": self.opts.lr}]
        if fc6:
            groups.append({"params": fc6, "lr": self.opts.lr * self.run.fc6_lr_mult})
        return torch.optim.SGD(
            groups, lr=self.opts.lr, momentum=self.opts.momentum,
            weight_decay=self.opts.weight_decay,
        )

    # ----------------------------------------------------------------- one step
    def _next_domain(self) -> int:
        if not self._order:
            self._order = [self.owned[int(i)] for i in self.rng.permutation(len(self.owned))]
        return self._order.pop(0)

    def _samples(self, d: int, box: np.ndarray):
        o = self.opts
        img_wh = self.source.image_wh(d)
        pos_gen = SampleGenerator("gaussian", img_wh, o.pos_trans, o.pos_scale, o.pos_aspect,
                                  valid=True)
        neg_gen = SampleGenerator("uniform", img_wh, o.neg_trans, o.neg_scale, o.neg_aspect,
                                  valid=True)
        pos = gen_samples(pos_gen, box, o.n_pos, self.rng, iou_range=(o.pos_iou, 1.0))
        neg = gen_samples(neg_gen, box, o.n_neg, self.rng, iou_range=(0.0, o.neg_iou))
        return pos, neg

    def _features(self, d: int, frames: Sequence[int]):
        pos_feats, neg_feats = [], []
        for f in frames:
            view = self.source.view(d, int(f), self.rng)
            box = self.domains[d].boxes[int(f)]
            pos, neg = self._samples(d, box)
            pos = pos[_inside(pos, view.scene, self.opts.padding)]
            neg = neg[_inside(neg, view.scene, self.opts.padding)]
            both = np.concatenate([pos, neg], axis=0)
            if len(both) == 0:
                continue
            rois = samples_to_rois(both, view.scene[:2], view.target_wh, view.img_size,
                                   self.opts.padding, self.rf_offset)
            rois = np.concatenate([np.zeros((len(rois), 1)), rois], axis=1)
            feats = self.net.pool_rois(
                view.fmap, torch.as_tensor(rois, dtype=torch.float32, device=self.device)
            )
            pos_feats.append(feats[: len(pos)])
            neg_feats.append(feats[len(pos):])
        return torch.cat(pos_feats), torch.cat(neg_feats)

    def _losses(self, d: int, frames: np.ndarray) -> dict[str, torch.Tensor]:
        """Forward of one domain-step: binary loss + alpha * instance loss, and the logits."""
        pos_feats, neg_feats = self._features(d, frames)
        n_pos = len(pos_feats)
        hidden = self.net.shared_head(torch.cat([pos_feats, neg_feats]))
        logits = self.net.fc6[d](hidden)
        pos_logits, neg_logits = logits[:n_pos], logits[n_pos:]
        cls = binary_loss(pos_logits, neg_logits)
        inst = torch.zeros((), device=self.device)
        if self.opts.instance_alpha > 0 and len(self.domains) > 1 and n_pos:
            branches = pick_instance_branches(
                d, len(self.domains), self.opts.instance_max_other, self.rng
            )
            cols = [pos_logits[:, 1]] + [self.net.fc6[b](hidden[:n_pos])[:, 1]
                                         for b in branches[1:]]
            inst = instance_loss(torch.stack(cols, dim=1), 0)
        loss = cls + self.opts.instance_alpha * inst
        return {"loss": loss, "cls": cls, "inst": inst,
                "pos_logits": pos_logits, "neg_logits": neg_logits}

    @contextlib.contextmanager
    def _grad_sync(self, sync: bool) -> Iterator[None]:
        """Let DDP all-reduce in this step's backward only when `sync` (the window's last step)."""
        if self._ddp is None or sync:
            yield
        else:
            with self._ddp.no_sync():
                yield

    def _adopt_carried_grads(self) -> None:
        """Make DDP reduce the partial gradients a mid-window checkpoint brought back.

        DDP sums, at the window's end, the gradients of the parameters that some rank *used*
        in the window, as recorded by its own backward hooks; gradients loaded from a checkpoint
        were never seen by them, and a parameter that no rank touches in the rest of the window
        would keep each rank's own partial gradient: the replicas would drift apart. A backward
        of zero times every such parameter, under no_sync, records them as used and adds
        nothing. Every process runs it (a DDP forward is a collective point).
        """
        carried = [p for p in self.net.parameters() if p.grad is not None]

        def touch() -> dict[str, torch.Tensor]:
            return {"zero": torch.stack([p.sum() for p in carried]).sum() * 0.0}

        with self._ddp.no_sync():
            self._ddp(touch)["zero"].backward()

    def train_step(self) -> dict[str, Any]:
        """One domain, frames_per_step frames: forward, loss, backward (accumulated).

        `step` counts the domain-steps of all processes: each process's step adds world_size.
        """
        d = self._next_domain()
        idx = self.source.frame_indices(d)
        frames = self.rng.choice(idx, min(self.opts.frames_per_step, len(idx)), replace=False)
        self.net.train()
        if self.run.backbone_mode == "frozen":
            self.net.backbone.eval()  # batch-norm statistics stay the ImageNet ones
        world = self.dist.world_size
        last_of_window = (self.step // world + 1) % self._window == 0
        with self._grad_sync(last_of_window):
            if self._ddp is None:
                out = self._losses(d, frames)
            else:
                out = self._ddp(lambda: self._losses(d, frames))
            out["loss"].backward()
        self.step += world
        if last_of_window:
            self._apply()
        pos_logits, neg_logits = out["pos_logits"], out["neg_logits"]
        acc = step_accuracy(pos_logits, neg_logits)
        self._acc_sum[d] += (acc["acc"], 1)
        return {
            "step": self.step,
            "domain": self.domains[d].name,
            "loss": float(out["loss"].detach()),
            "cls": float(out["cls"].detach()),
            "inst": float(out["inst"].detach()),
            **acc,
            "n_pos": int(len(pos_logits)),
            "n_neg": int(len(neg_logits)),
        }

    def _apply(self) -> None:
        params = [p for p in self.net.parameters() if p.grad is not None]
        if params:
            torch.nn.utils.clip_grad_norm_(params, self.opts.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    # ----------------------------------------------------------------- checkpoints
    def checkpoint_path(self) -> Path:
        """Return the single rolling checkpoint file in the output folder."""
        return self.out_dir / CHECKPOINT_NAME

    def _process_state(self) -> dict[str, Any]:
        """Return what differs between the processes of a run: sample streams, partial grads."""
        to_cpu = self.dist.distributed  # sent between processes: no GPU tensors in the pickle
        return {
            # Gradients summed since the last optimizer step: a checkpoint inside an
            # accumulation window must carry them, or a resumed run would drop those steps.
            "grads": {
                n: (p.grad.detach().cpu() if to_cpu else p.grad.detach().clone())
                for n, p in self.net.named_parameters()
                if p.grad is not None
            },
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "order": list(self._order),
            "acc_sum": self._acc_sum.copy(),
        }

    def save_checkpoint(self) -> Path | None:
        """Write model, optimizer, RNG states and step atomically (tmp file, then rename).

        Distributed: every process must call it (its state is gathered to rank 0, which alone
        writes, under ``ranks``); the weights and optimizer are the same everywhere. Returns the
        path on the writing process, None on the others.
        """
        states = gather_to_main(self._process_state(), self.dist)
        if states is None:
            return None
        blob: dict[str, Any] = {
            "step": self.step,
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "train_options": self.opts.to_dict(),
            "run_options": asdict(self.run),
            "domains": [d.name for d in self.domains],
        }
        if self.dist.distributed:
            blob.update(world_size=self.dist.world_size, ranks=states)
        else:
            blob.update(states[0])
        path = self.checkpoint_path()
        tmp = path.with_suffix(".tmp")
        torch.save(blob, tmp)
        os.replace(tmp, path)
        return path

    def load_checkpoint(self, path: Path | None = None) -> int:
        """Continue from a checkpoint: same domains required; returns the step reached.

        A distributed run's checkpoint holds each rank's sample stream and partial gradients,
        so it resumes on the same number of processes (each loads the file: `--out` must be
        on a file system that all of them see).
        """
        path = Path(path) if path is not None else self.checkpoint_path()
        blob = torch.load(path, map_location=self.device, weights_only=False)
        names = [d.name for d in self.domains]
        if blob["domains"] != names:
            raise ValueError(f"checkpoint {path} was trained on {blob['domains']}, not {names}")
        saved_world = int(blob.get("world_size", 1))
        if saved_world != self.dist.world_size:
            raise ValueError(
                f"checkpoint {path} was written by {saved_world} process(es); resume it with "
                f"{saved_world}, not {self.dist.world_size} (each process's sample stream and "
                "partial gradients are in it)"
            )
        self.net.load_state_dict(blob["net"])
        self.optimizer.load_state_dict(blob["optimizer"])
        state = blob["ranks"][self.dist.rank] if self.dist.distributed else blob
        grads = state.get("grads", {})
        for n, p in self.net.named_parameters():
            p.grad = grads[n].to(p.device).clone() if n in grads else None
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"].cpu())
        self._order = list(state["order"])
        self._acc_sum = np.asarray(state["acc_sum"], dtype=np.float64)
        self.step = int(blob["step"])
        return self.step

    # ----------------------------------------------------------------- the loop
    def _due(self, every: int) -> bool:
        """Tell whether the last train_step crossed a multiple of `every` (steps move by W)."""
        return self.step // every != (self.step - self.dist.world_size) // every

    def train(self, progress: Callable | None = None) -> TrainResult:
        """Run until `run.steps`, logging to JSONL and checkpointing; returns the network.

        Distributed: every process runs this loop (the log lines and checkpoints are collective
        points, reached at the same steps everywhere); rank 0 alone writes and shows progress.
        """
        main = self.dist.is_main
        progress = progress if main else None
        self.source.build_cache(progress)
        log_path = self.out_dir / LOG_NAME
        history: list[dict[str, Any]] = []
        bar = progress(total=self.run.steps, initial=self.step, desc="train") if progress else None
        window: list[dict[str, Any]] = []
        t0 = time.monotonic()
        if self._ddp is not None and (self.step // self.dist.world_size) % self._window:
            self._adopt_carried_grads()  # resumed inside a window
        with log_path.open("a") if main else contextlib.nullcontext() as log:
            while self.step < self.run.steps:
                rec = self.train_step()
                window.append(rec)
                if bar is not None:
                    bar.update(self.dist.world_size)
                last = self.step >= self.run.steps
                if self._due(self.run.log_every) or last:
                    line = self._summary(window, time.monotonic() - t0)
                    if log is not None:
                        log.write(json.dumps(line) + "\n")
                        log.flush()
                    history.append(line)
                    if bar is not None:
                        bar.set_postfix(loss=f"{line['loss']:.3f}", acc=f"{line['acc']:.3f}")
                    window = []
                if self._due(self.run.checkpoint_every) or last:
                    self.save_checkpoint()
        if bar is not None:
            bar.close()
        return TrainResult(net=self.net, step=self.step, history=history)

    def _summary(self, window: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
        """Build a log line: the window's mean losses and accuracies, per-domain accuracy so far.

        Distributed: sums and counts are added over the processes first, so the line covers
        every rank's steps and every domain (rank 0 writes it).
        """
        keys = ("loss", "cls", "inst", "acc", "pos_acc", "neg_acc")
        sums = [np.sum(np.asarray([r[k] for r in window], dtype=np.float64)) for k in keys]
        totals = all_reduce_sum(
            torch.as_tensor(np.concatenate([sums, [len(window)], self._acc_sum.ravel()]),
                            dtype=torch.float64),
            self.dist,
        ).numpy()
        n = totals[len(keys)]
        self._acc_sum = totals[len(keys) + 1:].reshape(self._acc_sum.shape).copy()
        line: dict[str, Any] = {"step": self.step, "seconds": round(elapsed, 2)}
        for k, total in zip(keys, totals[: len(keys)], strict=True):
            line[k] = float(total / n) if n else float("nan")
        counts = self._acc_sum[:, 1]
        line["domain_acc"] = {
            d.name: (float(self._acc_sum[i, 0] / counts[i]) if counts[i] else None)
            for i, d in enumerate(self.domains)
        }
        self._acc_sum[:] = 0.0
        return line
