# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Multi-domain pretraining loop (reference section 9), seeded and resumable.

Each step takes one domain (video), 8 of its frames, 64 positive and 196 negative boxes per frame,
and adds binary loss + alpha * instance loss to the accumulated gradient (``domain_step.py``);
every `accumulate_domains` steps the summed gradient is clipped and applied (SGD). Domains are
visited in shuffled cycles so each accumulation window sees every domain equally often.

The parts live beside it: the cached backbone features (``feature_source.py``), the step's
forward (``domain_step.py``), DDP under ``torchrun`` (``ddp_step.py``, ``distributed.py``) and
the rolling checkpoint (``checkpoint.py``). This module owns the run's state and the loop.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..device import resolve_device
from ..options import TrainOptions
from .checkpoint import CHECKPOINT_NAME, process_state, read_checkpoint, write_checkpoint
from .data import Domain
from .ddp_step import adopt_carried_grads, grad_sync, wrap_step
from .distributed import (
    SINGLE,
    DistContext,
    all_reduce_sum,
    gather_to_main,
    local_window,
    owned_domains,
    rank_seeds,
)
from .domain_step import DomainStep
from .feature_source import FeatureSource
from .losses import step_accuracy
from .run_options import RunOptions

LOG = logging.getLogger(__name__)

LOG_NAME = "train_log.jsonl"


@dataclass
class TrainResult:
    """What a finished (or resumed-and-finished) run leaves behind."""

    net: torch.nn.Module
    step: int
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """Owns the network, the optimizer, the RNGs and the output folder of one training run.

    With ``dist`` naming several processes (torchrun), this process trains its shard of the
    domains and the step is wrapped in DistributedDataParallel (``ddp_step.py`` says how the
    gradient synchronisation fits the accumulation).
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
        self.step_losses = DomainStep(self.net, self.domains, self.source, self.opts,
                                      self.rf_offset, self.device)
        self._order: list[int] = []
        self._acc_sum = np.zeros((len(self.domains), 2))  # per domain: sum acc, count
        self._ddp = self._wrap_ddp()

    def _wrap_ddp(self) -> torch.nn.Module | None:
        """DDP around the step when there are several processes."""
        if not self.dist.distributed:
            return None
        return wrap_step(self.net, self.device, self.dist, self.run, self.opts.accumulate_domains,
                         self._window, self.domains, self.owned)

    # ----------------------------------------------------------------- parameters
    def _backbone_params(self) -> list[tuple[str, torch.nn.Parameter]]:
        return self.net.named_backbone_parameters()

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
        with grad_sync(self._ddp, last_of_window):
            if self._ddp is None:
                out = self.step_losses.losses(d, frames, self.rng)
            else:
                out = self._ddp(lambda: self.step_losses.losses(d, frames, self.rng))
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

    def save_checkpoint(self) -> Path | None:
        """Write model, optimizer, RNG states and step atomically (tmp file, then rename).

        Distributed: every process must call it (its state is gathered to rank 0, which alone
        writes, under ``ranks``); the weights and optimizer are the same everywhere. Returns the
        path on the writing process, None on the others.
        """
        state = process_state(self.net, self.rng, self._order, self._acc_sum,
                              to_cpu=self.dist.distributed)
        states = gather_to_main(state, self.dist)
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
        return write_checkpoint(self.checkpoint_path(), blob)

    def load_checkpoint(self, path: Path | None = None) -> int:
        """Continue from a checkpoint: same domains required; returns the step reached.

        A distributed run's checkpoint holds each rank's sample stream and partial gradients,
        so it resumes on the same number of processes (each loads the file: `--out` must be
        on a file system that all of them see).
        """
        path = Path(path) if path is not None else self.checkpoint_path()
        blob = read_checkpoint(path, self.device, [d.name for d in self.domains],
                               self.dist.world_size)
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
            adopt_carried_grads(self._ddp, self.net)  # resumed inside a window
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
