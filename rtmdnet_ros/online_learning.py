# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Online training of the fc head on cached RoI features (reference 5-7), in or off the frame loop.

``HeadTrainer`` is the hard-negative-mined SGD of reference 6. ``AsyncHeadUpdater`` runs the
online updates of reference 7 on a private copy of the head in a worker thread and hands back
finished weights, so a camera frame never waits for learning: on a robot the updates (a few
steps every few frames, more after failures) otherwise stall the tracking thread whenever other
processes share the cores. The tracker swaps the new weights in between two frames.
"""

from __future__ import annotations

import atexit
import copy
import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .options import RTMDNetOptions

LOG = logging.getLogger(__name__)


class MomentumSGD:
    """SGD with momentum and weight decay, with torch.optim.SGD's update rule.

    torch.optim imports torch._dynamo on first use, which costs ~4 s of the first-frame budget
    on this CPU; the rule is four lines, so the tracker carries its own (tested against
    torch.optim.SGD): d = g + wd * p; buf = momentum * buf + d (buf = d at first); p -= lr * buf.
    """

    def __init__(self, param_groups: list[dict[str, Any]], momentum: float, weight_decay: float):
        self.param_groups = param_groups
        self.momentum = momentum
        self.weight_decay = weight_decay
        self._buffers: dict[int, torch.Tensor] = {}

    def zero_grad(self) -> None:
        """Drop the gradients (set to None, as torch does by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad.add(p, alpha=self.weight_decay) if self.weight_decay else p.grad
                buf = self._buffers.get(id(p))
                if buf is None:
                    buf = self._buffers[id(p)] = d.detach().clone()
                else:
                    buf.mul_(self.momentum).add_(d)
                p.add_(buf, alpha=-group["lr"])


def clip_grad_norm(params: list[torch.Tensor], max_norm: float) -> float:
    """Scale gradients so their joint L2 norm is at most ``max_norm`` (torch's rule)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return float(total)


def is_branch(name: str) -> bool:
    """Whether a head parameter belongs to the per-domain branch (fc6)."""
    return "fc6" in name or "branch" in name


def head_parameters(net: nn.Module) -> dict[str, torch.Tensor]:
    """Return the fc head's parameters by name (everything but the backbone)."""
    return {n: p for n, p in net.named_parameters() if not n.startswith("backbone")}


class HeadTrainer:
    """Reference 6's training step for one head (the tracker's, or the worker's copy).

    Every random draw comes from ``rng``, and dropout runs inside a forked torch RNG seeded from
    it, so a seeded tracker trains the same way every run and leaves the caller's RNG alone.
    """

    def __init__(self, net: Any, options: RTMDNetOptions, rng: np.random.Generator,
                 device: torch.device):
        self.net = net  # anything with fc4/fc5/fc6, head() and named_parameters()
        self.options = options  # the RT-MDNet group: the training step's numbers
        self.rng = rng
        self.device = device

    def optimizer(self, lr: float) -> MomentumSGD:
        """fc4/fc5 at ``lr``, the domain branch (fc6) at ``lr * lr_fc6_mult`` (reference 5/7)."""
        o = self.options
        fc45, fc6 = [], []
        for name, p in head_parameters(self.net).items():
            if p.requires_grad:
                (fc6 if is_branch(name) else fc45).append(p)
        groups = [{"params": fc45, "lr": lr}, {"params": fc6, "lr": lr * o.lr_fc6_mult}]
        return MomentumSGD(groups, o.momentum, o.weight_decay)

    def scores(self, feats: torch.Tensor) -> torch.Tensor:
        """Positive logits in eval mode, chunked (reference 6: chunks of 256)."""
        chunk = self.options.eval_chunk
        with torch.no_grad():
            return torch.cat(
                [self.net.head(feats[i : i + chunk])[:, 1] for i in range(0, len(feats), chunk)]
            )

    def _index_stream(self, n: int, total: int) -> np.ndarray:
        """Concatenated random permutations of range(n), long enough for ``total`` draws."""
        reps = -(-total // n)
        return np.concatenate([self.rng.permutation(n) for _ in range(reps)])[:total]

    def train(
        self,
        optimizer: MomentumSGD,
        pos: torch.Tensor,
        neg: torch.Tensor,
        iterations: int,
        cancel: threading.Event | None = None,
    ) -> float:
        """Hard-negative-mined SGD on cached features (reference 6); returns the last loss.

        ``cancel`` ends the run between two steps (the worker's shutdown must not wait for a
        whole update).
        """
        o = self.options
        if len(pos) == 0 or len(neg) == 0 or iterations <= 0:
            return float("nan")
        n_pos = min(o.batch_pos, len(pos))
        n_cand = min(o.batch_neg_candidates, len(neg))
        n_hard = min(o.batch_hard_neg, n_cand)
        pos_idx = self._index_stream(len(pos), iterations * n_pos)
        neg_idx = self._index_stream(len(neg), iterations * n_cand)
        params = [p for g in optimizer.param_groups for p in g["params"]]
        loss_value = float("nan")
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(self.rng.integers(2**62)))
            for it in range(iterations):
                if cancel is not None and cancel.is_set():
                    break
                p = pos[torch.as_tensor(pos_idx[it * n_pos : (it + 1) * n_pos])]
                cand = neg[torch.as_tensor(neg_idx[it * n_cand : (it + 1) * n_cand])]
                if n_hard < n_cand:
                    self._set_training(False)
                    hard = torch.topk(self.scores(cand), n_hard).indices
                    cand = cand[hard]
                self._set_training(True)
                out = self.net.head(torch.cat([p, cand], 0))
                labels = torch.cat(
                    [
                        torch.ones(len(p), dtype=torch.long, device=out.device),
                        torch.zeros(len(cand), dtype=torch.long, device=out.device),
                    ]
                )
                # Mean over pos + neg of -log softmax (reference 6).
                loss = F.cross_entropy(out, labels, reduction="sum") / len(labels)
                optimizer.zero_grad()
                loss.backward()
                clip_grad_norm(params, o.grad_clip)
                optimizer.step()
                loss_value = float(loss.detach())
        self._set_training(False)
        return loss_value

    def _set_training(self, mode: bool) -> None:
        """Switch the head alone (looked up each time: a new target's init replaces fc6).

        Toggling the whole network walks every backbone module twice a step, and a backbone
        left in train mode would be wrong for anyone reading it.
        """
        for module in (self.net.fc4, self.net.fc5, self.net.fc6):
            module.train(mode)


class HeadCopy(nn.Module):
    """fc4/fc5/fc6 copied out of a network: what the worker trains, without the backbone."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.fc4 = copy.deepcopy(net.fc4)
        self.fc5 = copy.deepcopy(net.fc5)
        self.fc6 = copy.deepcopy(net.fc6)

    def head(self, feats: torch.Tensor, domain: int = 0) -> torch.Tensor:
        """fc4 -> fc5 -> fc6[domain], as RTMDNet.head."""
        return self.fc6[domain](self.fc5(self.fc4(feats)))


class AsyncHeadUpdater:
    """Trains a copy of the head in a worker thread; finished weights wait for ``take``.

    One job runs at a time. A request made while one runs replaces any request still waiting
    (the newest memories win; an older request would train on a subset of them), so the queue
    never grows and the worker never lags by more than one update. The worker lowers its own
    scheduling priority (nice) so that on shared cores the frame loop keeps precedence.
    """

    def __init__(
        self,
        net: nn.Module,
        options: RTMDNetOptions,
        rng: np.random.Generator,
        device: torch.device,
        lr: float,
        counters: dict[str, int],
        nice: int,
    ) -> None:
        self._copy = HeadCopy(net)
        for p in self._copy.parameters():
            p.requires_grad_(True)
        self._trainer = HeadTrainer(self._copy, options, rng, device)
        self._optimizer = self._trainer.optimizer(lr)
        self._iterations = int(options.update_iterations)
        self._nice = int(nice)  # execution.update_worker_nice
        self._counters = counters
        self._cond = threading.Condition()
        self._request: tuple[list[torch.Tensor], list[torch.Tensor], str] | None = None
        self._ready: dict[str, torch.Tensor] | None = None
        self._busy = False
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rtmdnet-update", daemon=True)
        self._thread.start()
        # A daemon thread still inside torch at interpreter exit can abort the process.
        atexit.register(self.close)

    def submit(self, pos: Sequence[torch.Tensor], neg: Sequence[torch.Tensor], counter: str):
        """Ask for one update on these memories (lists of per-frame feature blocks).

        The blocks are never modified after collection, so the worker can concatenate them
        itself; the frame loop only copies the two lists.
        """
        with self._cond:
            self._request = (list(pos), list(neg), counter)
            self._cond.notify()

    def take(self) -> dict[str, torch.Tensor] | None:
        """Weights of the newest finished update (None if none since the last take)."""
        with self._cond:
            ready, self._ready = self._ready, None
        if self.error is not None:
            raise RuntimeError("online update worker failed") from self.error
        return ready

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until the worker has nothing to do; returns whether it got there in time."""
        with self._cond:
            return self._cond.wait_for(
                lambda: (not self._busy and self._request is None) or self._stop.is_set(), timeout
            )

    def close(self) -> None:
        """Stop the worker and wait for its current job (at most one update)."""
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10.0)
        atexit.unregister(self.close)

    def _run(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
        except (AttributeError, OSError):  # not Linux, or not allowed: keep the default
            pass
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._request is not None or self._stop.is_set())
                if self._stop.is_set():
                    return
                pos_blocks, neg_blocks, counter = self._request
                self._request = None
                self._busy = True
            try:
                if pos_blocks and neg_blocks:
                    self._trainer.train(
                        self._optimizer, torch.cat(pos_blocks), torch.cat(neg_blocks),
                        self._iterations, cancel=self._stop,
                    )
                    weights = {
                        n: p.detach().clone() for n, p in head_parameters(self._copy).items()
                    }
                    self._counters[counter] += 1
                else:
                    weights = None
            except BaseException as exc:  # surfaced to the frame loop by take()
                LOG.exception("online update failed")
                self.error = exc
                weights = None
            with self._cond:
                if weights is not None:
                    self._ready = weights
                self._busy = False
                self._cond.notify_all()
