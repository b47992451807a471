# Copyright 2026 The rtmdnet_ros Authors
# SPDX-License-Identifier: Apache-2.0
"""The per-frame backbone pass through onnxruntime on the CPU.

Why: the backbone is the largest single cost of a frame on the CPU, and onnxruntime runs our
EfficientNet-Lite0 cut markedly faster than PyTorch eager on the same cores, and degrades far
less when other processes load them (docs/tracker.md, "Inference runtime"). PyTorch stays the
reference, the training path, the online head and the CUDA path: only ``RTMDNet.feature_map``
of a frozen, eval-mode network on the CPU is replaced, by a graph exported from that very module.

The graph: float32 RGB 0..255 crops (N, 3, H, W) in, the map out as (N, H', W', C) (channel-last,
so the RoI gather reads it without a copy, as it reads PyTorch's channels_last map); N, H and W
free, so every crop size and the first frame's batches run in one session. Normalisation is
inside the graph.

Where the graph comes from, by the backbone's :func:`fingerprint` (architecture + weights):

1. shipped: ``rtmdnet_ros/models/backbone-<fingerprint>.onnx``, exported at build time for the
   packaged model (``python -m rtmdnet_ros.backbone_runtime --ship``; a test fails when
   ``default.pt`` changes without it). Loading it is quick.
2. cached: the same name under ``$RTMDNET_CACHE_DIR`` (default ``~/.cache/rtmdnet_ros``, or
   ``$XDG_CACHE_HOME/rtmdnet_ros``), for any other network (a model you trained, ``untrained``).
3. else exported now with ``torch.onnx.export(dynamo=True)`` (needs ``onnxscript``; seconds,
   once per network and machine) and written to the cache. The legacy TorchScript
   exporter cannot export ``SameConv2d``'s weight padding, hence dynamo.

The choice between runtimes is made in one place, :func:`choose_runtime`, from the tracker
option ``runtime`` ("auto" | "torch" | "onnxruntime") and the device.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import onnx_runtime
from .options import RUNTIMES, check_choice
from .packaged_models import BACKBONE_GRAPH_DIR, DEFAULT_MODEL

LOG = logging.getLogger(__name__)

# Bumped whenever the exported wrapper (inputs, outputs, layout) changes: part of the fingerprint,
# so a graph of an older layout is never picked up.
EXPORT_FORMAT = 1
INPUT_NAME = "image"
OUTPUT_NAME = "fmap_nhwc"
CACHE_ENV = "RTMDNET_CACHE_DIR"
# Export-time bounds of the free dimensions (torch.export needs finite ranges): batches of the
# first frame's augmentation (25 crops) and jitter crops, crop sides from tiny targets' 32 px up
# to recovery tiles (recovery_max_crop 800 px, more for elongated scenes).
MAX_BATCH = 1024
MIN_SIDE = 32
MAX_SIDE = 8192


def choose_runtime(requested: str, device: torch.device) -> str:
    """Return "torch" or "onnxruntime" for the backbone: the one rule.

    "torch": always PyTorch. "onnxruntime": onnxruntime on the CPU; refused (ValueError) on
    another device or without onnxruntime, never silently replaced. "auto": onnxruntime when the
    device is the CPU and onnxruntime is installed, else PyTorch (CUDA keeps PyTorch's kernels).
    """
    check_choice("runtime", requested, RUNTIMES)
    if requested == "torch":
        return "torch"
    on_cpu = torch.device(device).type == "cpu"
    if requested == "onnxruntime":
        if not on_cpu:
            raise ValueError(f"runtime=onnxruntime runs on the CPU only, the device is {device}: "
                             "use runtime=auto or torch")
        if not onnx_runtime.available():
            raise ValueError("runtime=onnxruntime but onnxruntime is not installed "
                             "(pip install onnxruntime; requirements/project.txt)")
        return "onnxruntime"
    if on_cpu and not onnx_runtime.available():
        LOG.warning("runtime=auto: onnxruntime not installed, the backbone runs in PyTorch "
                    "(slower on the CPU; pip install onnxruntime)")
        return "torch"
    return "onnxruntime" if on_cpu else "torch"


def fingerprint(net: Any) -> str:
    """Hex SHA-256 of what the exported graph depends on: architecture and backbone weights."""
    h = hashlib.sha256()
    backbone = net.backbone
    arch = (EXPORT_FORMAT, type(backbone).__name__, getattr(net, "cut", None),
            bool(getattr(net, "dense", True)))
    h.update(repr(arch).encode())
    for name, value in sorted(backbone.state_dict().items()):
        t = value.detach().to("cpu").contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def graph_name(fp: str) -> str:
    """File name of the graph for a fingerprint (shipped and cached alike)."""
    return f"backbone-{fp[:24]}.onnx"


def cache_dir() -> Path:
    """``$RTMDNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/rtmdnet_ros``, else ``~/.cache/...``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rtmdnet_ros"


def find_graph(fp: str) -> Path | None:
    """Return the shipped or cached graph for ``fp``, or None."""
    for folder in (BACKBONE_GRAPH_DIR, cache_dir()):
        path = folder / graph_name(fp)
        if path.is_file():
            return path
    return None


class _FeatureMapGraph(nn.Module):
    """What is exported: normalise, backbone, map to channel-last (the RoI gather's layout)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB 0..255 -> (N, H', W', C)."""
        return self.backbone(self.backbone.normalize(image)).permute(0, 2, 3, 1)


def export_graph(net: Any) -> bytes:
    """Export ``net``'s feature map (CPU, eval mode) to ONNX bytes, with free N, H and W.

    The exporter's progress lines and warnings go to the debug log, not to stdout.
    """
    if next(net.backbone.parameters()).device.type != "cpu":
        raise ValueError("export the backbone from a CPU network")
    wrapper = _FeatureMapGraph(net.backbone).eval()
    # Batch 2 and unequal sides: an example size of 1, or H == W, would be specialised on.
    example = torch.zeros(2, 3, 264, 280)
    dims = {INPUT_NAME: {
        0: torch.export.Dim("batch", min=1, max=MAX_BATCH),
        2: torch.export.Dim("height", min=MIN_SIDE, max=MAX_SIDE),
        3: torch.export.Dim("width", min=MIN_SIDE, max=MAX_SIDE),
    }}
    out = io.StringIO()
    start = time.perf_counter()
    # The exporter and its optimiser log progress and every folded constant at INFO/WARNING.
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript",
                                                  "onnx_ir", "torch._dynamo")]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(logging.ERROR)
    try:
        with (warnings.catch_warnings(), contextlib.redirect_stdout(out),
              torch.random.fork_rng(devices=[]), torch.no_grad()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                wrapper, (example,), dynamo=True, dynamic_shapes=dims, verbose=False,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            )
    except ImportError as exc:
        raise onnx_runtime.RuntimeUnavailable(
            f"exporting the backbone needs onnxscript and onnx ({exc})") from exc
    finally:
        for log, old in zip(quiet, levels, strict=True):
            log.setLevel(old)
    LOG.debug("exporter output: %s", out.getvalue().strip())
    data = program.model_proto.SerializeToString()
    LOG.info("backbone exported to ONNX in %.1f s (%d kB)", time.perf_counter() - start,
             len(data) // 1024)
    return data


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, so readers never see half a graph."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide a shipped file from other users
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def graph_for(net: Any) -> Path | bytes:
    """Return the graph for ``net``: shipped or cached file, else exported now (and cached)."""
    fp = fingerprint(net)
    found = find_graph(fp)
    if found is not None:
        LOG.debug("backbone graph %s", found)
        return found
    LOG.info("no ONNX graph for this backbone yet (fingerprint %s): exporting it once, "
             "cached in %s", fp[:12], cache_dir())
    data = export_graph(net)
    try:
        write_atomically(cache_dir() / graph_name(fp), data)
    except OSError as exc:  # a read-only home still tracks, it only re-exports next time
        LOG.warning("cannot cache the exported backbone in %s: %s", cache_dir(), exc)
    return data


class OnnxFeatureMap:
    """``RTMDNet.feature_map`` of one frozen network, run by onnxruntime on the CPU.

    Holds its session; the network's backbone must not change afterwards (the tracker never
    trains it: only fc4-fc6 learn online). Not thread-safe for concurrent calls.
    """

    def __init__(self, net: Any, threads: int | None = None,
                 release_memory: bool = False) -> None:
        """Find or export the graph for ``net`` and open a session with the frame threads.

        ``release_memory``: give the runtime's working memory back after every pass
        (``ExecutionOptions.release_backbone_memory``).
        """
        source = graph_for(net)
        self.source = source if isinstance(source, Path) else None
        self.session = onnx_runtime.create_session(source, threads=threads)
        self._run_options = onnx_runtime.run_options(release_memory)

    def __call__(self, images: np.ndarray) -> torch.Tensor:
        """(N, 3, H, W) float32 RGB 0..255 -> (N, C, H', W') map, channel-last in memory."""
        x = np.ascontiguousarray(images, dtype=np.float32)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected (B, 3, H, W) RGB images, got {tuple(x.shape)}")
        (nhwc,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x}, self._run_options)
        return torch.from_numpy(nhwc).permute(0, 3, 1, 2)


def ship_packaged(model_path: Path | None = None) -> Path:
    """Export the packaged model's backbone next to it (build time); return the file written.

    Older shipped graphs are removed: only the one matching ``default.pt`` stays.
    """
    from . import model_file as mf

    path = Path(model_path) if model_path is not None else DEFAULT_MODEL
    net = mf.build_network(mf.load_model(path, torch.device("cpu")), torch.device("cpu")).eval()
    target = BACKBONE_GRAPH_DIR / graph_name(fingerprint(net))
    for old in BACKBONE_GRAPH_DIR.glob("backbone-*.onnx"):
        if old != target:
            old.unlink()
    write_atomically(target, export_graph(net))
    return target


def main(argv: list[str] | None = None) -> None:
    """``python -m rtmdnet_ros.backbone_runtime --ship``: export the packaged model's graph."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ship", action="store_true",
                        help="export rtmdnet_ros/models/default.pt's backbone into "
                        "rtmdnet_ros/models/ (after the packaged model changes)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.ship:
        parser.error("nothing to do: pass --ship")
    LOG.info("wrote %s", ship_packaged())


if __name__ == "__main__":
    main()
