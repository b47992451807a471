# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The one rule for choosing the torch device (tracker, node, training, option checks).

Why one module: the choice used to be made in four places that disagreed (which names they
accepted, whether a missing CUDA was an error, whether a fallback was announced). The rule:

- accepted requests: ``auto`` (or None), ``cpu``, ``cuda``, ``cuda:N`` (or a ``torch.device`` of
  type cpu/cuda); anything else is a ``DeviceError`` naming the accepted values;
- ``auto`` is CUDA when torch sees a CUDA device, else the CPU (said in the reason);
- ``cuda`` without CUDA is a ``DeviceError``, unless the caller allows the fallback
  (``cuda_fallback=True``, the node's parameter), in which case the CPU is chosen and the
  choice says so (``fell_back``) so the caller can warn: never a silent fallback;
- one process per GPU (``torchrun``, distributed training): the caller passes the process's
  ``local_rank`` and ``auto``/``cuda`` become ``cuda:LOCAL_RANK``; an explicit ``cuda:N`` is a
  ``DeviceError`` there, since every process of the node would then share one GPU.

``check_device_name`` needs no torch, so ``TrackerOptions`` can validate its field without
importing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported only when a device is actually chosen
    import torch

DEVICE_NAMES = ("auto", "cpu", "cuda")  # and cuda:N; the node and the command lines offer these
ACCEPTED = f"{', '.join(DEVICE_NAMES[:-1])} or {DEVICE_NAMES[-1]} (cuda:N for one of several GPUs)"
_CUDA_INDEX = re.compile(r"cuda:\d+")


class DeviceError(ValueError):
    """A device request that cannot be honoured here (unknown name, or CUDA missing)."""


class CudaUnavailable(DeviceError):
    """CUDA was asked for, torch sees none, and no fallback is allowed (the caller may advise)."""


def check_device_name(request: Any) -> str:
    """Return the request as a normalised name (None -> "auto"); raise DeviceError if unknown."""
    name = "auto" if request is None else str(request).strip()
    if name in DEVICE_NAMES or _CUDA_INDEX.fullmatch(name):
        return name
    raise DeviceError(f"device must be {ACCEPTED}, not {name!r}")


@dataclass(frozen=True)
class DeviceChoice:
    """What was chosen, a sentence saying why (for the log), and whether CUDA was missed."""

    device: torch.device
    reason: str
    fell_back: bool = False


def choose_device(
    request: Any = "auto", cuda_fallback: bool = False, local_rank: int | None = None
) -> DeviceChoice:
    """Apply the module's rule to ``request``; see the module docstring.

    ``local_rank`` is given by a process that is one of several on this node (torchrun's
    ``LOCAL_RANK``): its CUDA device is then ``cuda:LOCAL_RANK``, one GPU per process.
    """
    import torch

    name = check_device_name(request)
    if name == "cpu":
        return DeviceChoice(torch.device("cpu"), "device cpu (requested cpu)")
    if torch.cuda.is_available():
        if local_rank is not None:
            return _local_rank_cuda(name, local_rank)
        device = torch.device("cuda" if name == "auto" else name)
        return DeviceChoice(
            device, f"device {device} ({torch.cuda.get_device_name(device)}; requested {name})"
        )
    if name == "auto":
        return DeviceChoice(
            torch.device("cpu"), "device cpu (requested auto; CUDA is not available here)"
        )
    if cuda_fallback:
        return DeviceChoice(
            torch.device("cpu"),
            f"device cpu: requested {name} but CUDA is not available; falling back to CPU "
            "because cuda_fallback is true",
            fell_back=True,
        )
    raise CudaUnavailable(
        f"device {name!r} requested but CUDA is not available (torch {torch.__version__})"
    )


def _local_rank_cuda(name: str, local_rank: int) -> DeviceChoice:
    """``cuda:LOCAL_RANK`` for one of several processes on a node; refuse what would share GPUs."""
    import torch

    if _CUDA_INDEX.fullmatch(name):
        raise DeviceError(
            f"device {name!r} with one process per GPU: every process would use that GPU; "
            "ask for cuda or auto and each process takes cuda:LOCAL_RANK"
        )
    count = torch.cuda.device_count()
    if not 0 <= local_rank < count:
        raise DeviceError(
            f"local rank {local_rank} has no GPU of its own (this node has {count}): start at "
            "most one process per GPU (torchrun --nproc-per-node)"
        )
    device = torch.device("cuda", local_rank)
    return DeviceChoice(
        device,
        f"device {device} ({torch.cuda.get_device_name(device)}; requested {name}, "
        f"local rank {local_rank})",
    )


def resolve_device(
    request: Any = "auto", cuda_fallback: bool = False, local_rank: int | None = None
) -> torch.device:
    """Return the chosen ``torch.device`` alone, for callers with nothing to log."""
    return choose_device(request, cuda_fallback, local_rank).device
