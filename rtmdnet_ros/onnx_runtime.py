# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""Run ONNX networks on the CPU through onnxruntime, with the project's one thread setting.

Why a helper: every network evaluated per frame on the CPU (RT-MDNet's backbone, the Siamese
networks) should run in the same runtime with the same threads, so that two of them never
oversubscribe the cores against each other or against torch (the fc head, the online updates).
The project has one thread count for the frame path: ``TrackerOptions.execution.torch_threads``
(the node's ``torch_threads`` parameter, the tools' ``--threads``), applied once by
:func:`set_frame_threads`; sessions made here follow it.

API (all CPU; onnxruntime is imported only when a session is made):

``available() -> bool``
    onnxruntime can be imported.
``set_frame_threads(n)``
    torch's and OpenCV's thread counts to ``n`` (n >= 1), at once; sessions made afterwards use
    ``n`` intra-op threads. Call it once, where the process decides its threads.
``frame_threads() -> int``
    The count sessions use: torch's current ``torch.get_num_threads()``, which is what the
    process chose (``set_frame_threads``, ``torch.set_num_threads``) or torch's default.
``create_session(model, threads=None, spinning=False, free_spatial_dims=False)``
    An ``onnxruntime.InferenceSession`` for ``model``, a path or the serialised bytes of an ONNX
    model. CPU provider only, all graph optimisations, ``threads`` intra-op threads (None:
    ``frame_threads()``), one inter-op thread (sequential execution: our graphs are chains), and
    thread spinning off by default. ``free_spatial_dims=True`` first turns every fixed dimension
    after the first two (N, C) of the graph's inputs and outputs into a free one (needs the
    ``onnx`` package): NanoTrack's backbone declares 1x3x255x255 and onnxruntime refuses its
    127 px template otherwise (OpenCV's dnn ignores the declared shape). Only for fully
    convolutional graphs whose ops do not bake in the size.
    Raises ``RuntimeUnavailable`` when onnxruntime is missing, ``ValueError`` naming the file
    when the model cannot be read.
``with_free_spatial_dims(model) -> bytes``
    The rewrite ``free_spatial_dims=True`` applies, for callers that cache the bytes.
``run(session, feeds) -> dict[str, np.ndarray]``
    Every output by name, for ``feeds`` of C-contiguous float32 (or int64) arrays.
``run_options(release_memory=False)``
    The ``RunOptions`` to pass to ``session.run``: with ``release_memory`` the CPU memory arena
    gives back what a run allocated beyond its first chunk once the run ends (onnxruntime's
    ``memory.enable_memory_arena_shrinkage``), for graphs fed inputs of changing sizes.

Spinning: onnxruntime's worker threads busy-wait after each op by default. That lowers latency
on an idle machine but burns a core between frames, which on a robot's shared CPU is taken
from the online-update thread and the other nodes, so it is off unless asked for.

Example (NanoTrack's backbone)::

    from rtmdnet_ros import onnx_runtime
    session = onnx_runtime.create_session("nanotrack_backbone.onnx")
    feats = onnx_runtime.run(session, {"input": blob})["output"]  # (1, 96, 16, 16)
    template = onnx_runtime.create_session("nanotrack_backbone.onnx", free_spatial_dims=True)
    z = onnx_runtime.run(template, {"input": blob127})["output"]  # (1, 96, 8, 8)
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

LOG = logging.getLogger(__name__)


class RuntimeUnavailable(RuntimeError):
    """onnxruntime is not installed (``pip install onnxruntime``; see requirements/)."""


def available() -> bool:
    """Return whether onnxruntime can be imported (without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def frame_threads() -> int:
    """Return the frame path's thread count: torch's, which the process set once."""
    import torch

    return max(1, int(torch.get_num_threads()))


def set_frame_threads(threads: int) -> None:
    """Set torch's and OpenCV's thread counts to ``threads``; later sessions follow them.

    torch runs the fc head and the online updates, OpenCV the crops and resizes of the Siamese
    parts, onnxruntime the backbones: one number for all three keeps them from oversubscribing
    the cores (docs/tracker.md, "Inference runtime").
    """
    import cv2
    import torch

    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeUnavailable(
            "onnxruntime is not installed: pip install onnxruntime (pinned in "
            "requirements/project.txt), or use runtime='torch'"
        ) from exc
    return onnxruntime


def with_free_spatial_dims(model: str | Path | bytes) -> bytes:
    """Return ``model`` serialised with the inputs' and outputs' dims 2, 3, ... made free.

    Intermediate shape annotations are dropped too (onnxruntime infers them again), so a graph
    exported for one input size runs at another when its ops allow it.
    """
    import onnx

    proto = onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(str(model))
    for value in [*proto.graph.input, *proto.graph.output]:
        for k, dim in enumerate(value.type.tensor_type.shape.dim):
            if k >= 2:
                dim.ClearField("dim_value")
                dim.dim_param = f"{value.name}_dim{k}"
    del proto.graph.value_info[:]
    return proto.SerializeToString()


def create_session(model: str | Path | bytes, threads: int | None = None,
                   spinning: bool = False, free_spatial_dims: bool = False) -> Any:
    """Return an onnxruntime CPU session for ``model`` (a path or serialised bytes)."""
    ort = _ort()
    name = "<bytes>" if isinstance(model, bytes) else str(model)
    if free_spatial_dims:
        try:
            model = with_free_spatial_dims(model)
        except Exception as exc:  # onnx raises its own types (DecodeError, ...)
            raise ValueError(f"cannot read ONNX model {name}: {exc}") from exc
    n = frame_threads() if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = n
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # errors only: its warnings about unused initialisers are noise
    spin = "1" if spinning else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    so.add_session_config_entry("session.inter_op.allow_spinning", spin)
    source = model if isinstance(model, bytes) else str(model)
    try:
        session = ort.InferenceSession(source, so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ValueError(f"onnxruntime cannot load {name}: {exc}") from exc
    LOG.debug("onnxruntime session for %s: %d thread(s), spinning %s", name, n, spin)
    return session


def run_options(release_memory: bool = False) -> Any:
    """Return ``RunOptions`` for ``session.run``; see the module's API notes."""
    options = _ort().RunOptions()
    if release_memory:
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def run(session: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run ``session`` on ``feeds`` and return every output by name."""
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))
