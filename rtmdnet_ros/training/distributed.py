# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Running `rtmdnet-train` as one process per device under ``torchrun`` (PyTorch DDP).

What is shared and what is per process:

- every process holds the whole network (backbone, fc4/fc5 and *all* fc6 branches) and the same
  optimizer state; after every optimizer step the weights are identical on all processes;
- the domains (videos) are sharded: process ``r`` of ``W`` owns domains ``d`` with
  ``d % W == r``, draws its steps only from them and caches only their features;
- each accumulation window of ``accumulate_domains`` domain-steps is split evenly: every
  process runs ``ceil(accumulate_domains / W)`` local steps, and the window's gradient is the
  *sum* over all processes' steps (the single-process window sums its domain-steps too).

Why all fc6 branches live on every process: the instance loss (reference 9) scores a domain's
positives with up to ``instance_max_other`` *other* domains' branches and pushes those down, so
a step on rank 0 produces gradients for branches that rank 1 owns. Keeping every branch on every
process and summing every gradient is the simplest arrangement that is exactly the single-process
update; fc6 is 2 x 513 numbers per domain, small even for GOT-10k's ~9k videos.

Nothing here runs when the environment names a single process: the single-process trainer is
unchanged, bit for bit.

No ``from __future__ import annotations`` here: DDP checks a communication hook's annotations
as objects (``dist.GradBucket``), and postponed annotations would be strings.
"""

import contextlib
import gc
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands among the training processes (torchrun's environment)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """True when there is more than one process (collectives are needed)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the log, the checkpoint and the model file."""
        return self.rank == 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "DistContext":
        """Read torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; absent means one process."""
        env = os.environ if env is None else env
        try:
            world = int(env.get("WORLD_SIZE", "1"))
            rank = int(env.get("RANK", "0"))
            local = int(env.get("LOCAL_RANK", str(rank)))
        except ValueError as exc:
            raise ValueError(f"malformed torchrun environment: {exc}") from exc
        if world < 1 or not 0 <= rank < world or local < 0:
            raise ValueError(f"bad torchrun environment: RANK={rank} WORLD_SIZE={world} "
                             f"LOCAL_RANK={local}")
        return cls(rank=rank, world_size=world, local_rank=local)


SINGLE = DistContext()


def owned_domains(num_domains: int, ctx: DistContext) -> list[int]:
    """Domains this process trains (round robin: ``d % W == rank``); refuse empty shards.

    Round robin keeps the shards within one domain of each other whatever the order of
    ``--sequences``. Every process must own a domain: a process with nothing to train would
    have no steps to run while the others wait for its gradients.
    """
    if ctx.world_size > num_domains:
        raise ValueError(
            f"{ctx.world_size} training processes but only {num_domains} domain(s): every "
            "process needs at least one domain (use fewer processes or more sequences)"
        )
    return list(range(ctx.rank, num_domains, ctx.world_size))


def update_window(accumulate_domains: int, steps: int) -> int:
    """Domain-steps per optimizer step of the whole run: never more than the run has."""
    return max(1, min(accumulate_domains, steps))


def local_window(accumulate_domains: int, steps: int, ctx: DistContext) -> int:
    """Local domain-steps per optimizer step: the window split evenly over the processes.

    Each of ``W`` processes runs ``ceil(update_window / W)`` steps, so every process reaches the
    gradient all-reduce after the same number of steps (unequal counts would deadlock the
    collective); one process runs the whole window, as before.
    """
    return max(1, math.ceil(update_window(accumulate_domains, steps) / ctx.world_size))


def rank_seeds(seed: int, ctx: DistContext) -> tuple[Any, int]:
    """Seeds of this process's numpy sample stream and torch RNG (dropout).

    One process keeps the plain seed for both (runs stay comparable with earlier ones); with
    several, each rank draws its own independent streams, fixed for a given seed, rank and world
    size, so a distributed run is repeatable on the same number of processes.
    """
    if not ctx.distributed:
        return seed, seed
    seq = np.random.SeedSequence(seed, spawn_key=(ctx.world_size, ctx.rank))
    numpy_seq, torch_seq = seq.spawn(2)
    return numpy_seq, int(torch_seq.generate_state(1, np.uint64)[0] >> 1)


def backend_for(device: torch.device) -> str:
    """NCCL between GPUs, gloo between CPU processes (the two that PyTorch ships everywhere)."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextlib.contextmanager
def process_group(ctx: DistContext, device: torch.device, timeout_s: float) -> Iterator[None]:
    """Join the torchrun process group for the block (nothing for one process); always leave.

    ``timeout_s`` bounds every collective: a long wait is normal when one process builds a
    bigger feature cache than the others, so it is a run option, not PyTorch's default.
    """
    if not ctx.distributed:
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL and the object collectives use the current GPU
    backend = backend_for(device)
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    LOG.info("rank %d of %d joined (%s, %s)", ctx.rank, ctx.world_size, backend, device)
    try:
        yield
        # Leave together, with no DDP reducer or pending work left (the caller releases its
        # trainer inside the block; collect frees one caught in a reference cycle): a rank that
        # tears its group down while either is alive can abort ("terminate called without an
        # active exception").
        gc.collect()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def sum_allreduce_hook(
    state: Any, bucket: dist.GradBucket
) -> torch.futures.Future[torch.Tensor]:
    """DDP communication hook: all-reduce a gradient bucket as a SUM, not DDP's mean.

    A window's update is the sum of its domain-steps' gradients (then clipped, reference 9);
    DDP would divide by the number of processes, which would make the clip threshold and the
    learning rate mean something else for every world size.
    """
    work = dist.all_reduce(bucket.buffer(), op=dist.ReduceOp.SUM, async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


def all_reduce_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum a float64 CPU tensor over the processes (log statistics); identity for one process."""
    if not ctx.distributed:
        return values
    nccl = dist.get_backend() == "nccl"  # NCCL reduces GPU tensors only
    buf = values.to(torch.device("cuda", torch.cuda.current_device()) if nccl else "cpu")
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    return buf.cpu()


def gather_to_main(obj: Any, ctx: DistContext) -> list[Any] | None:
    """Every process's ``obj`` on rank 0 (a list by rank), None elsewhere; ``[obj]`` alone."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out
