# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""DistributedDataParallel around the training step, and how its gradient sync meets accumulation.

How the gradients meet:

- each process runs ``local_window`` steps per optimizer step; all but the last run inside
  ``no_sync()`` (:func:`grad_sync`), so their gradients only accumulate locally, and the last
  step's backward all-reduces the accumulated gradients once per window (not once per
  domain-step);
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

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence

import torch

from .data import Domain
from .distributed import DistContext, sum_allreduce_hook, update_window
from .run_options import RunOptions

LOG = logging.getLogger(__name__)


class StepModule(torch.nn.Module):
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


def wrap_step(net: torch.nn.Module, device: torch.device, dist: DistContext, run: RunOptions,
              accumulate_domains: int, local_steps: int, domains: Sequence[Domain],
              owned: Sequence[int]) -> torch.nn.Module:
    """DDP around the step, after a note on how the work divides when it divides unevenly."""
    from torch.nn.parallel import DistributedDataParallel

    world = dist.world_size
    window = update_window(accumulate_domains, run.steps)
    if local_steps * world != window:
        LOG.warning("accumulate_domains %d over %d processes: %d local steps each, so %d "
                    "domain-steps per update", window, world, local_steps, local_steps * world)
    if run.steps % world:
        LOG.warning("steps %d is not a multiple of %d processes: running %d", run.steps,
                    world, math.ceil(run.steps / world) * world)
    if len(domains) % world:
        LOG.warning("%d domains over %d processes: shards differ by one domain, whose "
                    "domains are then visited more often", len(domains), world)
    LOG.info("rank %d trains domains %s", dist.rank, [domains[d].name for d in owned])
    cuda = device.type == "cuda"
    # broadcast_buffers (the default) stays on: with a trainable backbone its batch-norm
    # statistics move in every forward, and rank 0's copy is the one that is kept.
    ddp = DistributedDataParallel(
        StepModule(net),
        device_ids=[device] if cuda else None,
        output_device=device if cuda else None,
        find_unused_parameters=True,
    )
    ddp.register_comm_hook(None, sum_allreduce_hook)
    return ddp


@contextlib.contextmanager
def grad_sync(ddp: torch.nn.Module | None, sync: bool) -> Iterator[None]:
    """Let DDP all-reduce in this step's backward only when `sync` (the window's last step)."""
    if ddp is None or sync:
        yield
    else:
        with ddp.no_sync():
            yield


def adopt_carried_grads(ddp: torch.nn.Module, net: torch.nn.Module) -> None:
    """Make DDP reduce the partial gradients a mid-window checkpoint brought back.

    DDP sums, at the window's end, the gradients of the parameters that some rank *used*
    in the window, as recorded by its own backward hooks; gradients loaded from a checkpoint
    were never seen by them, and a parameter that no rank touches in the rest of the window
    would keep each rank's own partial gradient: the replicas would drift apart. A backward
    of zero times every such parameter, under no_sync, records them as used and adds
    nothing. Every process runs it (a DDP forward is a collective point).
    """
    carried = [p for p in net.parameters() if p.grad is not None]

    def touch() -> dict[str, torch.Tensor]:
        return {"zero": torch.stack([p.sum() for p in carried]).sum() * 0.0}

    with ddp.no_sync():
        ddp(touch)["zero"].backward()
