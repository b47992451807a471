# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The training run's rolling checkpoint: what it holds so a resumed run continues exactly.

A resumed run must draw the same samples and apply the same updates as one that never stopped,
so the checkpoint holds, besides weights and optimizer, each process's sample stream (RNG
states, domain order) and the gradients summed since the last optimizer step.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rtmdnet_ros import safe_torch_load

CHECKPOINT_NAME = "checkpoint.pt"


def process_state(net: torch.nn.Module, rng: np.random.Generator, order: list[int],
                  acc_sum: np.ndarray, to_cpu: bool) -> dict[str, Any]:
    """Return what differs between the processes of a run: sample streams, partial grads.

    ``to_cpu`` when the state is sent between processes: no GPU tensors in the pickle.
    """
    return {
        # Gradients summed since the last optimizer step: a checkpoint inside an
        # accumulation window must carry them, or a resumed run would drop those steps.
        "grads": {
            n: (p.grad.detach().cpu() if to_cpu else p.grad.detach().clone())
            for n, p in net.named_parameters()
            if p.grad is not None
        },
        "numpy_rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(),
        "order": list(order),
        "acc_sum": acc_sum.copy(),
    }


def write_checkpoint(path: Path, blob: dict[str, Any]) -> Path:
    """Write atomically (tmp file, then rename): an interrupted save never looks complete."""
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: Path, device: torch.device, domain_names: list[str],
                    world_size: int) -> dict[str, Any]:
    """Load a checkpoint that this run can continue, or say why it cannot.

    Same domains required; a distributed run's checkpoint holds each rank's sample stream and
    partial gradients, so it resumes on the same number of processes.
    """
    blob = safe_torch_load.load(path, map_location=device)
    if blob["domains"] != domain_names:
        raise ValueError(f"checkpoint {path} was trained on {blob['domains']}, "
                         f"not {domain_names}")
    saved_world = int(blob.get("world_size", 1))
    if saved_world != world_size:
        raise ValueError(
            f"checkpoint {path} was written by {saved_world} process(es); resume it with "
            f"{saved_world}, not {world_size} (each process's sample stream and "
            "partial gradients are in it)"
        )
    return blob
